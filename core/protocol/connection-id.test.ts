import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deterministicRandom, type RandomSource } from '../random.ts';
import { unwrap } from '../result.ts';
import { CONNECTION_ID_LENGTH, createConnectionId, parseConnectionId } from './connection-id.ts';

describe('connection id', () => {
  it('is the big-endian millisecond timestamp followed by 12 bytes from the random source', () => {
    const nowMs = 0x0102_0304_0506;
    const id = unwrap(createConnectionId(nowMs, deterministicRandom(7)));
    expect(id.length).toBe(CONNECTION_ID_LENGTH);
    expect(Array.from(id.subarray(0, 8))).toEqual([0, 0, 1, 2, 3, 4, 5, 6]);
    expect(id.subarray(8)).toEqual(deterministicRandom(7).bytes(12));
  });

  it('parses back to the timestamp and random bytes it was made from', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer(), (nowMs, seed) => {
        const parts = unwrap(
          parseConnectionId(unwrap(createConnectionId(nowMs, deterministicRandom(seed)))),
        );
        expect(parts).toEqual({ timestampMs: nowMs, random: deterministicRandom(seed).bytes(12) });
      }),
      { numRuns: 10_000 },
    );
  });

  it('returns a copy of the random part, not a view into the id', () => {
    const id = unwrap(createConnectionId(1, deterministicRandom(1)));
    const { random } = unwrap(parseConnectionId(id));
    id[8] = (id[8] ?? 0) ^ 0xff;
    expect(random[0]).not.toBe(id[8]);
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 53])('rejects the timestamp %s', (nowMs) => {
    expect(createConnectionId(nowMs, deterministicRandom(1))).toEqual({
      ok: false,
      error: { kind: 'timestamp-out-of-range', timestampMs: nowMs },
    });
  });

  it('rejects a random source that returns too few bytes', () => {
    const stingy: RandomSource = { next: () => 0, bytes: (length) => new Uint8Array(length - 1) };
    expect(createConnectionId(0, stingy)).toEqual({
      ok: false,
      error: { kind: 'random-source-short', length: 11, expected: 12 },
    });
  });

  it('rejects every length other than 20 bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 40 }).filter((bytes) => bytes.length !== CONNECTION_ID_LENGTH),
        (bytes) => {
          expect(parseConnectionId(bytes)).toEqual({
            ok: false,
            error: { kind: 'wrong-length', length: bytes.length, expected: CONNECTION_ID_LENGTH },
          });
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('accepts any 20 bytes whose timestamp is a safe integer, and rejects the rest', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.boolean(), (bytes, small) => {
        if (small) bytes[0] = 0;
        const timestamp = new DataView(bytes.buffer).getBigUint64(0);
        const parsed = parseConnectionId(bytes);
        expect(parsed.ok).toBe(timestamp <= BigInt(Number.MAX_SAFE_INTEGER));
        if (!parsed.ok)
          expect(parsed.error).toEqual({ kind: 'timestamp-out-of-range', timestampMs: timestamp });
      }),
      { numRuns: 10_000 },
    );
  });
});
