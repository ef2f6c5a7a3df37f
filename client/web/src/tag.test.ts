import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readTag, tagCells, tagGeometry, TAG_BITS, TAG_ROWS } from './tag.ts';

/** Paints a grey frame with the tag, then adds noise of at most `noise` to every channel. */
function paint(counter: number, code: number, width: number, height: number, noise: number[]) {
  const rgba = new Uint8ClampedArray(width * height * 4).fill(90);
  const { cell, top } = tagGeometry(width, height);
  tagCells({ counter, code }).forEach((white, i) => {
    const row = Math.floor(i / TAG_BITS);
    const col = i % TAG_BITS;
    for (let y = top + row * cell; y < top + (row + 1) * cell; y++) {
      for (let x = col * cell; x < (col + 1) * cell; x++) {
        const p = (y * width + x) * 4;
        rgba.fill(white ? 255 : 0, p, p + 3);
      }
    }
  });
  for (let i = 0; i < rgba.length; i++)
    rgba[i] = (rgba[i] as number) + (noise[i % noise.length] as number);
  return rgba;
}

describe('frame tag', () => {
  it('reads back what was drawn, under noise below half the contrast', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(fc.integer({ min: -100, max: 100 }), { minLength: 1, maxLength: 64 }),
        (counter, code, noise) => {
          expect(readTag(paint(counter, code, 320, 240, noise), 320, 240)).toEqual({
            counter,
            code,
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it("reads the tag from its rows alone (a read-back of the strip from the tag's first row)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (counter, code) => {
          const { top } = tagGeometry(320, 240);
          const rows = paint(counter, code, 320, 240, [0]).subarray(top * 320 * 4);
          expect(readTag(rows, 320, 240, top)).toEqual({ counter, code });
        },
      ),
      { numRuns: 20 },
    );
  });

  it('refuses a frame whose check word does not match (no tag, or a flipped cell)', () => {
    expect(readTag(new Uint8ClampedArray(320 * 240 * 4).fill(90), 320, 240)).toBeUndefined();
    const rgba = paint(7, 9, 320, 240, [0]);
    const { cell, top } = tagGeometry(320, 240);
    // Flip the last cell of the counter row.
    for (let y = top; y < top + cell; y++) {
      for (let x = (TAG_BITS - 1) * cell; x < TAG_BITS * cell; x++) {
        const p = (y * 320 + x) * 4;
        rgba.fill(255 - (rgba[p] as number), p, p + 3);
      }
    }
    expect(readTag(rgba, 320, 240)).toBeUndefined();
    expect(TAG_ROWS * cell).toBeLessThan(240);
  });
});
