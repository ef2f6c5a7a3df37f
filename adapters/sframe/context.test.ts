import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.ts';
import { MAX_SFRAME_VALUE, parseSFrameHeader } from '../../core/protocol/sframe.ts';
import {
  SFRAME_AES_128_CTR_HMAC_SHA256_32,
  SFRAME_AES_128_GCM_SHA256_128,
  SFRAME_CIPHER_SUITES,
  sframeCipherSuite,
} from '../../core/protocol/sframe-crypto.ts';
import { SFrameContext } from './context.ts';

const SUITES = [...SFRAME_CIPHER_SUITES.keys()];
const baseKey = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const text = (s: string) => new TextEncoder().encode(s);

/** A sender and a receiver sharing `key` under `kid`. */
function pair(cipherSuite: number, kid: bigint, key = baseKey, replayWindow?: number | false) {
  const sender = unwrap(SFrameContext.create({ cipherSuite }));
  const receiver = unwrap(
    SFrameContext.create(
      replayWindow === undefined ? { cipherSuite } : { cipherSuite, replayWindow },
    ),
  );
  unwrap(sender.addSendKey(kid, key));
  unwrap(receiver.addReceiveKey(kid, key));
  return { sender, receiver };
}

describe('SFrameContext round trip', () => {
  it('decrypts what it encrypts, for every suite, KID, key, plaintext and metadata', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...SUITES),
        fc.bigInt({ min: 0n, max: MAX_SFRAME_VALUE }),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 20 }),
        async (suite, kid, key, plaintext, metadata) => {
          const { sender, receiver } = pair(suite, kid, key);
          const frame = unwrap(await sender.encrypt(kid, plaintext, { metadata }));
          const overhead = frame.length - plaintext.length;
          const header = unwrap(parseSFrameHeader(frame));
          expect(overhead).toBe(header.headerLength + unwrap(sframeCipherSuite(suite)).nt);
          const decrypted = unwrap(await receiver.decrypt(frame, metadata));
          expect(decrypted).toEqual({ kid, ctr: 0n, plaintext });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('numbers frames 0, 1, 2, ... and each decrypts with its own CTR', async () => {
    const { sender, receiver } = pair(SFRAME_AES_128_GCM_SHA256_128, 3n);
    const frames = [];
    for (let i = 0; i < 10; i++) frames.push(unwrap(await sender.encrypt(3n, text(`frame ${i}`))));
    for (const [i, frame] of frames.entries()) {
      expect(unwrap(parseSFrameHeader(frame)).header).toEqual({ kid: 3n, ctr: BigInt(i) });
    }
    // Out of order is fine within the replay window.
    for (const i of [9, 0, 5, 1, 8, 2, 7, 3, 6, 4]) {
      const decrypted = unwrap(await receiver.decrypt(frames[i]!));
      expect(new TextDecoder().decode(decrypted.plaintext)).toBe(`frame ${i}`);
    }
  });

  it('gives concurrent encryptions distinct CTRs', async () => {
    const { sender } = pair(SFRAME_AES_128_CTR_HMAC_SHA256_32, 9n);
    const frames = await Promise.all(
      Array.from({ length: 50 }, () => sender.encrypt(9n, text('x'))),
    );
    const ctrs = frames.map((f) => unwrap(parseSFrameHeader(unwrap(f))).header.ctr);
    expect(new Set(ctrs).size).toBe(50);
  });

  it('copies the base key: the caller erasing its own changes nothing', async () => {
    const key = Uint8Array.from(baseKey);
    const { sender } = pair(SFRAME_AES_128_GCM_SHA256_128, 1n, key);
    key.fill(0);
    const receiver = unwrap(SFrameContext.create({ cipherSuite: SFRAME_AES_128_GCM_SHA256_128 }));
    unwrap(receiver.addReceiveKey(1n, baseKey));
    const frame = unwrap(await sender.encrypt(1n, text('hello')));
    expect(unwrap(await receiver.decrypt(frame)).plaintext).toEqual(text('hello'));
  });
});

