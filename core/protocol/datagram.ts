/**
 * The media datagram: a fixed 42-byte big-endian header followed by the SFrame ciphertext,
 * which Media Handlers forward without decrypting. The byte layout is documented in
 * docs/protocol.md ("Media datagram").
 *
 * Number representation: the two 64-bit identifiers (stream id, publisher id) are `bigint`,
 * so every 64-bit value round-trips exactly. The capture time is a `number` of microseconds:
 * it is arithmetic data (jitter, latency), and any value below 2^53 µs (about 285 years)
 * fits a safe integer, so the decoder rejects larger values instead of rounding them.
 */
import { err, ok, type Result } from '../result.ts';

/** The only version this codec speaks. */
export const DATAGRAM_VERSION = 1;
/** Size of the fixed header in bytes. */
export const DATAGRAM_HEADER_LENGTH = 42;
/** Cascade depth limit: a datagram crosses at most two handler-to-handler links. */
export const MAX_HOP_COUNT = 2;
/** The largest payload the 16-bit payload length field can describe. */
export const MAX_PAYLOAD_LENGTH = 0xffff;

/** Flag bits in header byte 1. The low five bits are reserved and must be zero. */
export const FLAG_KEYFRAME = 0x80;
export const FLAG_END_OF_FRAME = 0x40;
export const FLAG_DISCARDABLE = 0x20;
const RESERVED_FLAGS = 0x1f;

/** Byte offsets of the header fields. */
const OFFSET = {
  version: 0,
  flags: 1,
  hopCount: 2,
  layer: 3,
  streamId: 4,
  publisherId: 12,
  sequence: 20,
  frameId: 24,
  fragmentIndex: 28,
  fragmentCount: 30,
  captureTimeUs: 32,
  payloadLength: 40,
} as const;

const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;
const MAX_UINT32 = 0xffff_ffff;
const MAX_UINT16 = 0xffff;
const MAX_LAYER = 0x0f;
const TWO_POW_32 = 0x1_0000_0000;
/** The high 32 bits of a capture time must stay below this for the value to be a safe integer. */
const MAX_SAFE_HIGH_WORD = Math.floor(Number.MAX_SAFE_INTEGER / TWO_POW_32);

/** Number of handler-to-handler links a datagram has crossed. */
export type HopCount = 0 | 1 | 2;

/** The typed header. The version and payload length are implied (constant and derived). */
export interface DatagramHeader {
  /** The frame can be decoded without reference to earlier frames. */
  readonly keyframe: boolean;
  /** Last datagram the publisher sends for this capture instant (like the RTP marker bit). */
  readonly endOfFrame: boolean;
  /** No later frame references this one: a handler may drop it under congestion. */
  readonly discardable: boolean;
  readonly hopCount: HopCount;
  /** Spatial layer, 0..15. */
  readonly spatialLayer: number;
  /** Temporal layer, 0..15. */
  readonly temporalLayer: number;
  /** Unsigned 64-bit stream identifier. */
  readonly streamId: bigint;
  /** Unsigned 64-bit publisher identifier. */
  readonly publisherId: bigint;
  /** Per-stream datagram sequence number, uint32 (wraps). */
  readonly sequence: number;
  /** Per-stream frame number, uint32 (wraps). */
  readonly frameId: number;
  /** Position of this datagram within its frame, 0 <= fragmentIndex < fragmentCount. */
  readonly fragmentIndex: number;
  /** Number of datagrams carrying the frame, 1..65535. */
  readonly fragmentCount: number;
  /** Capture time in microseconds on the publisher's clock, a safe non-negative integer. */
  readonly captureTimeUs: number;
}

/** A decoded datagram: the header and a view (not a copy) of the SFrame payload. */
export interface Datagram {
  readonly header: DatagramHeader;
  readonly payload: Uint8Array;
}

