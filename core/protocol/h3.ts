/**
 * HTTP/3 wire pieces for WebTransport (docs/protocol.md, "WebTransport"): QUIC variable-length
 * integers (RFC 9000 section 16), HTTP/3 frames and SETTINGS (RFC 9114 section 7), capsules
 * (RFC 9297 section 3.2, the same type-length-value shape as a frame), and the
 * CLOSE_WEBTRANSPORT_SESSION capsule (draft-ietf-webtrans-http3).
 *
 * Pure functions over byte arrays. A reader given bytes that end inside a value answers
 * `ok(null)` ("need more"), so a stream's bytes can be parsed as they arrive; bad bytes are a
 * typed error. Numbers are JavaScript numbers: a varint above 2^53 - 1 is refused rather than
 * rounded (no field this layer reads needs more).
 */
import { err, ok, type Result } from '../result.ts';

export type H3WireError =
  /** A varint above 2^53 - 1. */
  | { readonly kind: 'varint-unsafe' }
  /** A frame or capsule declared longer than the reader allows. */
  | { readonly kind: 'frame-too-large'; readonly type: number; readonly length: number }
  /** A SETTINGS payload that ends inside a pair. */
  | { readonly kind: 'settings-truncated' }
  /** A setting given twice. */
  | { readonly kind: 'settings-duplicate'; readonly id: number }
  /** An HTTP/2 setting id (0x02 to 0x05), an error in HTTP/3 (RFC 9114 section 7.2.4.1). */
  | { readonly kind: 'settings-reserved'; readonly id: number }
  /** A CLOSE_WEBTRANSPORT_SESSION capsule shorter than its 4-byte code, or a reason too long. */
  | { readonly kind: 'close-capsule-malformed' };

/** The largest value a varint can hold (2^62 - 1) is beyond safe integers: this is the cap. */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER;

/** Bytes a varint of `value` takes (1, 2, 4 or 8). */
export function varintLength(value: number): 1 | 2 | 4 | 8 {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x4000_0000) return 4;
  return 8;
}

/** Writes `value` (a non-negative safe integer) at `offset`; returns the offset after it. */
export function writeVarint(target: Uint8Array, offset: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`bad varint ${value}`);
  const length = varintLength(value);
  if (length === 1) {
    target[offset] = value;
  } else if (length === 2) {
    target[offset] = 0x40 | (value >>> 8);
    target[offset + 1] = value & 0xff;
  } else if (length === 4) {
    target[offset] = 0x80 | (value >>> 24);
    target[offset + 1] = (value >>> 16) & 0xff;
    target[offset + 2] = (value >>> 8) & 0xff;
    target[offset + 3] = value & 0xff;
  } else {
    const high = Math.floor(value / 0x1_0000_0000);
    const low = value >>> 0;
    target[offset] = 0xc0 | (high >>> 24);
    target[offset + 1] = (high >>> 16) & 0xff;
    target[offset + 2] = (high >>> 8) & 0xff;
    target[offset + 3] = high & 0xff;
    target[offset + 4] = low >>> 24;
    target[offset + 5] = (low >>> 16) & 0xff;
    target[offset + 6] = (low >>> 8) & 0xff;
    target[offset + 7] = low & 0xff;
  }
  return offset + length;
}

export function encodeVarint(value: number): Uint8Array {
  const out = new Uint8Array(varintLength(value));
  writeVarint(out, 0, value);
  return out;
}

/** A value read and the offset just after it. */
export interface Read<T> {
  readonly value: T;
  readonly next: number;
}

/** Reads a varint at `offset`; `ok(null)` when the bytes end inside it. */
export function readVarint(
  bytes: Uint8Array,
  offset: number,
): Result<Read<number> | null, H3WireError> {
  if (offset >= bytes.length) return ok(null);
  const first = bytes[offset]!;
  const length = 1 << (first >> 6);
  if (offset + length > bytes.length) return ok(null);
  let value = first & 0x3f;
  for (let i = 1; i < length; i++) {
    value = value * 256 + bytes[offset + i]!;
  }
  if (value > MAX_VARINT) return err({ kind: 'varint-unsafe' });
  return ok({ value, next: offset + length });
}

/** HTTP/3 frame types this layer sends or reads (RFC 9114 section 7.2). */
export const H3_FRAME = { data: 0x00, headers: 0x01, settings: 0x04, goaway: 0x07 } as const;

/** HTTP/3 unidirectional stream types (RFC 9114 section 6.2, RFC 9204 section 4.2). */
export const H3_STREAM_TYPE = {
  control: 0x00,
  push: 0x01,
  qpackEncoder: 0x02,
  qpackDecoder: 0x03,
  /** A WebTransport unidirectional stream (draft-ietf-webtrans-http3). */
  webTransportUni: 0x54,
} as const;

/** The signal value that opens a WebTransport bidirectional stream (draft-ietf-webtrans-http3). */
export const WEBTRANSPORT_BIDI_SIGNAL = 0x41;

