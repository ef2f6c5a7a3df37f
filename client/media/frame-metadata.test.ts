import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameMetadata } from './frame-metadata.ts';

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });

describe('frameMetadata', () => {
  it('is the stream id then the publisher id, 8 bytes each, big-endian', () => {
    expect([...frameMetadata(0x0102030405060708n, 0x1112131415161718n)]).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
    ]);
  });

  it('tells every (stream, publisher) pair apart', () => {
    fc.assert(
      fc.property(u64, u64, u64, u64, (s1, p1, s2, p2) => {
        const same = s1 === s2 && p1 === p2;
        const a = frameMetadata(s1, p1);
        const b = frameMetadata(s2, p2);
        expect(a.every((byte, i) => byte === b[i])).toBe(same);
      }),
    );
  });
});