/** Everything that can be wrong with a datagram or a header handed to the encoder. */
export type DatagramError =
  | { readonly kind: 'truncated'; readonly length: number; readonly minimum: number }
  | { readonly kind: 'unsupported-version'; readonly version: number }
  | { readonly kind: 'reserved-flags'; readonly flags: number }
  | { readonly kind: 'hop-limit-exceeded'; readonly hopCount: number }
  | {
      readonly kind: 'fragment-out-of-range';
      readonly fragmentIndex: number;
      readonly fragmentCount: number;
    }
  | { readonly kind: 'capture-time-out-of-range' }
  | { readonly kind: 'payload-length-mismatch'; readonly declared: number; readonly actual: number }
  | { readonly kind: 'empty-payload' }
  | {
      readonly kind: 'field-out-of-range';
      readonly field: keyof DatagramHeader | 'payloadLength';
      readonly value: number | bigint;
    };

/**
 * Decodes a datagram. Never throws: every malformed input yields a typed error. On success the
 * payload is a view into `bytes`, so the caller must not reuse the buffer while it holds it.
 */
export function decodeDatagram(bytes: Uint8Array): Result<Datagram, DatagramError> {
  if (bytes.length < DATAGRAM_HEADER_LENGTH) {
    return err({ kind: 'truncated', length: bytes.length, minimum: DATAGRAM_HEADER_LENGTH });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(OFFSET.version);
  if (version !== DATAGRAM_VERSION) return err({ kind: 'unsupported-version', version });
  const flags = view.getUint8(OFFSET.flags);
  if ((flags & RESERVED_FLAGS) !== 0) return err({ kind: 'reserved-flags', flags });
  const hopCount = view.getUint8(OFFSET.hopCount);
  if (hopCount > MAX_HOP_COUNT) return err({ kind: 'hop-limit-exceeded', hopCount });
  const fragmentIndex = view.getUint16(OFFSET.fragmentIndex);
  const fragmentCount = view.getUint16(OFFSET.fragmentCount);
  if (fragmentIndex >= fragmentCount) {
    return err({ kind: 'fragment-out-of-range', fragmentIndex, fragmentCount });
  }
  const captureHigh = view.getUint32(OFFSET.captureTimeUs);
  if (captureHigh > MAX_SAFE_HIGH_WORD) return err({ kind: 'capture-time-out-of-range' });
  const declared = view.getUint16(OFFSET.payloadLength);
  const actual = bytes.length - DATAGRAM_HEADER_LENGTH;
  if (declared !== actual) return err({ kind: 'payload-length-mismatch', declared, actual });
  if (declared === 0) return err({ kind: 'empty-payload' });

  const layer = view.getUint8(OFFSET.layer);
  const header: DatagramHeader = {
    keyframe: (flags & FLAG_KEYFRAME) !== 0,
    endOfFrame: (flags & FLAG_END_OF_FRAME) !== 0,
    discardable: (flags & FLAG_DISCARDABLE) !== 0,
    hopCount: hopCount as HopCount,
    spatialLayer: layer >>> 4,
    temporalLayer: layer & MAX_LAYER,
    streamId: view.getBigUint64(OFFSET.streamId),
    publisherId: view.getBigUint64(OFFSET.publisherId),
    sequence: view.getUint32(OFFSET.sequence),
    frameId: view.getUint32(OFFSET.frameId),
    fragmentIndex,
    fragmentCount,
    captureTimeUs: captureHigh * TWO_POW_32 + view.getUint32(OFFSET.captureTimeUs + 4),
  };
  return ok({ header, payload: bytes.subarray(DATAGRAM_HEADER_LENGTH) });
}

/** Encodes a header and payload into a new datagram, after checking every field's range. */
export function encodeDatagram(
  header: DatagramHeader,
  payload: Uint8Array,
): Result<Uint8Array, DatagramError> {
  const datagram = new Uint8Array(DATAGRAM_HEADER_LENGTH + payload.length);
  const written = encodeHeaderInto(header, payload.length, datagram);
  if (!written.ok) return written;
  datagram.set(payload, DATAGRAM_HEADER_LENGTH);
  return ok(datagram);
}

/**
 * Writes the 42-byte header for a payload of `payloadLength` bytes at the start of `target`,
 * for senders that reuse one buffer. The caller places the payload after the header.
 */
export function encodeHeaderInto(
  header: DatagramHeader,
  payloadLength: number,
  target: Uint8Array,
): Result<Uint8Array, DatagramError> {
  const invalid = validateHeader(header, payloadLength);
  if (invalid !== undefined) return err(invalid);
  if (target.length < DATAGRAM_HEADER_LENGTH) {
    return err({ kind: 'truncated', length: target.length, minimum: DATAGRAM_HEADER_LENGTH });
  }
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  view.setUint8(OFFSET.version, DATAGRAM_VERSION);
  view.setUint8(OFFSET.flags, flagsByte(header));
  view.setUint8(OFFSET.hopCount, header.hopCount);
  view.setUint8(OFFSET.layer, (header.spatialLayer << 4) | header.temporalLayer);
  view.setBigUint64(OFFSET.streamId, header.streamId);
  view.setBigUint64(OFFSET.publisherId, header.publisherId);
  view.setUint32(OFFSET.sequence, header.sequence);
  view.setUint32(OFFSET.frameId, header.frameId);
  view.setUint16(OFFSET.fragmentIndex, header.fragmentIndex);
  view.setUint16(OFFSET.fragmentCount, header.fragmentCount);
  view.setUint32(OFFSET.captureTimeUs, Math.floor(header.captureTimeUs / TWO_POW_32));
  view.setUint32(OFFSET.captureTimeUs + 4, header.captureTimeUs % TWO_POW_32);
  view.setUint16(OFFSET.payloadLength, payloadLength);
  return ok(target);
}

/**
 * Increments the hop count of an encoded datagram in place, for a handler forwarding it to
 * another handler. Checks only what it touches (length and hop limit); returns the new count.
 */
export function incrementHopCount(datagram: Uint8Array): Result<HopCount, DatagramError> {
  if (datagram.length < DATAGRAM_HEADER_LENGTH) {
    return err({ kind: 'truncated', length: datagram.length, minimum: DATAGRAM_HEADER_LENGTH });
  }
  const next = (datagram[OFFSET.hopCount] ?? 0) + 1;
  if (next > MAX_HOP_COUNT) return err({ kind: 'hop-limit-exceeded', hopCount: next });
  datagram[OFFSET.hopCount] = next;
  return ok(next as HopCount);
}

function flagsByte(header: DatagramHeader): number {
  return (
    (header.keyframe ? FLAG_KEYFRAME : 0) |
    (header.endOfFrame ? FLAG_END_OF_FRAME : 0) |
    (header.discardable ? FLAG_DISCARDABLE : 0)
  );
}

function validateHeader(header: DatagramHeader, payloadLength: number): DatagramError | undefined {
  if (!isIntegerIn(header.hopCount, 0, MAX_HOP_COUNT)) {
    return { kind: 'hop-limit-exceeded', hopCount: header.hopCount };
  }
  const rangeError =
    checkRange('spatialLayer', header.spatialLayer, MAX_LAYER) ??
    checkRange('temporalLayer', header.temporalLayer, MAX_LAYER) ??
    checkBigRange('streamId', header.streamId) ??
    checkBigRange('publisherId', header.publisherId) ??
    checkRange('sequence', header.sequence, MAX_UINT32) ??
    checkRange('frameId', header.frameId, MAX_UINT32) ??
    checkRange('fragmentIndex', header.fragmentIndex, MAX_UINT16) ??
    checkRange('fragmentCount', header.fragmentCount, MAX_UINT16) ??
    checkRange('captureTimeUs', header.captureTimeUs, Number.MAX_SAFE_INTEGER) ??
    checkRange('payloadLength', payloadLength, MAX_PAYLOAD_LENGTH);
  if (rangeError !== undefined) return rangeError;
  if (header.fragmentIndex >= header.fragmentCount) {
    return {
      kind: 'fragment-out-of-range',
      fragmentIndex: header.fragmentIndex,
      fragmentCount: header.fragmentCount,
    };
  }
  if (payloadLength === 0) return { kind: 'empty-payload' };
  return undefined;
}

function isIntegerIn(value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max;
}

function checkRange(
  field: keyof DatagramHeader | 'payloadLength',
  value: number,
  max: number,
): DatagramError | undefined {
  return isIntegerIn(value, 0, max) ? undefined : { kind: 'field-out-of-range', field, value };
}

function checkBigRange(
  field: 'streamId' | 'publisherId',
  value: bigint,
): DatagramError | undefined {
  return value >= 0n && value <= MAX_UINT64
    ? undefined
    : { kind: 'field-out-of-range', field, value };
}
