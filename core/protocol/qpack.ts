/**
 * QPACK field sections (RFC 9204) with the static table only: this side advertises a dynamic
 * table capacity of 0, so a peer may not refer to a dynamic table, and a field section that
 * does is refused (`qpack-dynamic-reference`). The encoder never uses Huffman coding; the
 * decoder accepts Huffman-coded strings through a decoder the caller passes in (the table is
 * an adapter's: `adapters/webtransport/huffman.ts`).
 */
import { err, ok, type Result } from '../result.ts';

export type QpackError =
  | { readonly kind: 'qpack-truncated' }
  /** A prefixed integer longer than 2^32. */
  | { readonly kind: 'qpack-integer-overflow' }
  /** A reference to the dynamic table (Required Insert Count, post-base or dynamic index). */
  | { readonly kind: 'qpack-dynamic-reference' }
  /** A static index past the table's 99 entries. */
  | { readonly kind: 'qpack-static-index'; readonly index: number }
  /** A Huffman-coded string that does not decode. */
  | { readonly kind: 'qpack-huffman' }
  /** More bytes or fields than the caller allows. */
  | { readonly kind: 'qpack-too-large' };

/** Decodes a Huffman-coded string (RFC 7541 appendix B); null when it is not valid. */
export type HuffmanDecoder = (coded: Uint8Array) => string | null;

export type Field = readonly [name: string, value: string];

/** RFC 9204 appendix A. */
export const QPACK_STATIC_TABLE: readonly Field[] = [
  [':authority', ''],
  [':path', '/'],
  ['age', '0'],
  ['content-disposition', ''],
  ['content-length', '0'],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['referer', ''],
  ['set-cookie', ''],
  [':method', 'CONNECT'],
  [':method', 'DELETE'],
  [':method', 'GET'],
  [':method', 'HEAD'],
  [':method', 'OPTIONS'],
  [':method', 'POST'],
  [':method', 'PUT'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '103'],
  [':status', '200'],
  [':status', '304'],
  [':status', '404'],
  [':status', '503'],
  ['accept', '*/*'],
  ['accept', 'application/dns-message'],
  ['accept-encoding', 'gzip, deflate, br'],
  ['accept-ranges', 'bytes'],
  ['access-control-allow-headers', 'cache-control'],
  ['access-control-allow-headers', 'content-type'],
  ['access-control-allow-origin', '*'],
  ['cache-control', 'max-age=0'],
  ['cache-control', 'max-age=2592000'],
  ['cache-control', 'max-age=604800'],
  ['cache-control', 'no-cache'],
  ['cache-control', 'no-store'],
  ['cache-control', 'public, max-age=31536000'],
  ['content-encoding', 'br'],
  ['content-encoding', 'gzip'],
  ['content-type', 'application/dns-message'],
  ['content-type', 'application/javascript'],
  ['content-type', 'application/json'],
  ['content-type', 'application/x-www-form-urlencoded'],
  ['content-type', 'image/gif'],
  ['content-type', 'image/jpeg'],
  ['content-type', 'image/png'],
  ['content-type', 'text/css'],
  ['content-type', 'text/html; charset=utf-8'],
  ['content-type', 'text/plain'],
  ['content-type', 'text/plain;charset=utf-8'],
  ['range', 'bytes=0-'],
  ['strict-transport-security', 'max-age=31536000'],
  ['strict-transport-security', 'max-age=31536000; includesubdomains'],
  ['strict-transport-security', 'max-age=31536000; includesubdomains; preload'],
  ['vary', 'accept-encoding'],
  ['vary', 'origin'],
  ['x-content-type-options', 'nosniff'],
  ['x-xss-protection', '1; mode=block'],
  [':status', '100'],
  [':status', '204'],
  [':status', '206'],
  [':status', '302'],
  [':status', '400'],
  [':status', '403'],
  [':status', '421'],
  [':status', '425'],
  [':status', '500'],
  ['accept-language', ''],
  ['access-control-allow-credentials', 'FALSE'],
  ['access-control-allow-credentials', 'TRUE'],
  ['access-control-allow-headers', '*'],
  ['access-control-allow-methods', 'get'],
  ['access-control-allow-methods', 'get, post, options'],
  ['access-control-allow-methods', 'options'],
  ['access-control-expose-headers', 'content-length'],
  ['access-control-request-headers', 'content-type'],
  ['access-control-request-method', 'get'],
  ['access-control-request-method', 'post'],
  ['alt-svc', 'clear'],
  ['authorization', ''],
  ['content-security-policy', "script-src 'none'; object-src 'none'; base-uri 'none'"],
  ['early-data', '1'],
  ['expect-ct', ''],
  ['forwarded', ''],
  ['if-range', ''],
  ['origin', ''],
  ['purpose', 'prefetch'],
  ['server', ''],
  ['timing-allow-origin', '*'],
  ['upgrade-insecure-requests', '1'],
  ['user-agent', ''],
  ['x-forwarded-for', ''],
  ['x-frame-options', 'deny'],
  ['x-frame-options', 'sameorigin'],
];

