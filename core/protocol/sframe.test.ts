import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../result.ts';
import { MAX_SFRAME_VALUE, parseSFrameHeader, serializeSFrameHeader } from './sframe.ts';

/** Values spread over every encoded length: the 3-bit short form and 1..8 extra bytes. */
const valueArbitrary = fc.oneof(
  fc.bigInt({ min: 0n, max: 7n }),
  fc.integer({ min: 1, max: 8 }).chain((length) =>
    fc.bigInt({
      min: length === 1 ? 8n : 1n << BigInt(8 * (length - 1)),
      max: (1n << BigInt(8 * length)) - 1n,
    }),
  ),
);

const bytes = (...values: number[]) => Uint8Array.from(values);

describe('SFrame header serialisation (RFC 9605 section 4.3)', () => {
  it('carries KID and CTR values 0..7 in the config byte alone', () => {
    for (let kid = 0; kid < 8; kid++) {
      for (let ctr = 0; ctr < 8; ctr++) {
        const header = { kid: BigInt(kid), ctr: BigInt(ctr) };
        expect(unwrap(serializeSFrameHeader(header))).toEqual(bytes((kid << 4) | ctr));
      }
    }
  });

  it.each([
    ['KID 8', 8n, 0n, bytes(0x80, 0x08)],
    ['CTR 255', 0n, 255n, bytes(0x08, 0xff)],
    ['KID 256 and CTR 65536', 0x100n, 0x1_0000n, bytes(0x9a, 0x01, 0x00, 0x01, 0x00, 0x00)],
    ['KID 3 and CTR 2^32', 3n, 2n ** 32n, bytes(0x3c, 0x01, 0x00, 0x00, 0x00, 0x00)],
  ])('encodes %s after the config byte in the fewest bytes', (_, kid, ctr, expected) => {
    expect(unwrap(serializeSFrameHeader({ kid, ctr }))).toEqual(expected);
  });

  it('encodes the largest values in eight bytes each', () => {
    const encoded = unwrap(serializeSFrameHeader({ kid: MAX_SFRAME_VALUE, ctr: MAX_SFRAME_VALUE }));
    expect(encoded).toEqual(new Uint8Array(17).fill(0xff));
  });

  it.each([
    ['a negative KID', { kid: -1n, ctr: 0n }, { field: 'kid', value: -1n }],
    ['a CTR of 2^64', { kid: 0n, ctr: 2n ** 64n }, { field: 'ctr', value: 2n ** 64n }],
  ])('rejects %s', (_, header, expected) => {
    expect(serializeSFrameHeader(header)).toEqual({
      ok: false,
      error: { kind: 'value-out-of-range', ...expected },
    });
  });

  it('round-trips every KID and CTR up to 2^64-1', () => {
    fc.assert(
      fc.property(
        valueArbitrary,
        valueArbitrary,
        fc.uint8Array({ maxLength: 8 }),
        (kid, ctr, tail) => {
          const header = unwrap(serializeSFrameHeader({ kid, ctr }));
          const parsed = unwrap(parseSFrameHeader(Uint8Array.from([...header, ...tail])));
          expect(parsed.header).toEqual({ kid, ctr });
          expect(parsed.headerLength).toBe(header.length);
          expect(parsed.ciphertext).toEqual(tail);
        },
      ),
      { numRuns: 15_000 },
    );
  });
});

describe('SFrame header parsing', () => {
  it('returns the ciphertext as a view after the header', () => {
    const frame = bytes(0x9a, 0x01, 0x00, 0x01, 0x00, 0x00, 0xaa, 0xbb);
    const parsed = unwrap(parseSFrameHeader(frame));
    expect(parsed).toMatchObject({ header: { kid: 0x100n, ctr: 0x1_0000n }, headerLength: 6 });
    frame[6] = 0xcc;
    expect(Array.from(parsed.ciphertext)).toEqual([0xcc, 0xbb]);
  });

  it.each([
    ['an empty buffer', bytes(), { kind: 'truncated', length: 0, minimum: 1 }],
    ['a KID cut short', bytes(0x90, 0x01), { kind: 'truncated', length: 2, minimum: 3 }],
    [
      'a CTR cut short',
      bytes(0x9a, 0x01, 0x00, 0x01, 0x00),
      { kind: 'truncated', length: 5, minimum: 6 },
    ],
    [
      'a KID below 8 in extended form',
      bytes(0x80, 0x05),
      { kind: 'non-minimal-encoding', field: 'kid' },
    ],
    [
      'a KID with a leading zero byte',
      bytes(0x90, 0x00, 0xff),
      { kind: 'non-minimal-encoding', field: 'kid' },
    ],
    [
      'a CTR below 8 in extended form',
      bytes(0x08, 0x07),
      { kind: 'non-minimal-encoding', field: 'ctr' },
    ],
    [
      'a CTR with a leading zero byte',
      bytes(0x09, 0x00, 0x08),
      { kind: 'non-minimal-encoding', field: 'ctr' },
    ],
  ])('rejects %s', (_, input, expected) => {
    expect(parseSFrameHeader(input)).toEqual({ ok: false, error: expected });
  });

  it('never throws on arbitrary bytes, and every accepted header re-serialises to its bytes', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), (input) => {
        const parsed = parseSFrameHeader(input);
        if (!parsed.ok) {
          expect(typeof parsed.error.kind).toBe('string');
          return;
        }
        accepted++;
        const reserialised = unwrap(serializeSFrameHeader(parsed.value.header));
        expect(reserialised).toEqual(input.subarray(0, parsed.value.headerLength));
      }),
      { numRuns: 25_000 },
    );
    expect(accepted).toBeGreaterThan(1_000);
  });
});
