import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../result.ts';
import {
  DATAGRAM_HEADER_LENGTH,
  decodeDatagram,
  encodeDatagram,
  encodeHeaderInto,
  incrementHopCount,
  type DatagramHeader,
  type HopCount,
} from './datagram.ts';

const MAX_UINT64 = 2n ** 64n - 1n;

const headerArbitrary: fc.Arbitrary<DatagramHeader> = fc
  .record({
    keyframe: fc.boolean(),
    endOfFrame: fc.boolean(),
    discardable: fc.boolean(),
    hopCount: fc.constantFrom<HopCount>(0, 1, 2),
    spatialLayer: fc.integer({ min: 0, max: 15 }),
    temporalLayer: fc.integer({ min: 0, max: 15 }),
    streamId: fc.bigInt({ min: 0n, max: MAX_UINT64 }),
    publisherId: fc.bigInt({ min: 0n, max: MAX_UINT64 }),
    sequence: fc.integer({ min: 0, max: 0xffff_ffff }),
    frameId: fc.integer({ min: 0, max: 0xffff_ffff }),
    fragmentCount: fc.integer({ min: 1, max: 0xffff }),
    fragmentSeed: fc.nat(),
    captureTimeUs: fc.maxSafeNat(),
  })
  .map(({ fragmentSeed, ...rest }) => ({
    ...rest,
    fragmentIndex: fragmentSeed % rest.fragmentCount,
  }));

const payloadArbitrary = fc.uint8Array({ minLength: 1, maxLength: 64 });

const datagramArbitrary = fc
  .tuple(headerArbitrary, payloadArbitrary)
  .map(([header, payload]) => unwrap(encodeDatagram(header, payload)));

/** A valid datagram changed in one of the ways a network or an attacker could change it. */
const mutatedDatagramArbitrary = fc.oneof(
  fc
    .tuple(datagramArbitrary, fc.nat(), fc.integer({ min: 0, max: 255 }))
    .map(([bytes, position, value]) => {
      const copy = bytes.slice();
      copy[position % copy.length] = value;
      return copy;
    }),
  fc
    .tuple(datagramArbitrary, fc.nat(), fc.integer({ min: 0, max: 7 }))
    .map(([bytes, position, bit]) => {
      const copy = bytes.slice();
      const index = position % copy.length;
      copy[index] = (copy[index] ?? 0) ^ (1 << bit);
      return copy;
    }),
  fc.tuple(datagramArbitrary, fc.nat()).map(([bytes, cut]) => bytes.slice(0, cut % bytes.length)),
  fc
    .tuple(datagramArbitrary, fc.uint8Array({ minLength: 1, maxLength: 8 }))
    .map(([bytes, extra]) => Uint8Array.from([...bytes, ...extra])),
);

const sampleHeader: DatagramHeader = {
  keyframe: true,
  endOfFrame: false,
  discardable: true,
  hopCount: 1,
  spatialLayer: 2,
  temporalLayer: 3,
  streamId: 0x0102_0304_0506_0708n,
  publisherId: 0xf1f2_f3f4_f5f6_f7f8n,
  sequence: 0x1122_3344,
  frameId: 0x5566_7788,
  fragmentIndex: 0x0009,
  fragmentCount: 0x000a,
  captureTimeUs: 0x0001_0203_0405_0607,
};

function sampleDatagram(payloadLength = 5): Uint8Array {
  return unwrap(encodeDatagram(sampleHeader, new Uint8Array(payloadLength).fill(0xee)));
}

/** A valid sample datagram with `patch` applied to its bytes. */
function patched(patch: (bytes: Uint8Array, view: DataView) => void): Uint8Array {
  const bytes = sampleDatagram();
  patch(bytes, new DataView(bytes.buffer));
  return bytes;
}

