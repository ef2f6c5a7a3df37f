import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { murmur3 } from './hash.ts';

describe('murmur3', () => {
  // Published MurmurHash3_x86_32 reference values (SMHasher's algorithm), covering every tail
  // length (0..3 bytes after the 4-byte blocks) and non-zero seeds.
  it.each([
    ['', 0, 0x00000000],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['\0\0\0\0', 0, 0x2362f9de],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['aaa', 0x9747b28c, 0x283e0130],
    ['aa', 0x9747b28c, 0x5d211726],
    ['a', 0x9747b28c, 0x7fa09ea6],
    ['abc', 0, 0xb3dd93fa],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ])('hashes %j with seed %d to the reference value', (key, seed, expected) => {
    expect(murmur3(key, seed)).toBe(expected);
  });

  it('hashes the UTF-8 encoding of non-ASCII keys', () => {
    // The published value for eight U+03C0 (16 UTF-8 bytes, 0xCF 0x80 each).
    expect(murmur3('ππππππππ', 0x9747b28c)).toBe(0xd58063c1);
  });

  it('returns an unsigned 32-bit integer for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.nat(), (key, seed) => {
        const hash = murmur3(key, seed);
        expect(Number.isInteger(hash) && hash >= 0 && hash <= 0xffffffff).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