/** Settings identifiers (RFC 9114 section 7.2.4.1, RFC 9220, RFC 9297, webtrans drafts). */
export const H3_SETTING = {
  qpackMaxTableCapacity: 0x01,
  maxFieldSectionSize: 0x06,
  qpackBlockedStreams: 0x07,
  enableConnectProtocol: 0x08,
  h3Datagram: 0x33,
  /** draft-ietf-masque-h3-datagram-04, which Chromium still sends beside 0x33. */
  h3DatagramDraft04: 0xffd277,
  /** SETTINGS_ENABLE_WEBTRANSPORT of draft-ietf-webtrans-http3-02. */
  enableWebTransportDraft02: 0x2b603742,
  /** SETTINGS_WEBTRANS_MAX_SESSIONS of draft-ietf-webtrans-http3-07 and later. */
  webTransportMaxSessions: 0xc671706a,
} as const;

/** Capsule types (RFC 9297, draft-ietf-webtrans-http3). */
export const CAPSULE = {
  datagram: 0x00,
  closeWebTransportSession: 0x2843,
  drainWebTransportSession: 0x78ae,
} as const;

/** Encodes one frame (or capsule: the same shape): type, length, payload. */
export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(varintLength(type) + varintLength(payload.length) + payload.length);
  let offset = writeVarint(out, 0, type);
  offset = writeVarint(out, offset, payload.length);
  out.set(payload, offset);
  return out;
}

export interface Frame {
  readonly type: number;
  /** A view into the input (not copied). */
  readonly payload: Uint8Array;
}

/**
 * Reads one frame at `offset`: `ok(null)` when it is not complete yet, an error when it
 * declares a payload longer than `maxPayload`.
 */
export function readFrame(
  bytes: Uint8Array,
  offset: number,
  maxPayload: number,
): Result<Read<Frame> | null, H3WireError> {
  const type = readVarint(bytes, offset);
  if (!type.ok) return type;
  if (type.value === null) return ok(null);
  const length = readVarint(bytes, type.value.next);
  if (!length.ok) return length;
  if (length.value === null) return ok(null);
  if (length.value.value > maxPayload) {
    return err({ kind: 'frame-too-large', type: type.value.value, length: length.value.value });
  }
  const start = length.value.next;
  const end = start + length.value.value;
  if (end > bytes.length) return ok(null);
  return ok({ value: { type: type.value.value, payload: bytes.subarray(start, end) }, next: end });
}

/** Encodes a SETTINGS payload (the pairs, without the frame header). */
export function encodeSettings(settings: ReadonlyMap<number, number>): Uint8Array {
  let length = 0;
  for (const [id, value] of settings) length += varintLength(id) + varintLength(value);
  const out = new Uint8Array(length);
  let offset = 0;
  for (const [id, value] of settings) {
    offset = writeVarint(out, offset, id);
    offset = writeVarint(out, offset, value);
  }
  return out;
}

/** Decodes a SETTINGS payload; unknown ids are kept (the caller ignores what it does not know). */
export function decodeSettings(payload: Uint8Array): Result<Map<number, number>, H3WireError> {
  const settings = new Map<number, number>();
  let offset = 0;
  while (offset < payload.length) {
    const id = readVarint(payload, offset);
    if (!id.ok) return id;
    if (id.value === null) return err({ kind: 'settings-truncated' });
    const value = readVarint(payload, id.value.next);
    if (!value.ok) return value;
    if (value.value === null) return err({ kind: 'settings-truncated' });
    const key = id.value.value;
    if (key >= 0x02 && key <= 0x05) return err({ kind: 'settings-reserved', id: key });
    if (settings.has(key)) return err({ kind: 'settings-duplicate', id: key });
    settings.set(key, value.value.value);
    offset = value.value.next;
  }
  return ok(settings);
}

/** The longest reason a CLOSE_WEBTRANSPORT_SESSION capsule may carry (draft: 1,024 bytes). */
export const MAX_CLOSE_REASON_BYTES = 1024;

/** The payload of CLOSE_WEBTRANSPORT_SESSION: a 32-bit code, then the reason in UTF-8. */
export function encodeCloseSession(code: number, reason: Uint8Array): Uint8Array {
  const cut = reason.subarray(0, MAX_CLOSE_REASON_BYTES);
  const out = new Uint8Array(4 + cut.length);
  out[0] = (code >>> 24) & 0xff;
  out[1] = (code >>> 16) & 0xff;
  out[2] = (code >>> 8) & 0xff;
  out[3] = code & 0xff;
  out.set(cut, 4);
  return out;
}

export function decodeCloseSession(
  payload: Uint8Array,
): Result<{ code: number; reason: Uint8Array }, H3WireError> {
  if (payload.length < 4 || payload.length > 4 + MAX_CLOSE_REASON_BYTES) {
    return err({ kind: 'close-capsule-malformed' });
  }
  const code = ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) >>> 0;
  return ok({ code, reason: payload.subarray(4) });
}

/**
 * An HTTP datagram's prefix for a WebTransport session (RFC 9297 section 2.1): the quarter
 * stream id of the session's CONNECT stream.
 */
export function datagramPrefix(sessionId: number): Uint8Array {
  return encodeVarint(sessionId / 4);
}

/** Splits an HTTP datagram into its session id and payload (a view); null when malformed. */
export function readHttpDatagram(
  bytes: Uint8Array,
): Result<{ sessionId: number; payload: Uint8Array } | null, H3WireError> {
  const quarter = readVarint(bytes, 0);
  if (!quarter.ok) return quarter;
  if (quarter.value === null) return ok(null);
  return ok({
    sessionId: quarter.value.value * 4,
    payload: bytes.subarray(quarter.value.next),
  });
}
