import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFieldSection } from '../../core/protocol/qpack.ts';
import { unwrap } from '../../core/result.ts';
import { huffmanDecode, huffmanEncode } from './huffman.ts';

describe('Huffman strings (RFC 7541 appendix B)', () => {
  it('decodes the RFC 7541 C.4.1 example', () => {
    const coded = Buffer.from('f1e3c2e5f23a6ba0ab90f4ff', 'hex');
    expect(huffmanDecode(coded)).toBe('www.example.com');
  });

  it('round-trips any byte string, long ones included', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
        (text) => {
          expect(huffmanDecode(huffmanEncode(text))).toBe(text);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses padding that is not all ones, or longer than 7 bits', () => {
    // 'a' is 00011 (5 bits): padded with zeros instead of ones.
    expect(huffmanDecode(Uint8Array.from([0b00011000]))).toBeNull();
    // A whole byte of padding after a complete code.
    expect(huffmanDecode(Uint8Array.from([0b00011111, 0xff]))).toBeNull();
  });

  it('lets QPACK read a browser-style request with Huffman-coded values', () => {
    const path = huffmanEncode('/v1/media');
    // ':path' by static name reference (index 1), value H=1.
    const section = Uint8Array.from([0x00, 0x00, 0x51, 0x80 | path.length, ...path]);
    expect(unwrap(decodeFieldSection(section, huffmanDecode))).toEqual([[':path', '/v1/media']]);
  });
});
