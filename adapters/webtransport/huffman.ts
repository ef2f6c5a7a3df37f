/**
 * The Huffman code of HPACK (RFC 7541 appendix B), which QPACK strings use too (RFC 9204
 * section 4.1.2): browsers send header values Huffman-coded when that is shorter. The table
 * and its decoder are hpack.js's; this wraps them as core's `HuffmanDecoder`.
 */
import hpack from 'hpack.js';
import type { HuffmanDecoder } from '../../core/protocol/qpack.ts';

/** An HPACK string header (H=1, 7-bit prefix length) in front of the coded bytes. */
function withStringHeader(coded: Uint8Array): Buffer {
  const header: number[] = [];
  if (coded.length < 0x7f) {
    header.push(0x80 | coded.length);
  } else {
    header.push(0xff);
    let rest = coded.length - 0x7f;
    while (rest >= 0x80) {
      header.push((rest & 0x7f) | 0x80);
      rest >>>= 7;
    }
    header.push(rest);
  }
  return Buffer.concat([Buffer.from(header), coded]);
}

/** Decodes a Huffman-coded string to Latin-1 text (HTTP field bytes); null when not valid. */
export const huffmanDecode: HuffmanDecoder = (coded) => {
  const decoder = hpack.decoder.create();
  decoder.push(withStringHeader(coded));
  try {
    return Buffer.from(decoder.decodeStr()).toString('latin1');
  } catch {
    return null;
  }
};

/** Huffman-codes a string (tests build browser-like field sections with it). */
export function huffmanEncode(text: string): Uint8Array {
  const encoder = hpack.encoder.create();
  encoder.encodeStr(Buffer.from(text, 'latin1'), true);
  const rendered = Buffer.concat(encoder.render());
  // Drop the HPACK string header: the length prefix ends at the first byte without 0x80 after
  // the first.
  let offset = 1;
  if ((rendered[0]! & 0x7f) === 0x7f) {
    while ((rendered[offset]! & 0x80) !== 0) offset++;
    offset++;
  }
  return new Uint8Array(rendered.subarray(offset));
}