const exactIndex = new Map<string, number>();
const nameIndex = new Map<string, number>();
QPACK_STATIC_TABLE.forEach(([name, value], index) => {
  const key = `${name}\u0000${value}`;
  if (!exactIndex.has(key)) exactIndex.set(key, index);
  if (!nameIndex.has(name)) nameIndex.set(name, index);
});

/** Appends a prefixed integer (RFC 7541 section 5.1): `flags` fill the bits above the prefix. */
function pushInteger(out: number[], flags: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function latin1Bytes(text: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) bytes.push(text.charCodeAt(i) & 0xff);
  return bytes;
}

/**
 * Encodes a field section: static-table references where the table has the field or its name,
 * literals otherwise, no Huffman. Names and values are taken as Latin-1 (HTTP field bytes).
 */
export function encodeFieldSection(fields: readonly Field[]): Uint8Array {
  // Required Insert Count 0, Delta Base 0.
  const out: number[] = [0x00, 0x00];
  for (const [name, value] of fields) {
    const exact = exactIndex.get(`${name}\u0000${value}`);
    if (exact !== undefined) {
      // Indexed field line, static (T=1): 11xxxxxx.
      pushInteger(out, 0xc0, 6, exact);
      continue;
    }
    const named = nameIndex.get(name);
    if (named !== undefined) {
      // Literal with name reference, N=0, T=1 (static): 0101xxxx.
      pushInteger(out, 0x50, 4, named);
    } else {
      // Literal with literal name, N=0, H=0: 00100xxx.
      const nameBytes = latin1Bytes(name);
      pushInteger(out, 0x20, 3, nameBytes.length);
      for (const byte of nameBytes) out.push(byte);
    }
    const valueBytes = latin1Bytes(value);
    pushInteger(out, 0x00, 7, valueBytes.length);
    for (const byte of valueBytes) out.push(byte);
  }
  return Uint8Array.from(out);
}

/** Reads a prefixed integer whose first byte is at `offset`. */
function readInteger(
  bytes: Uint8Array,
  offset: number,
  prefixBits: number,
): Result<{ value: number; next: number }, QpackError> {
  if (offset >= bytes.length) return err({ kind: 'qpack-truncated' });
  const max = (1 << prefixBits) - 1;
  let value = bytes[offset]! & max;
  let next = offset + 1;
  if (value < max) return ok({ value, next });
  let scale = 1;
  for (;;) {
    if (next >= bytes.length) return err({ kind: 'qpack-truncated' });
    const byte = bytes[next++]!;
    value += (byte & 0x7f) * scale;
    if (value > 0xffff_ffff) return err({ kind: 'qpack-integer-overflow' });
    if ((byte & 0x80) === 0) return ok({ value, next });
    scale *= 0x80;
  }
}

