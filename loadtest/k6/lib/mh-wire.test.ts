// The k6 scripts' hand-written wire code against the project's codecs (properties with
// fast-check where the input space is large).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDatagram } from '../../../core/protocol/datagram.ts';
import { parseSFrameHeader, serializeSFrameHeader } from '../../../core/protocol/sframe.ts';
import { helloMessage } from '../../../client/media/index.ts';
import { HandlerControl } from '../../../services/generated/darktower/mh/v1/control.ts';
import { headerTemplate } from '../templates.ts';
import {
  controlKind,
  helloBytes,
  mediaDatagram,
  readHeader,
  SequenceTracker,
  sframeHeader,
  templateBytes,
  utf8,
} from './mh-wire.ts';

describe('k6 media wire', () => {
  it('builds the same hello as the client library, for short and long tokens', () => {
    for (const token of ['a.b.c', 'x'.repeat(449), 'y'.repeat(70_000)]) {
      expect(Buffer.from(helloBytes(token)).toString('base64')).toBe(helloMessage(token));
    }
  });

  it('encodes UTF-8 as Node does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        expect(Buffer.from(utf8(text))).toEqual(Buffer.from(text, 'utf8'));
      }),
    );
  });

  it('writes the SFrame header core serialises, for any KID and CTR below 2^53', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.maxSafeNat(), (kid, ctr) => {
        const core = serializeSFrameHeader({ kid: BigInt(kid), ctr: BigInt(ctr) });
        expect(core.ok).toBe(true);
        if (core.ok) expect(Uint8Array.from(sframeHeader(kid, ctr))).toEqual(core.value);
      }),
    );
  });

  it('builds media datagrams the handler decodes: ids from the template, sequence, capture time, SFrame payload', () => {
    const template = headerTemplate('k6-m', 'p-1', 'camera');
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffff_ffff }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 20, max: 1_158 }),
        (sequence, captureTimeUs, length) => {
          const bytes = new Uint8Array(
            mediaDatagram(templateBytes(template.hex), sequence, captureTimeUs, length),
          );
          const decoded = decodeDatagram(bytes);
          expect(decoded.ok).toBe(true);
          if (!decoded.ok) return;
          expect(decoded.value.header).toMatchObject({
            streamId: template.streamId,
            publisherId: template.publisherId,
            sequence,
            frameId: sequence,
            fragmentIndex: 0,
            fragmentCount: 1,
            hopCount: 0,
            captureTimeUs,
          });
          expect(decoded.value.payload.length).toBe(length);
          const sframe = parseSFrameHeader(decoded.value.payload);
          expect(sframe.ok && sframe.value.header).toMatchObject({
            kid: 1n,
            ctr: BigInt(sequence),
          });
          // And the receiver's reading of it.
          expect(readHeader(bytes)).toEqual({
            stream: template.streamId.toString(16).padStart(16, '0'),
            sequence,
            captureTimeUs,
            hopCount: 0,
          });
        },
      ),
    );
  });

  it('refuses a template that is not 42 bytes of hex and a payload too short for SFrame', () => {
    expect(() => templateBytes('00')).toThrow(RangeError);
    expect(() => templateBytes('zz'.repeat(42))).toThrow(RangeError);
    const template = templateBytes(headerTemplate('m', 'p', 'camera').hex);
    expect(() => mediaDatagram(template, 300, 0, 3)).toThrow(RangeError);
    expect(readHeader(new Uint8Array(41))).toBeNull();
  });

  it('tells the handler control messages apart', () => {
    const encode = (message: Parameters<typeof HandlerControl.encode>[0]) =>
      HandlerControl.encode(message).finish();
    const long = 'p'.repeat(300); // an answer longer than 127 bytes: two-byte length
    expect(
      controlKind(
        encode({
          helloAnswer: { accepted: { participant: long, meeting: 'm', reconnect: false } },
        }),
      ),
    ).toBe('accepted');
    expect(
      controlKind(encode({ helloAnswer: { redirected: { handler: 'mh-2', address: '' } } })),
    ).toBe('redirected');
    expect(
      controlKind(encode({ helloAnswer: { rejected: { reason: 'expired', retryAfterMs: 0 } } })),
    ).toBe('rejected');
    expect(controlKind(encode({ sessionClosed: { reason: 'draining' } }))).toBe('session-closed');
    expect(controlKind(new Uint8Array([0xff]))).toBe('unknown');
  });
});

describe('k6 sequence tracker', () => {
  it('counts gaps and late datagrams across the 32-bit wrap', () => {
    const t = new SequenceTracker();
    expect([0xffff_fffe, 0xffff_ffff, 0, 3, 1, 4].map((s) => t.receive(s))).toEqual([
      0, 0, 0, 2, 0, 0,
    ]);
    expect({ received: t.received, skipped: t.skipped, late: t.late }).toEqual({
      received: 6,
      skipped: 2,
      late: 1,
    });
  });

  it('in order, any run of sequence numbers has no gap; with k removed, k skipped', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffff_ffff }),
        fc.integer({ min: 2, max: 200 }),
        fc.uniqueArray(fc.nat({ max: 198 }), { maxLength: 20 }),
        (start, length, holes) => {
          const kept = holes.filter((h) => h > 0 && h < length - 1);
          const t = new SequenceTracker();
          for (let i = 0; i < length; i++) {
            if (!kept.includes(i)) t.receive((start + i) >>> 0);
          }
          expect(t.skipped).toBe(kept.length);
          expect(t.late).toBe(0);
        },
      ),
    );
  });
});