describe('SFrameContext rejects', () => {
  it('any single changed byte of a frame (header, ciphertext or tag), for every suite', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...SUITES),
        fc.uint8Array({ minLength: 0, maxLength: 100 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (suite, plaintext, position, change) => {
          const kid = 0x123n;
          const { sender, receiver } = pair(suite, kid, baseKey, false);
          const frame = unwrap(await sender.encrypt(kid, plaintext, { ctr: 0x4567n }));
          const changed = Uint8Array.from(frame);
          const index = position % frame.length;
          changed[index] = (changed[index] ?? 0) ^ change;
          const result = await receiver.decrypt(changed);
          expect(result.ok).toBe(false);
          // And the untouched frame still decrypts: nothing was lost.
          expect(unwrap(await receiver.decrypt(frame)).plaintext).toEqual(plaintext);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a changed CTR in the header as an authentication failure', async () => {
    const { sender, receiver } = pair(SFRAME_AES_128_GCM_SHA256_128, 2n);
    const frame = unwrap(await sender.encrypt(2n, text('media'), { ctr: 5n }));
    const changed = Uint8Array.from(frame);
    changed[0] = 0x26; // KID 2, CTR 6
    expect(await receiver.decrypt(changed)).toEqual({
      ok: false,
      error: { kind: 'authentication-failed', kid: 2n, ctr: 6n },
    });
  });

  it('a frame whose KID it holds no key for', async () => {
    const { sender, receiver } = pair(SFRAME_AES_128_GCM_SHA256_128, 2n);
    unwrap(sender.addSendKey(4n, baseKey));
    const frame = unwrap(await sender.encrypt(4n, text('media')));
    expect(await receiver.decrypt(frame)).toEqual({
      ok: false,
      error: { kind: 'unknown-kid', kid: 4n },
    });
  });

  it('a frame moved to another KID, even under the same base key', async () => {
    // The KID goes into the key derivation: each KID has its own key and salt.
    const { sender, receiver } = pair(SFRAME_AES_128_GCM_SHA256_128, 2n);
    unwrap(receiver.addReceiveKey(3n, baseKey));
    const frame = unwrap(await sender.encrypt(2n, text('media')));
    const moved = Uint8Array.from(frame);
    moved[0] = 0x30; // KID 3, CTR 0
    expect(await receiver.decrypt(moved)).toEqual({
      ok: false,
      error: { kind: 'authentication-failed', kid: 3n, ctr: 0n },
    });
  });

  it('a frame under the right KID but another base key', async () => {
    const { sender } = pair(SFRAME_AES_128_GCM_SHA256_128, 2n);
    const receiver = unwrap(SFrameContext.create({ cipherSuite: SFRAME_AES_128_GCM_SHA256_128 }));
    unwrap(receiver.addReceiveKey(2n, new Uint8Array(16).fill(1)));
    const frame = unwrap(await sender.encrypt(2n, text('media')));
    expect((await receiver.decrypt(frame)).ok).toBe(false);
  });

  it('a frame from another suite', async () => {
    const { sender } = pair(SFRAME_AES_128_GCM_SHA256_128, 2n);
    const receiver = unwrap(SFrameContext.create({ cipherSuite: 0x0005 }));
    unwrap(receiver.addReceiveKey(2n, baseKey));
    const frame = unwrap(await sender.encrypt(2n, text('media')));
    expect((await receiver.decrypt(frame)).ok).toBe(false);
  });

  it('a replayed frame, unless the replay window is off', async () => {
    const { sender, receiver } = pair(SFRAME_AES_128_GCM_SHA256_128, 2n);
    const frame = unwrap(await sender.encrypt(2n, text('media')));
    unwrap(await receiver.decrypt(frame));
    expect(await receiver.decrypt(frame)).toEqual({
      ok: false,
      error: { kind: 'replayed', ctr: 0n, kid: 2n },
    });
    const open = pair(SFRAME_AES_128_GCM_SHA256_128, 2n, baseKey, false);
    const again = unwrap(await open.sender.encrypt(2n, text('media')));
    unwrap(await open.receiver.decrypt(again));
    unwrap(await open.receiver.decrypt(again));
  });

  it('a forged frame without moving the replay window', async () => {
    const { sender, receiver } = pair(SFRAME_AES_128_GCM_SHA256_128, 2n);
    const frame = unwrap(await sender.encrypt(2n, text('media')));
    const forged = Uint8Array.from(frame);
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
    expect((await receiver.decrypt(forged)).ok).toBe(false);
    expect(unwrap(await receiver.decrypt(frame)).plaintext).toEqual(text('media'));
  });

  it('malformed headers and frames too short for a tag, without throwing', async () => {
    const { receiver } = pair(SFRAME_AES_128_GCM_SHA256_128, 2n);
    expect(await receiver.decrypt(new Uint8Array(0))).toEqual({
      ok: false,
      error: { kind: 'malformed-header', cause: { kind: 'truncated', length: 0, minimum: 1 } },
    });
    expect(await receiver.decrypt(Uint8Array.of(0x80, 0x05))).toEqual({
      ok: false,
      error: { kind: 'malformed-header', cause: { kind: 'non-minimal-encoding', field: 'kid' } },
    });
    expect(await receiver.decrypt(Uint8Array.of(0x20, 1, 2, 3))).toEqual({
      ok: false,
      error: { kind: 'authentication-failed', kid: 2n, ctr: 0n },
    });
  });

  it('arbitrary bytes with a typed error, never an exception', async () => {
    const receivers = SUITES.map((suite) => pair(suite, 1n, baseKey).receiver);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 60 }), async (bytes) => {
        for (const receiver of receivers) {
          const result = await receiver.decrypt(bytes);
          expect(result.ok).toBe(false);
          if (!result.ok) expect(typeof result.error.kind).toBe('string');
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('SFrameContext keys and counters', () => {
  it('keeps a KID for sending or for receiving, never both', async () => {
    const context = unwrap(SFrameContext.create({ cipherSuite: SFRAME_AES_128_GCM_SHA256_128 }));
    unwrap(context.addSendKey(1n, baseKey));
    expect(context.addReceiveKey(1n, baseKey)).toEqual({
      ok: false,
      error: { kind: 'kid-in-use', kid: 1n, usage: 'send' },
    });
    expect(context.addSendKey(1n, baseKey).ok).toBe(false);
    const frame = unwrap(await context.encrypt(1n, text('own')));
    expect(await context.decrypt(frame)).toEqual({
      ok: false,
      error: { kind: 'unknown-kid', kid: 1n },
    });
    unwrap(context.addReceiveKey(2n, baseKey));
    expect(await context.encrypt(2n, text('x'))).toEqual({
      ok: false,
      error: { kind: 'unknown-kid', kid: 2n },
    });
    expect([context.keyUsage(1n), context.keyUsage(2n), context.keyUsage(3n)]).toEqual([
      'send',
      'receive',
      undefined,
    ]);
  });

  it('refuses to encrypt twice with one CTR', async () => {
    const { sender } = pair(SFRAME_AES_128_GCM_SHA256_128, 1n);
    unwrap(await sender.encrypt(1n, text('a'), { ctr: 7n }));
    expect(await sender.encrypt(1n, text('b'), { ctr: 7n })).toEqual({
      ok: false,
      error: { kind: 'counter-reused', ctr: 7n, next: 8n },
    });
    expect((await sender.encrypt(1n, text('c'), { ctr: 2n })).ok).toBe(false);
    const next = unwrap(await sender.encrypt(1n, text('d')));
    expect(unwrap(parseSFrameHeader(next)).header.ctr).toBe(8n);
  });

  it('reports the next CTR, and continues a restored counter', async () => {
    const sender = unwrap(SFrameContext.create({ cipherSuite: SFRAME_AES_128_GCM_SHA256_128 }));
    unwrap(sender.addSendKey(1n, baseKey, { nextCtr: 1000n }));
    unwrap(sender.addReceiveKey(2n, baseKey));
    expect(sender.nextCtr(1n)).toBe(1000n);
    const frame = unwrap(await sender.encrypt(1n, text('a')));
    expect(unwrap(parseSFrameHeader(frame)).header.ctr).toBe(1000n);
    expect([sender.nextCtr(1n), sender.nextCtr(2n), sender.nextCtr(3n)]).toEqual([
      1001n,
      undefined,
      undefined,
    ]);
  });

  it('forgets a removed key', async () => {
    const { sender, receiver } = pair(SFRAME_AES_128_GCM_SHA256_128, 1n);
    const frame = unwrap(await sender.encrypt(1n, text('a')));
    expect(receiver.removeKey(1n)).toBe(true);
    expect(receiver.removeKey(1n)).toBe(false);
    expect((await receiver.decrypt(frame)).ok).toBe(false);
    expect(sender.removeKey(1n)).toBe(true);
    expect((await sender.encrypt(1n, text('b'))).ok).toBe(false);
  });

  it.each([
    ['a KID above 2^64-1', MAX_SFRAME_VALUE + 1n, baseKey, 'kid-out-of-range'],
    ['a negative KID', -1n, baseKey, 'kid-out-of-range'],
    ['an empty base key', 1n, new Uint8Array(0), 'empty-base-key'],
  ])('refuses %s', (_, kid, key, kind) => {
    const context = unwrap(SFrameContext.create({ cipherSuite: SFRAME_AES_128_GCM_SHA256_128 }));
    const result = context.addReceiveKey(kid, key);
    expect(result.ok ? undefined : result.error.kind).toBe(kind);
  });

  it('refuses unknown suites and bad replay windows', () => {
    expect(SFrameContext.create({ cipherSuite: 0 })).toEqual({
      ok: false,
      error: { kind: 'unknown-cipher-suite', id: 0 },
    });
    expect(SFrameContext.create({ cipherSuite: 4, replayWindow: 0 })).toEqual({
      ok: false,
      error: { kind: 'invalid-replay-window', size: 0 },
    });
  });

  it('reports a key WebCrypto could not import as unavailable, without throwing', async () => {
    const failing = {
      ...globalThis.crypto.subtle,
      importKey: () => Promise.reject(new Error('no crypto here')),
    } as unknown as typeof globalThis.crypto.subtle;
    const context = unwrap(
      SFrameContext.create({ cipherSuite: SFRAME_AES_128_GCM_SHA256_128, subtle: failing }),
    );
    unwrap(context.addSendKey(1n, baseKey));
    unwrap(context.addReceiveKey(2n, baseKey));
    expect(await context.encrypt(1n, text('a'))).toEqual({
      ok: false,
      error: { kind: 'key-unavailable', kid: 1n },
    });
    expect(await context.decrypt(Uint8Array.of(0x20, 1, 2, 3))).toEqual({
      ok: false,
      error: { kind: 'key-unavailable', kid: 2n },
    });
  });
});
