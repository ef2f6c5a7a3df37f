/**
 * The SFrame header (RFC 9605, section 4.3): a config byte `X|K(3)|Y|C(3)`, then the key id
 * (KID) bytes, then the counter (CTR) bytes. A value 0..7 sits in K (X=0) or C (Y=0); a larger
 * value follows the config byte big-endian in the fewest bytes, and K or C holds its length
 * minus one (X=1 or Y=1).
 *
 * The RFC says values MUST use that minimal encoding. This parser rejects non-minimal
 * encodings: the header is authenticated data, so accepting only the canonical form means a
 * parsed header always re-serialises to the exact bytes it came from.
 */
import { err, ok, type Result } from '../result.ts';

/** Largest KID or CTR value: both are unsigned 64-bit. */
export const MAX_SFRAME_VALUE = 0xffff_ffff_ffff_ffffn;

/** In each 4-bit half of the config byte: set when the low 3 bits are a length, not a value. */
const EXTENDED = 0x08;
const LOW_THREE_BITS = 0x07;
const SHORT_VALUE_LIMIT = 8n;

/** Key id and counter of one SFrame ciphertext. */
export interface SFrameHeader {
  readonly kid: bigint;
  readonly ctr: bigint;
}

/** A parsed header, its encoded length and a view of the ciphertext that follows it. */
export interface ParsedSFrame {
  readonly header: SFrameHeader;
  readonly headerLength: number;
  readonly ciphertext: Uint8Array;
}

export type SFrameField = 'kid' | 'ctr';

export type SFrameError =
  | { readonly kind: 'truncated'; readonly length: number; readonly minimum: number }
  | { readonly kind: 'non-minimal-encoding'; readonly field: SFrameField }
  | { readonly kind: 'value-out-of-range'; readonly field: SFrameField; readonly value: bigint };

/** Parses the SFrame header at the start of `bytes`. Never throws. */
export function parseSFrameHeader(bytes: Uint8Array): Result<ParsedSFrame, SFrameError> {
  const config = bytes[0];
  if (config === undefined) return err({ kind: 'truncated', length: 0, minimum: 1 });
  const kidNibble = config >>> 4;
  const ctrNibble = config & 0x0f;
  const kidLength = extendedLength(kidNibble);
  const ctrLength = extendedLength(ctrNibble);
  const headerLength = 1 + kidLength + ctrLength;
  if (bytes.length < headerLength) {
    return err({ kind: 'truncated', length: bytes.length, minimum: headerLength });
  }
  const kid = kidLength === 0 ? BigInt(kidNibble) : readBigEndian(bytes, 1, kidLength);
  const ctr = ctrLength === 0 ? BigInt(ctrNibble) : readBigEndian(bytes, 1 + kidLength, ctrLength);
  if (kidLength !== 0 && kidLength !== encodedLength(kid)) {
    return err({ kind: 'non-minimal-encoding', field: 'kid' });
  }
  if (ctrLength !== 0 && ctrLength !== encodedLength(ctr)) {
    return err({ kind: 'non-minimal-encoding', field: 'ctr' });
  }
  return ok({ header: { kid, ctr }, headerLength, ciphertext: bytes.subarray(headerLength) });
}

/** Serialises a header in the minimal encoding; rejects values outside 0..2^64-1. */
export function serializeSFrameHeader(header: SFrameHeader): Result<Uint8Array, SFrameError> {
  const invalid = checkValue('kid', header.kid) ?? checkValue('ctr', header.ctr);
  if (invalid !== undefined) return err(invalid);
  const kidLength = encodedLength(header.kid);
  const ctrLength = encodedLength(header.ctr);
  const out = new Uint8Array(1 + kidLength + ctrLength);
  out[0] = (configNibble(header.kid, kidLength) << 4) | configNibble(header.ctr, ctrLength);
  writeBigEndian(out, 1, kidLength, header.kid);
  writeBigEndian(out, 1 + kidLength, ctrLength, header.ctr);
  return ok(out);
}

/** Number of value bytes a config nibble announces: 0 for the short form. */
function extendedLength(nibble: number): number {
  return (nibble & EXTENDED) !== 0 ? (nibble & LOW_THREE_BITS) + 1 : 0;
}

/** The config nibble for a value that takes `length` bytes after the config byte. */
function configNibble(value: bigint, length: number): number {
  return length === 0 ? Number(value) : EXTENDED | (length - 1);
}

/** Bytes after the config byte that `value` needs: 0 when it fits the 3-bit short form. */
function encodedLength(value: bigint): number {
  if (value < SHORT_VALUE_LIMIT) return 0;
  let length = 0;
  for (let rest = value; rest > 0n; rest >>= 8n) length++;
  return length;
}

function readBigEndian(bytes: Uint8Array, offset: number, length: number): bigint {
  let value = 0n;
  for (let i = 0; i < length; i++) value = (value << 8n) | BigInt(bytes[offset + i] ?? 0);
  return value;
}

function writeBigEndian(out: Uint8Array, offset: number, length: number, value: bigint): void {
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    out[offset + i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
}

function checkValue(field: SFrameField, value: bigint): SFrameError | undefined {
  return value >= 0n && value <= MAX_SFRAME_VALUE
    ? undefined
    : { kind: 'value-out-of-range', field, value };
}