describe('media datagram header layout', () => {
  it('places every field at its documented big-endian offset', () => {
    const bytes = sampleDatagram(5);
    expect(bytes.length).toBe(DATAGRAM_HEADER_LENGTH + 5);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([1, 0x80 | 0x20, 1, (2 << 4) | 3]);
    expect(Array.from(bytes.subarray(4, 12))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(bytes.subarray(12, 20))).toEqual([
      0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    ]);
    expect(Array.from(bytes.subarray(20, 28))).toEqual([
      0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
    ]);
    expect(Array.from(bytes.subarray(28, 32))).toEqual([0, 9, 0, 10]);
    expect(Array.from(bytes.subarray(32, 40))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(bytes.subarray(40, 42))).toEqual([0, 5]);
    expect(Array.from(bytes.subarray(42))).toEqual([0xee, 0xee, 0xee, 0xee, 0xee]);
  });

  it('decodes the header and returns the payload as a view into the datagram', () => {
    const bytes = sampleDatagram(3);
    const { header, payload } = unwrap(decodeDatagram(bytes));
    expect(header).toEqual(sampleHeader);
    bytes[DATAGRAM_HEADER_LENGTH] = 0x42;
    expect(payload[0]).toBe(0x42);
    expect(payload.length).toBe(3);
  });

  it('decodes a datagram that sits at an offset inside a larger buffer', () => {
    const datagram = sampleDatagram(4);
    const backing = new Uint8Array(datagram.length + 10);
    backing.set(datagram, 7);
    const view = backing.subarray(7, 7 + datagram.length);
    expect(unwrap(decodeDatagram(view)).header).toEqual(sampleHeader);
  });

  it('round-trips every valid header and payload', () => {
    fc.assert(
      fc.property(headerArbitrary, payloadArbitrary, (header, payload) => {
        const decoded = unwrap(decodeDatagram(unwrap(encodeDatagram(header, payload))));
        expect(decoded.header).toEqual(header);
        expect(decoded.payload).toEqual(payload);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('decoding malformed datagrams', () => {
  it.each([
    ['an empty buffer', new Uint8Array(0), { kind: 'truncated', length: 0, minimum: 42 }],
    ['41 bytes', sampleDatagram().slice(0, 41), { kind: 'truncated', length: 41, minimum: 42 }],
    ['version 0', patched((b) => (b[0] = 0)), { kind: 'unsupported-version', version: 0 }],
    ['version 2', patched((b) => (b[0] = 2)), { kind: 'unsupported-version', version: 2 }],
    ['reserved flag 0x01', patched((b) => (b[1] = 0x81)), { kind: 'reserved-flags', flags: 0x81 }],
    ['reserved flag 0x10', patched((b) => (b[1] = 0x10)), { kind: 'reserved-flags', flags: 0x10 }],
    ['hop count 3', patched((b) => (b[2] = 3)), { kind: 'hop-limit-exceeded', hopCount: 3 }],
    [
      'fragment index equal to count',
      patched((_, v) => v.setUint16(28, 10)),
      { kind: 'fragment-out-of-range', fragmentIndex: 10, fragmentCount: 10 },
    ],
    [
      'fragment count zero',
      patched((_, v) => (v.setUint16(28, 0), v.setUint16(30, 0))),
      { kind: 'fragment-out-of-range', fragmentIndex: 0, fragmentCount: 0 },
    ],
    [
      'capture time of 2^53 µs',
      patched((_, v) => v.setBigUint64(32, 2n ** 53n)),
      { kind: 'capture-time-out-of-range' },
    ],
    [
      'a payload length larger than the payload',
      patched((_, v) => v.setUint16(40, 6)),
      { kind: 'payload-length-mismatch', declared: 6, actual: 5 },
    ],
    [
      'a payload length smaller than the payload',
      patched((_, v) => v.setUint16(40, 4)),
      { kind: 'payload-length-mismatch', declared: 4, actual: 5 },
    ],
  ])('rejects %s', (_, bytes, expected) => {
    expect(decodeDatagram(bytes)).toEqual({ ok: false, error: expected });
  });

  it('rejects a header with no payload', () => {
    const bytes = sampleDatagram().slice(0, DATAGRAM_HEADER_LENGTH);
    new DataView(bytes.buffer).setUint16(40, 0);
    expect(decodeDatagram(bytes)).toEqual({ ok: false, error: { kind: 'empty-payload' } });
  });

  it('accepts the largest safe capture time', () => {
    const bytes = patched((_, v) => v.setBigUint64(32, BigInt(Number.MAX_SAFE_INTEGER)));
    expect(unwrap(decodeDatagram(bytes)).header.captureTimeUs).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('never throws on arbitrary bytes, and whatever it accepts re-encodes to the same bytes', () => {
    const almostHeaders = fc
      .tuple(fc.uint8Array({ minLength: 42, maxLength: 60 }), fc.boolean())
      .map(([bytes, fixVersion]) => {
        if (fixVersion) bytes[0] = 1;
        return bytes;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), almostHeaders), (bytes) => {
        assertCanonicalOrRejected(bytes);
      }),
      { numRuns: 20_000 },
    );
  });

  it('never throws on mutated valid datagrams, and whatever it accepts round-trips', () => {
    let accepted = 0;
    fc.assert(
      fc.property(mutatedDatagramArbitrary, (bytes) => {
        if (assertCanonicalOrRejected(bytes)) accepted++;
      }),
      { numRuns: 30_000 },
    );
    // Many mutations (a payload byte, an id byte) leave a valid datagram: that branch must run.
    expect(accepted).toBeGreaterThan(1_000);
  });
});

/**
 * Decoding either fails with a typed error or yields a datagram that encodes back to `bytes`.
 * Returns whether the bytes were accepted.
 */
function assertCanonicalOrRejected(bytes: Uint8Array): boolean {
  const decoded = decodeDatagram(bytes);
  if (!decoded.ok) {
    expect(typeof decoded.error.kind).toBe('string');
    return false;
  }
  const reencoded = unwrap(encodeDatagram(decoded.value.header, decoded.value.payload));
  expect(reencoded).toEqual(bytes);
  return true;
}

describe('encoding', () => {
  it.each<[string, Partial<Record<keyof DatagramHeader, unknown>>, unknown]>([
    ['spatial layer 16', { spatialLayer: 16 }, { field: 'spatialLayer', value: 16 }],
    ['temporal layer -1', { temporalLayer: -1 }, { field: 'temporalLayer', value: -1 }],
    ['a fractional sequence', { sequence: 1.5 }, { field: 'sequence', value: 1.5 }],
    ['frame id 2^32', { frameId: 2 ** 32 }, { field: 'frameId', value: 2 ** 32 }],
    ['stream id 2^64', { streamId: 2n ** 64n }, { field: 'streamId', value: 2n ** 64n }],
    ['publisher id -1', { publisherId: -1n }, { field: 'publisherId', value: -1n }],
    ['fragment count 2^16', { fragmentCount: 65536 }, { field: 'fragmentCount', value: 65536 }],
    ['capture time 2^53', { captureTimeUs: 2 ** 53 }, { field: 'captureTimeUs', value: 2 ** 53 }],
  ])('rejects %s', (_, change, expected) => {
    const header = { ...sampleHeader, ...change } as DatagramHeader;
    expect(encodeDatagram(header, new Uint8Array(1))).toEqual({
      ok: false,
      error: { kind: 'field-out-of-range', ...(expected as object) },
    });
  });

  it('rejects a hop count above the cascade limit', () => {
    const header = { ...sampleHeader, hopCount: 3 as HopCount };
    expect(encodeDatagram(header, new Uint8Array(1))).toEqual({
      ok: false,
      error: { kind: 'hop-limit-exceeded', hopCount: 3 },
    });
  });

  it('rejects a fragment index at or past the fragment count', () => {
    const header = { ...sampleHeader, fragmentIndex: 4, fragmentCount: 4 };
    expect(encodeDatagram(header, new Uint8Array(1))).toEqual({
      ok: false,
      error: { kind: 'fragment-out-of-range', fragmentIndex: 4, fragmentCount: 4 },
    });
  });

  it('rejects an empty payload and one longer than 65535 bytes', () => {
    expect(encodeDatagram(sampleHeader, new Uint8Array(0))).toEqual({
      ok: false,
      error: { kind: 'empty-payload' },
    });
    expect(encodeDatagram(sampleHeader, new Uint8Array(65536))).toEqual({
      ok: false,
      error: { kind: 'field-out-of-range', field: 'payloadLength', value: 65536 },
    });
  });

  it('writes a header into a reused buffer, and refuses a buffer shorter than the header', () => {
    const buffer = new Uint8Array(DATAGRAM_HEADER_LENGTH + 5).fill(0xee);
    unwrap(encodeHeaderInto(sampleHeader, 5, buffer));
    expect(buffer).toEqual(sampleDatagram(5));
    expect(encodeHeaderInto(sampleHeader, 5, new Uint8Array(41))).toEqual({
      ok: false,
      error: { kind: 'truncated', length: 41, minimum: 42 },
    });
  });
});

describe('incrementHopCount', () => {
  it('counts up to the cascade limit in place, changing nothing else', () => {
    const bytes = unwrap(encodeDatagram({ ...sampleHeader, hopCount: 0 }, new Uint8Array(3)));
    const before = bytes.slice();
    expect(incrementHopCount(bytes)).toEqual({ ok: true, value: 1 });
    expect(incrementHopCount(bytes)).toEqual({ ok: true, value: 2 });
    expect(incrementHopCount(bytes)).toEqual({
      ok: false,
      error: { kind: 'hop-limit-exceeded', hopCount: 3 },
    });
    const decoded = unwrap(decodeDatagram(bytes));
    expect(decoded.header).toEqual({ ...sampleHeader, hopCount: 2 });
    expect(bytes.filter((byte, i) => byte !== before[i]).length).toBe(1);
  });

  it('refuses a buffer shorter than the header', () => {
    expect(incrementHopCount(new Uint8Array(10))).toEqual({
      ok: false,
      error: { kind: 'truncated', length: 10, minimum: 42 },
    });
  });

  it('agrees with decode for every valid datagram', () => {
    fc.assert(
      fc.property(datagramArbitrary, (bytes) => {
        const before = unwrap(decodeDatagram(bytes)).header;
        const incremented = incrementHopCount(bytes);
        if (before.hopCount === 2) {
          expect(incremented.ok).toBe(false);
          return;
        }
        expect(unwrap(decodeDatagram(bytes)).header).toEqual({
          ...before,
          hopCount: before.hopCount + 1,
        });
      }),
      { numRuns: 5_000 },
    );
  });
});
