// The Media Handler's WebSocket wire format in plain JavaScript, for k6 (docs/protocol.md,
// "WebSocket ingress"): no imports, so k6 and Node (its test) run the same code.

/** Bytes of a protobuf varint. */
function varint(value) {
  const bytes = [];
  let n = value;
  while (n >= 0x80) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return bytes;
}

/** UTF-8 bytes of an ASCII token (connection tokens are base64url and dots). */
function ascii(text) {
  const bytes = [];
  for (let i = 0; i < text.length; i++) bytes.push(text.charCodeAt(i) & 0x7f);
  return bytes;
}

/** `ClientControl{hello{connection_token}}` as protobuf bytes (an ArrayBuffer). */
export function helloBytes(token) {
  const tokenBytes = ascii(token);
  const inner = [0x0a, ...varint(tokenBytes.length), ...tokenBytes];
  return new Uint8Array([0x0a, ...varint(inner.length), ...inner]).buffer;
}

/**
 * One datagram from a 42-byte header template (hex, from loadtest/k6/prepare.ts): the
 * template's ids and flags, `sequence` and `frameId` written in, a payload of `payloadLength`
 * bytes. Returns an ArrayBuffer.
 */
export function datagramBytes(templateHex, sequence, frameId, payloadLength) {
  const bytes = new Uint8Array(42 + payloadLength);
  for (let i = 0; i < 42; i++) bytes[i] = parseInt(templateHex.slice(i * 2, i * 2 + 2), 16);
  const view = new DataView(bytes.buffer);
  view.setUint32(20, sequence >>> 0);
  view.setUint32(24, frameId >>> 0);
  view.setUint16(28, 0); // fragment index
  view.setUint16(30, 1); // fragment count
  view.setUint16(40, payloadLength);
  for (let i = 42; i < bytes.length; i++) bytes[i] = i & 0xff;
  return bytes.buffer;
}

const ANSWERS = { 1: 'hello-answer', 2: 'session-closed' };
const OUTCOMES = { 1: 'accepted', 2: 'redirected', 3: 'rejected' };

/** Reads a varint at `at`: [value, next offset]. */
function readVarint(bytes, at) {
  let value = 0;
  let scale = 1;
  let i = at;
  for (;;) {
    const byte = bytes[i++];
    if (byte === undefined) return [-1, i];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, i];
    scale *= 128;
  }
}

/**
 * What a handler's control message (protobuf bytes) is: `accepted`, `redirected`, `rejected`
 * (hello answers), `session-closed`, or `unknown`.
 */
export function controlKind(bytes) {
  const kind = ANSWERS[bytes[0] >> 3];
  if (kind === 'session-closed') return kind;
  if (kind !== 'hello-answer') return 'unknown';
  const [, next] = readVarint(bytes, 1);
  return OUTCOMES[bytes[next] >> 3] || 'unknown';
}
