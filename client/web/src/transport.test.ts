import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ConnectOutcome, MediaClient } from '../../media/client.ts';
import type { MediaHandler } from '../../../services/generated/darktower/mc/v1/signaling.ts';
import type { ControllerInfo } from './api.ts';
import { Deframer, frame, MAX_MESSAGE_BYTES } from './framing.ts';
import { FallbackMedia, type MediaConnector } from './media-transport.ts';
import { FallbackSignaling, type SignalingTransport } from './signaling.ts';
import { hashFromHex } from './webtransport.ts';

describe('stream framing', () => {
  it('gives back every message, in order, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }),
        (messages, cuts) => {
          const bytes = Uint8Array.from(messages.flatMap((m) => [...frame(m)]));
          const deframer = new Deframer();
          const out: Uint8Array[] = [];
          let offset = 0;
          for (let i = 0; offset < bytes.length; i++) {
            const size = cuts[i % cuts.length] as number;
            out.push(...(deframer.push(bytes.subarray(offset, offset + size)) ?? []));
            offset += size;
          }
          expect(out.map((m) => [...m])).toEqual(messages.map((m) => [...m]));
        },
      ),
    );
  });

  it('refuses a declared length over 64 KiB, and stays failed', () => {
    const deframer = new Deframer();
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, MAX_MESSAGE_BYTES + 1);
    expect(deframer.push(header)).toBeUndefined();
    expect(deframer.push(frame(Uint8Array.of(1)))).toBeUndefined();
    expect(new Deframer().push(frame(new Uint8Array(MAX_MESSAGE_BYTES)))?.[0]?.length).toBe(
      MAX_MESSAGE_BYTES,
    );
  });
});

describe('certificate hashes from GC', () => {
  it('reads 64 hex digits and refuses anything else', () => {
    expect([...(hashFromHex('ab'.repeat(32)) ?? [])]).toEqual(new Array(32).fill(0xab));
    expect(hashFromHex('ab'.repeat(31))).toBeUndefined();
    expect(hashFromHex('zz'.repeat(32))).toBeUndefined();
    expect(hashFromHex('')).toBeUndefined();
  });
});

const controller: ControllerInfo = { id: 'mc-1', url: 'ws://mc/v1/signaling', webTransport: [] };
const fakeSignaling = (transport: 'webtransport' | 'websocket'): SignalingTransport => ({
  transport,
  send: () => undefined,
  close: () => undefined,
  onMessage: null,
  onClose: null,
});

describe('signaling fallback', () => {
  it('uses WebTransport when it opens', async () => {
    const tried: string[] = [];
    const fallback = new FallbackSignaling(undefined, {
      webtransport: async () => (tried.push('webtransport'), fakeSignaling('webtransport')),
      websocket: async () => (tried.push('websocket'), fakeSignaling('websocket')),
    });
    expect((await fallback.connect(controller)).transport).toBe('webtransport');
    expect({ tried, inUse: fallback.inUse }).toEqual({
      tried: ['webtransport'],
      inUse: 'webtransport',
    });
  });

  it('falls back to the WebSocket when WebTransport fails, and says why', async () => {
    const fallback = new FallbackSignaling(undefined, {
      webtransport: () => Promise.reject(new Error('no endpoint')),
      websocket: async () => fakeSignaling('websocket'),
    });
    expect((await fallback.connect(controller)).transport).toBe('websocket');
    expect(fallback.inUse).toBe('websocket');
    expect(fallback.failures).toEqual(['webtransport: no endpoint']);
  });

  it('fails with the last error when nothing opens', async () => {
    const fallback = new FallbackSignaling(undefined, {
      webtransport: () => Promise.reject(new Error('a')),
      websocket: () => Promise.reject(new Error('b')),
    });
    await expect(fallback.connect(controller)).rejects.toThrow('b');
    expect(fallback.inUse).toBeUndefined();
  });
});

const handler = { id: 'mh-1' } as MediaHandler;
const media = (name: string, outcome: ConnectOutcome | Error, tried: string[]): MediaConnector => ({
  name,
  connect: async () => {
    tried.push(name);
    if (outcome instanceof Error) throw outcome;
    return {
      client: outcome.kind === 'accepted' ? ({} as MediaClient) : undefined,
      outcome,
    };
  },
});
const accepted: ConnectOutcome = {
  kind: 'accepted',
  meeting: 'm',
  participant: 'p',
  reconnect: false,
};

describe('media fallback', () => {
  it('keeps the first carrier that connects', async () => {
    const tried: string[] = [];
    const fallback = new FallbackMedia(undefined, {
      webtransport: media('webtransport', accepted, tried),
      websocket: media('websocket', accepted, tried),
    });
    expect((await fallback.connect(handler, 't')).outcome.kind).toBe('accepted');
    expect({ tried, inUse: fallback.inUse }).toEqual({
      tried: ['webtransport'],
      inUse: 'webtransport',
    });
  });

  it('falls back when WebTransport does not open or closes before the answer', async () => {
    for (const failure of [
      new Error('not ready'),
      { kind: 'closed', code: 0, reason: 'timeout' } as const,
    ]) {
      const tried: string[] = [];
      const fallback = new FallbackMedia(undefined, {
        webtransport: media('webtransport', failure, tried),
        websocket: media('websocket', accepted, tried),
      });
      expect((await fallback.connect(handler, 't')).outcome.kind).toBe('accepted');
      expect({ tried, inUse: fallback.inUse }).toEqual({
        tried: ['webtransport', 'websocket'],
        inUse: 'websocket',
      });
    }
  });

  it('takes the handler’s refusal or redirect as final, whatever carried it', async () => {
    for (const answer of [
      { kind: 'rejected', reason: 'capacity', retryAfterMs: 100 } as const,
      { kind: 'redirected', handler: 'mh-2', address: 'x' } as const,
    ]) {
      const tried: string[] = [];
      const fallback = new FallbackMedia(undefined, {
        webtransport: media('webtransport', answer, tried),
        websocket: media('websocket', accepted, tried),
      });
      expect((await fallback.connect(handler, 't')).outcome).toEqual(answer);
      expect(tried).toEqual(['webtransport']);
      expect(fallback.inUse).toBeUndefined();
    }
  });

  it('keeps to one carrier when told (?transport=websocket)', async () => {
    const tried: string[] = [];
    const fallback = new FallbackMedia(['websocket'], {
      webtransport: media('webtransport', accepted, tried),
      websocket: media('websocket', accepted, tried),
    });
    await fallback.connect(handler, 't');
    expect(tried).toEqual(['websocket']);
  });
});
