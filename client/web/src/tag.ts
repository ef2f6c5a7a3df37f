/**
 * A machine-readable tag drawn into every synthetic video frame: three rows of 32 black or
 * white cells along the bottom edge, carrying the frame counter, the publisher's code (the low
 * 32 bits of its publisher id) and a check word. A receiver reads it back from the decoded
 * pixels, so a test learns which frame of whom a tile really shows, after encoding, SFrame,
 * the handler and decoding. Cells are large (width / 32 pixels) so VP8's losses do not flip them.
 */
export const TAG_BITS = 32;
export const TAG_ROWS = 3;
const CHECK_SALT = 0xa5c3_5a3c;

export interface FrameTag {
  readonly counter: number;
  readonly code: number;
}

/** The three 32-bit words of a tag: counter, code, check. */
export function tagWords(tag: FrameTag): [number, number, number] {
  const counter = tag.counter >>> 0;
  const code = tag.code >>> 0;
  return [counter, code, (counter ^ code ^ CHECK_SALT) >>> 0];
}

/** The tag's cell size and the y of its first row for a frame of this size. */
export function tagGeometry(width: number, height: number): { cell: number; top: number } {
  const cell = Math.floor(width / TAG_BITS);
  return { cell, top: height - cell * TAG_ROWS };
}

/** Which cells are white (bit 1), row by row, most significant bit first. */
export function tagCells(tag: FrameTag): boolean[] {
  const cells: boolean[] = [];
  for (const word of tagWords(tag)) {
    for (let bit = TAG_BITS - 1; bit >= 0; bit--) cells.push(((word >>> bit) & 1) === 1);
  }
  return cells;
}

/**
 * Reads a tag from the RGBA pixels of a `width` x `height` frame, or of its rows from
 * `firstRow` on (the tag's rows read back alone); undefined when the check word does not match.
 */
export function readTag(
  rgba: ArrayLike<number>,
  width: number,
  height: number,
  firstRow = 0,
): FrameTag | undefined {
  const { cell, top } = tagGeometry(width, height);
  if (cell < 2 || top < 0) return undefined;
  const words: number[] = [];
  for (let row = 0; row < TAG_ROWS; row++) {
    let word = 0;
    for (let bit = 0; bit < TAG_BITS; bit++) {
      // The mean luma of the cell's centre (half its size), so edges blurred by the codec do not count.
      const x0 = bit * cell + Math.floor(cell / 4);
      const y0 = top + row * cell + Math.floor(cell / 4);
      const span = Math.max(1, Math.floor(cell / 2));
      let sum = 0;
      for (let y = y0; y < y0 + span; y++) {
        for (let x = x0; x < x0 + span; x++) {
          const i = ((y - firstRow) * width + x) * 4;
          sum += 0.299 * (rgba[i] ?? 0) + 0.587 * (rgba[i + 1] ?? 0) + 0.114 * (rgba[i + 2] ?? 0);
        }
      }
      word = ((word << 1) | (sum / (span * span) >= 128 ? 1 : 0)) >>> 0;
    }
    words.push(word);
  }
  const [counter, code, check] = words as [number, number, number];
  if ((counter ^ code ^ CHECK_SALT) >>> 0 !== check) return undefined;
  return { counter, code };
}
