import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../result.ts';
import {
  CAPSULE,
  datagramPrefix,
  decodeCloseSession,
  decodeSettings,
  encodeCloseSession,
  encodeFrame,
  encodeSettings,
  encodeVarint,
  MAX_VARINT,
  readFrame,
  readHttpDatagram,
  readVarint,
  varintLength,
} from './h3.ts';

const varint = fc.oneof(
  fc.integer({ min: 0, max: 0x3f }),
  fc.integer({ min: 0x40, max: 0x3fff }),
  fc.integer({ min: 0x4000, max: 0x3fff_ffff }),
  fc.integer({ min: 0x4000_0000, max: MAX_VARINT }),
);

describe('varints (RFC 9000 section 16)', () => {
  it('round-trips every safe value in the shortest encoding', () => {
    fc.assert(
      fc.property(varint, (value) => {
        const bytes = encodeVarint(value);
        expect(bytes.length).toBe(varintLength(value));
        expect(unwrap(readVarint(bytes, 0))).toEqual({ value, next: bytes.length });
      }),
    );
  });

  it('matches the RFC 9000 appendix A.1 examples', () => {
    const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));
    // The 8-byte example (151,288,809,941,952,652) is above 2^53: refused, not rounded.
    expect(readVarint(hex('c2197c5eff14e88c'), 0)).toEqual({
      ok: false,
      error: { kind: 'varint-unsafe' },
    });
    expect(unwrap(readVarint(hex('9d7f3e7d'), 0))?.value).toBe(494_878_333);
    expect(unwrap(readVarint(hex('7bbd'), 0))?.value).toBe(15_293);
    expect(unwrap(readVarint(hex('25'), 0))?.value).toBe(37);
    expect(Buffer.from(encodeVarint(15_293)).toString('hex')).toBe('7bbd');
  });

  it('answers "need more" for every cut inside a varint', () => {
    fc.assert(
      fc.property(varint, (value) => {
        const bytes = encodeVarint(value);
        for (let cut = 0; cut < bytes.length; cut++) {
          expect(unwrap(readVarint(bytes.subarray(0, cut), 0))).toBeNull();
        }
      }),
    );
  });

  it('refuses a varint above 2^53 - 1 with a typed error', () => {
    const bytes = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(readVarint(bytes, 0)).toEqual({ ok: false, error: { kind: 'varint-unsafe' } });
  });
});

describe('frames and capsules', () => {
  it('round-trip, and any prefix of a frame is "need more"', () => {
    fc.assert(
      fc.property(varint, fc.uint8Array({ maxLength: 300 }), (type, payload) => {
        const bytes = encodeFrame(type, payload);
        const read = unwrap(readFrame(bytes, 0, 1024));
        expect(read?.value.type).toBe(type);
        expect([...(read?.value.payload ?? [])]).toEqual([...payload]);
        expect(read?.next).toBe(bytes.length);
        const cut = Math.floor(bytes.length / 2);
        expect(unwrap(readFrame(bytes.subarray(0, cut), 0, 1024))).toBeNull();
      }),
    );
  });

  it('reads frames back to back from one buffer', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(varint, fc.uint8Array({ maxLength: 40 })), { maxLength: 8 }),
        (frames) => {
          const bytes = Buffer.concat(frames.map(([type, payload]) => encodeFrame(type, payload)));
          let offset = 0;
          for (const [type, payload] of frames) {
            const read = unwrap(readFrame(bytes, offset, 64));
            expect(read?.value.type).toBe(type);
            expect(Buffer.from(read!.value.payload).equals(Buffer.from(payload))).toBe(true);
            offset = read!.next;
          }
          expect(offset).toBe(bytes.length);
        },
      ),
    );
  });

  it('refuses a frame declared past the limit before its payload arrives', () => {
    const header = Buffer.concat([encodeVarint(0x01), encodeVarint(70_000)]);
    expect(readFrame(header, 0, 65_536)).toEqual({
      ok: false,
      error: { kind: 'frame-too-large', type: 1, length: 70_000 },
    });
  });
});

describe('SETTINGS', () => {
  it('round-trips any set of distinct non-reserved ids', () => {
    const id = varint.filter((value) => value < 0x02 || value > 0x05);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(id, varint), { selector: ([key]) => key }), (pairs) => {
        const settings = new Map(pairs);
        expect(unwrap(decodeSettings(encodeSettings(settings)))).toEqual(settings);
      }),
    );
  });

  it('refuses duplicates, HTTP/2 ids and a pair cut short, with typed errors', () => {
    const dup = Buffer.concat([encodeVarint(8), encodeVarint(1), encodeVarint(8), encodeVarint(0)]);
    expect(decodeSettings(dup)).toEqual({
      ok: false,
      error: { kind: 'settings-duplicate', id: 8 },
    });
    expect(decodeSettings(Buffer.concat([encodeVarint(4), encodeVarint(1)]))).toEqual({
      ok: false,
      error: { kind: 'settings-reserved', id: 4 },
    });
    expect(decodeSettings(encodeVarint(0x33))).toEqual({
      ok: false,
      error: { kind: 'settings-truncated' },
    });
    expect(decodeSettings(Uint8Array.from([0x40]))).toEqual({
      ok: false,
      error: { kind: 'settings-truncated' },
    });
  });
});

describe('CLOSE_WEBTRANSPORT_SESSION', () => {
  it('round-trips a 32-bit code and a reason', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffff_ffff }),
        fc.uint8Array({ maxLength: 1024 }),
        (code, reason) => {
          const decoded = unwrap(decodeCloseSession(encodeCloseSession(code, reason)));
          expect(decoded.code).toBe(code);
          expect([...decoded.reason]).toEqual([...reason]);
        },
      ),
    );
  });

  it('cuts a long reason at 1,024 bytes and refuses a payload without its code', () => {
    expect(encodeCloseSession(1, new Uint8Array(2000)).length).toBe(4 + 1024);
    expect(decodeCloseSession(Uint8Array.from([0, 0, 1]))).toEqual({
      ok: false,
      error: { kind: 'close-capsule-malformed' },
    });
    expect(CAPSULE.closeWebTransportSession).toBe(0x2843);
  });
});

describe('HTTP datagrams', () => {
  it('carry the quarter stream id of the session', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 40 }),
        fc.uint8Array({ maxLength: 64 }),
        (quarter, payload) => {
          const session = quarter * 4;
          const bytes = Buffer.concat([datagramPrefix(session), payload]);
          const read = unwrap(readHttpDatagram(bytes));
          expect(read?.sessionId).toBe(session);
          expect([...(read?.payload ?? [])]).toEqual([...payload]);
        },
      ),
    );
  });

  it('an empty datagram has no session', () => {
    expect(unwrap(readHttpDatagram(new Uint8Array(0)))).toBeNull();
  });
});
