/**
 * Meeting Controller signaling frames for the k6 join storm (docs/protocol.md, "Meeting
 * Controller signaling"; proto/darktower/mc/v1/signaling.proto): `ClientMessage` encoded and
 * `ServerMessage` read by hand, with no imports, so k6 runs it as it is; its test checks it
 * against the ts-proto codecs the controller uses.
 */
import { field, readVarint, utf8 } from './mh-wire.ts';

/** The WebSocket subprotocol of signaling. */
export const SIGNALING_SUBPROTOCOL = 'darktower-signaling.v1';

/** `ClientMessage{join{access_token, meeting_id, layout, region}}`. */
export function joinBytes(join: {
  readonly accessToken: string;
  readonly meetingId: string;
  readonly layout?: string;
  readonly region?: string;
}): ArrayBuffer {
  const body = [
    ...field(1, utf8(join.accessToken)),
    ...field(2, utf8(join.meetingId)),
    ...(join.layout ? field(3, utf8(join.layout)) : []),
    ...(join.region ? field(4, utf8(join.region)) : []),
  ];
  return new Uint8Array(field(1, body)).buffer;
}

/** `ClientMessage{leave{}}`. */
export function leaveBytes(): ArrayBuffer {
  return new Uint8Array(field(4, [])).buffer;
}

/** `ClientMessage{heartbeat{}}`. */
export function heartbeatBytes(): ArrayBuffer {
  return new Uint8Array(field(5, [])).buffer;
}

const SERVER_KINDS = [
  'unknown',
  'join-response',
  'join-rejected',
  'participants',
  'layout',
  'move',
  'key-material',
  'error',
  'connection-token',
] as const;

export type ServerKind = (typeof SERVER_KINDS)[number];

/** A server message: its kind and the few fields a load run reads. */
export interface ServerFrame {
  readonly kind: ServerKind;
  /** JoinResponse.participant_id. */
  readonly participantId?: string;
  /** JoinResponse.media_handler.id. */
  readonly handler?: string;
  /** JoinRejected.reason or Error.kind (the enum's number). */
  readonly code?: number;
  /** JoinRejected.retry_after_ms or Error.retry_after_ms. */
  readonly retryAfterMs?: number;
}

/** Each field of a protobuf message: number, wire type, value (varint) or bytes (length-delimited). */
function* fields(
  bytes: Uint8Array,
): Generator<{ number: number; wire: number; value: number; body: Uint8Array }> {
  let at = 0;
  while (at < bytes.length) {
    const [tag, afterTag] = readVarint(bytes, at);
    if (tag < 0) return;
    const wire = tag & 7;
    const number = Math.floor(tag / 8);
    if (wire === 0) {
      const [value, next] = readVarint(bytes, afterTag);
      if (value < 0) return;
      yield { number, wire, value, body: new Uint8Array(0) };
      at = next;
    } else if (wire === 2) {
      const [length, start] = readVarint(bytes, afterTag);
      if (length < 0 || start + length > bytes.length) return;
      yield { number, wire, value: length, body: bytes.subarray(start, start + length) };
      at = start + length;
    } else {
      return; // no other wire type in these messages
    }
  }
}

/** UTF-8 bytes as a string (invalid sequences become U+FFFD). */
export function fromUtf8(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const extra = b < 0x80 ? 0 : b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : -1;
    if (extra < 0 || i + extra >= bytes.length + (extra === 0 ? 1 : 0)) {
      out += '\ufffd';
      i++;
      continue;
    }
    let code = extra === 0 ? b : b & (0x3f >> extra);
    for (let k = 1; k <= extra; k++) code = (code << 6) | ((bytes[i + k] as number) & 0x3f);
    out += String.fromCodePoint(code);
    i += extra + 1;
  }
  return out;
}

/** Reads a `ServerMessage`; kind `unknown` when it is none of the known ones. */
export function readServerMessage(bytes: Uint8Array): ServerFrame {
  for (const outer of fields(bytes)) {
    if (outer.wire !== 2) continue;
    const kind = SERVER_KINDS[outer.number] ?? 'unknown';
    if (kind === 'join-response') {
      let participantId = '';
      let handler = '';
      for (const f of fields(outer.body)) {
        if (f.number === 1 && f.wire === 2) participantId = fromUtf8(f.body);
        if (f.number === 3 && f.wire === 2) {
          for (const h of fields(f.body))
            if (h.number === 1 && h.wire === 2) handler = fromUtf8(h.body);
        }
      }
      return { kind, participantId, handler };
    }
    if (kind === 'join-rejected' || kind === 'error') {
      let code = 0;
      let retryAfterMs = 0;
      for (const f of fields(outer.body)) {
        if (f.number === 1 && f.wire === 0) code = f.value;
        if (f.number === (kind === 'error' ? 3 : 2) && f.wire === 0) retryAfterMs = f.value;
      }
      return { kind, code, retryAfterMs };
    }
    return { kind };
  }
  return { kind: 'unknown' };
}
