/**
 * The Media Handler's WebSocket wire format for the k6 scripts (docs/protocol.md, "WebSocket
 * ingress", "Media datagram"): no imports and no runtime API, so k6 and vitest run the same
 * code (its test checks it against the project's codecs).
 */

/** Bytes of a protobuf varint. */
export function varint(value: number): number[] {
  const bytes: number[] = [];
  let n = value;
  while (n >= 0x80) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return bytes;
}

/** UTF-8 bytes of a string (tokens, ids and meeting codes are ASCII; others are encoded too). */
export function utf8(text: string): number[] {
  const bytes: number[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (code < 0x80) bytes.push(code);
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 0x3f));
    else if (code < 0x10000)
      bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
    else
      bytes.push(
        0xf0 | (code >> 18),
        0x80 | ((code >> 12) & 0x3f),
        0x80 | ((code >> 6) & 0x3f),
        0x80 | (code & 0x3f),
      );
  }
  return bytes;
}

/** A length-delimited protobuf field: tag, length, bytes. */
export function field(number: number, bytes: readonly number[]): number[] {
  return [...varint((number << 3) | 2), ...varint(bytes.length), ...bytes];
}

/** `ClientControl{hello{connection_token}}` as protobuf bytes. */
export function helloBytes(token: string): ArrayBuffer {
  return new Uint8Array(field(1, field(1, utf8(token)))).buffer;
}

export const HEADER_LENGTH = 42;

/** The 42 header bytes of a prepared template (hex, from loadtest/k6/prepare.ts). */
export function templateBytes(templateHex: string): Uint8Array {
  if (!/^[0-9a-f]{84}$/i.test(templateHex)) throw new RangeError('a template is 84 hex digits');
  const bytes = new Uint8Array(HEADER_LENGTH);
  for (let i = 0; i < HEADER_LENGTH; i++) {
    bytes[i] = parseInt(templateHex.slice(i * 2, i * 2 + 2), 16);
  }
  return bytes;
}

/**
 * RFC 9605 SFrame header for (kid, ctr), minimal encoding: values below 8 in the config byte's
 * 3 bits, larger ones in 1-8 big-endian bytes after it. Numbers up to 2^53 - 1.
 */
export function sframeHeader(kid: number, ctr: number): number[] {
  const big = (value: number): number[] => {
    const bytes: number[] = [];
    for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
    return bytes;
  };
  const nibble = (value: number, bytes: number[]) => (value < 8 ? value : 0x8 | (bytes.length - 1));
  const kidBytes = kid < 8 ? [] : big(kid);
  const ctrBytes = ctr < 8 ? [] : big(ctr);
  return [(nibble(kid, kidBytes) << 4) | nibble(ctr, ctrBytes), ...kidBytes, ...ctrBytes];
}

/**
 * One media datagram from a header template: `sequence` and `frameId` written in, one
 * fragment, the capture time (microseconds) in the header, and an SFrame-shaped payload of
 * `payloadLength` bytes (the SFrame header for `kid` and CTR = sequence, then filler
 * ciphertext the handler never reads).
 */
export function mediaDatagram(
  template: Uint8Array,
  sequence: number,
  captureTimeUs: number,
  payloadLength: number,
  kid = 1,
): ArrayBuffer {
  const sframe = sframeHeader(kid, sequence);
  if (payloadLength < sframe.length + 1 || payloadLength > 0xffff) {
    throw new RangeError(`payload of ${payloadLength} bytes`);
  }
  const bytes = new Uint8Array(HEADER_LENGTH + payloadLength);
  bytes.set(template, 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(20, sequence >>> 0);
  view.setUint32(24, sequence >>> 0); // one datagram per frame: frame id = sequence
  view.setUint16(28, 0);
  view.setUint16(30, 1);
  view.setUint32(32, Math.floor(captureTimeUs / 0x1_0000_0000));
  view.setUint32(36, captureTimeUs >>> 0);
  view.setUint16(40, payloadLength);
  bytes.set(sframe, HEADER_LENGTH);
  for (let i = HEADER_LENGTH + sframe.length; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes.buffer;
}

/** The header fields a receiver checks. */
export interface ReceivedHeader {
  /** The stream id as 16 hex digits (a map key; k6 has no bigint on its wire path). */
  readonly stream: string;
  readonly sequence: number;
  readonly captureTimeUs: number;
  readonly hopCount: number;
}

/** Reads a received datagram's header; null when it is shorter than a header or another version. */
export function readHeader(bytes: Uint8Array): ReceivedHeader | null {
  if (bytes.length < HEADER_LENGTH || bytes[0] !== 1) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let stream = '';
  for (let i = 4; i < 12; i++) stream += (bytes[i] as number).toString(16).padStart(2, '0');
  return {
    stream,
    sequence: view.getUint32(20),
    captureTimeUs: view.getUint32(32) * 0x1_0000_0000 + view.getUint32(36),
    hopCount: bytes[2] as number,
  };
}

const ANSWERS: Record<number, string> = { 1: 'hello-answer', 2: 'session-closed' };
const OUTCOMES: Record<number, 'accepted' | 'redirected' | 'rejected'> = {
  1: 'accepted',
  2: 'redirected',
  3: 'rejected',
};

/** Reads a varint at `at`: [value, next offset]; value -1 when the bytes end inside it. */
export function readVarint(bytes: Uint8Array, at: number): [number, number] {
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

export type ControlKind = 'accepted' | 'redirected' | 'rejected' | 'session-closed' | 'unknown';

/** What a handler's control message (protobuf bytes) is. */
export function controlKind(bytes: Uint8Array): ControlKind {
  const kind = ANSWERS[(bytes[0] ?? 0) >> 3];
  if (kind === 'session-closed') return kind;
  if (kind !== 'hello-answer') return 'unknown';
  const [, next] = readVarint(bytes, 1);
  return OUTCOMES[(bytes[next] ?? 0) >> 3] ?? 'unknown';
}

/**
 * One subscriber's view of one stream: sequence numbers skipped (gaps) and datagrams older
 * than one already seen (late), over the header's 32-bit sequence.
 */
export class SequenceTracker {
  received = 0;
  skipped = 0;
  late = 0;
  private next: number | null = null;

  /** Records a datagram; returns how many sequence numbers it skipped (0 in order). */
  receive(sequence: number): number {
    this.received++;
    if (this.next === null) {
      this.next = (sequence + 1) >>> 0;
      return 0;
    }
    const ahead = (sequence - this.next) >>> 0;
    if (ahead < 0x8000_0000) {
      this.skipped += ahead;
      this.next = (sequence + 1) >>> 0;
      return ahead;
    }
    this.late++;
    return 0;
  }
}