/** Reads a string literal whose length prefix (with its H bit just above) starts at `offset`. */
function readString(
  bytes: Uint8Array,
  offset: number,
  prefixBits: number,
  huffman: HuffmanDecoder,
  maxLength: number,
): Result<{ value: string; next: number }, QpackError> {
  if (offset >= bytes.length) return err({ kind: 'qpack-truncated' });
  const coded = (bytes[offset]! & (1 << prefixBits)) !== 0;
  const length = readInteger(bytes, offset, prefixBits);
  if (!length.ok) return length;
  if (length.value.value > maxLength) return err({ kind: 'qpack-too-large' });
  const end = length.value.next + length.value.value;
  if (end > bytes.length) return err({ kind: 'qpack-truncated' });
  const raw = bytes.subarray(length.value.next, end);
  if (coded) {
    const decoded = huffman(raw);
    if (decoded === null) return err({ kind: 'qpack-huffman' });
    return ok({ value: decoded, next: end });
  }
  let value = '';
  for (const byte of raw) value += String.fromCharCode(byte);
  return ok({ value, next: end });
}

function staticEntry(index: number): Result<Field, QpackError> {
  const entry = QPACK_STATIC_TABLE[index];
  return entry === undefined ? err({ kind: 'qpack-static-index', index }) : ok(entry);
}

export interface FieldSectionLimits {
  /** Longest name or value, in bytes (before Huffman decoding); default 8 KiB. */
  readonly maxStringBytes?: number;
  /** Most fields; default 64. */
  readonly maxFields?: number;
}

/** Decodes a whole field section (a HEADERS frame's payload). */
export function decodeFieldSection(
  bytes: Uint8Array,
  huffman: HuffmanDecoder,
  limits: FieldSectionLimits = {},
): Result<Field[], QpackError> {
  const maxString = limits.maxStringBytes ?? 8192;
  const maxFields = limits.maxFields ?? 64;
  const insertCount = readInteger(bytes, 0, 8);
  if (!insertCount.ok) return insertCount;
  if (insertCount.value.value !== 0) return err({ kind: 'qpack-dynamic-reference' });
  // Sign bit and Delta Base: meaningless without a dynamic table, but must be present.
  const base = readInteger(bytes, insertCount.value.next, 7);
  if (!base.ok) return base;
  const fields: Field[] = [];
  let offset = base.value.next;
  while (offset < bytes.length) {
    if (fields.length >= maxFields) return err({ kind: 'qpack-too-large' });
    const first = bytes[offset]!;
    if ((first & 0x80) !== 0) {
      // Indexed field line: 1Txxxxxx.
      if ((first & 0x40) === 0) return err({ kind: 'qpack-dynamic-reference' });
      const index = readInteger(bytes, offset, 6);
      if (!index.ok) return index;
      const entry = staticEntry(index.value.value);
      if (!entry.ok) return entry;
      fields.push(entry.value);
      offset = index.value.next;
    } else if ((first & 0x40) !== 0) {
      // Literal with name reference: 01NTxxxx.
      if ((first & 0x10) === 0) return err({ kind: 'qpack-dynamic-reference' });
      const index = readInteger(bytes, offset, 4);
      if (!index.ok) return index;
      const entry = staticEntry(index.value.value);
      if (!entry.ok) return entry;
      const value = readString(bytes, index.value.next, 7, huffman, maxString);
      if (!value.ok) return value;
      fields.push([entry.value[0], value.value.value]);
      offset = value.value.next;
    } else if ((first & 0x20) !== 0) {
      // Literal with literal name: 001NHxxx.
      const name = readString(bytes, offset, 3, huffman, maxString);
      if (!name.ok) return name;
      const value = readString(bytes, name.value.next, 7, huffman, maxString);
      if (!value.ok) return value;
      fields.push([name.value.value, value.value.value]);
      offset = value.value.next;
    } else {
      // 0001xxxx indexed post-base, 0000xxxx literal with post-base name reference.
      return err({ kind: 'qpack-dynamic-reference' });
    }
  }
  return ok(fields);
}
