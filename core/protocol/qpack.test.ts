import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../result.ts';
import { decodeFieldSection, encodeFieldSection, QPACK_STATIC_TABLE, type Field } from './qpack.ts';

/** The encoder never uses Huffman; a test decoder that refuses makes any use visible. */
const noHuffman = () => null;

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/);
const value = fc.stringMatching(/^[\x20-\x7e]{0,200}$/);
const staticField = fc.constantFrom(...QPACK_STATIC_TABLE);
const staticName = fc.tuple(fc.constantFrom(...QPACK_STATIC_TABLE.map(([name]) => name)), value);
const field: fc.Arbitrary<Field> = fc.oneof(
  staticField,
  staticName,
  fc.tuple(token, value),
  fc.tuple(
    token.map((name) => `:${name}`),
    value,
  ),
);

describe('QPACK field sections, static table only', () => {
  it('round-trip any field list', () => {
    fc.assert(
      fc.property(fc.array(field, { maxLength: 20 }), (fields) => {
        const bytes = encodeFieldSection(fields);
        expect(unwrap(decodeFieldSection(bytes, noHuffman))).toEqual(fields);
      }),
    );
  });

  it('uses one byte for a field the static table holds (":status 200" is index 25)', () => {
    expect([...encodeFieldSection([[':status', '200']])]).toEqual([0x00, 0x00, 0xc0 | 25]);
    expect(QPACK_STATIC_TABLE).toHaveLength(99);
    expect(QPACK_STATIC_TABLE[15]).toEqual([':method', 'CONNECT']);
    expect(QPACK_STATIC_TABLE[98]).toEqual(['x-frame-options', 'sameorigin']);
  });

  it('reads indices past the 4-bit and 6-bit prefixes (multi-byte integers)', () => {
    // 'x-frame-options' (97) by name: 0101 1111 then 97 - 15 = 82.
    const fields: Field[] = [
      ['x-frame-options', 'custom'],
      ['user-agent', 'test'],
      [':status', '500'],
    ];
    const bytes = encodeFieldSection(fields);
    expect(bytes[2]).toBe(0x5f);
    expect(bytes[3]).toBe(82);
    expect(unwrap(decodeFieldSection(bytes, noHuffman))).toEqual(fields);
  });

  it('hands Huffman-coded strings to the given decoder', () => {
    // Literal with static name reference to ":path" (1), value H=1 with 2 coded bytes.
    const bytes = Uint8Array.from([0x00, 0x00, 0x51, 0x82, 0xab, 0xcd]);
    const seen: number[][] = [];
    const decoded = decodeFieldSection(bytes, (coded) => {
      seen.push([...coded]);
      return '/x';
    });
    expect(unwrap(decoded)).toEqual([[':path', '/x']]);
    expect(seen).toEqual([[0xab, 0xcd]]);
    expect(decodeFieldSection(bytes, noHuffman)).toEqual({
      ok: false,
      error: { kind: 'qpack-huffman' },
    });
  });

  it('refuses every reference to a dynamic table', () => {
    const cases = [
      [0x01, 0x00], // Required Insert Count 1
      [0x00, 0x00, 0x80], // indexed, dynamic (T=0)
      [0x00, 0x00, 0x40, 0x00], // literal with dynamic name reference
      [0x00, 0x00, 0x10], // indexed post-base
      [0x00, 0x00, 0x00, 0x00], // literal with post-base name reference
    ];
    for (const bytes of cases) {
      expect(decodeFieldSection(Uint8Array.from(bytes), noHuffman)).toEqual({
        ok: false,
        error: { kind: 'qpack-dynamic-reference' },
      });
    }
  });

  it('refuses malformed sections with typed errors', () => {
    const decode = (bytes: number[]) => decodeFieldSection(Uint8Array.from(bytes), noHuffman);
    expect(decode([])).toEqual({ ok: false, error: { kind: 'qpack-truncated' } });
    expect(decode([0x00])).toEqual({ ok: false, error: { kind: 'qpack-truncated' } });
    expect(decode([0x00, 0x00, 0xff, 0x80])).toEqual({
      ok: false,
      error: { kind: 'qpack-truncated' },
    });
    expect(decode([0x00, 0x00, 0xff, 0x30])).toEqual({
      ok: false,
      error: { kind: 'qpack-static-index', index: 63 + 0x30 },
    });
    expect(decode([0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])).toEqual({
      ok: false,
      error: { kind: 'qpack-integer-overflow' },
    });
    expect(decode([0x00, 0x00, 0x51, 0x05, 0x2f])).toEqual({
      ok: false,
      error: { kind: 'qpack-truncated' },
    });
    const long = [0x00, 0x00, 0x51, 0x7f, 0x82, 0x40];
    expect(decodeFieldSection(Uint8Array.from(long), noHuffman, { maxStringBytes: 100 })).toEqual({
      ok: false,
      error: { kind: 'qpack-too-large' },
    });
    const many = encodeFieldSection(Array.from({ length: 5 }, () => [':status', '200'] as const));
    expect(decodeFieldSection(many, noHuffman, { maxFields: 4 })).toEqual({
      ok: false,
      error: { kind: 'qpack-too-large' },
    });
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const result = decodeFieldSection(bytes, noHuffman);
        expect(typeof result.ok).toBe('boolean');
      }),
    );
  });
});
