/**
 * Stream framing of WebTransport signaling and of the media session's control stream
 * (docs/protocol.md, "QUIC media transport", "Meeting Controller signaling"): each message is
 * a 4-byte big-endian length, then that many bytes (at most 64 KiB). The browser's copy of
 * adapters/quic/framing.ts, on plain `Uint8Array`s.
 */
export const LENGTH_BYTES = 4;
export const MAX_MESSAGE_BYTES = 65_536;

/** `message` with its length in front. */
export function frame(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(LENGTH_BYTES + message.length);
  new DataView(framed.buffer).setUint32(0, message.length);
  framed.set(message, LENGTH_BYTES);
  return framed;
}

/** Whole messages out of stream chunks of any size; `undefined` once a length is too large. */
export class Deframer {
  private pending = new Uint8Array(0);
  private failed = false;

  push(chunk: Uint8Array): Uint8Array[] | undefined {
    if (this.failed) return undefined;
    let data = chunk;
    if (this.pending.length > 0) {
      data = new Uint8Array(this.pending.length + chunk.length);
      data.set(this.pending);
      data.set(chunk, this.pending.length);
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const messages: Uint8Array[] = [];
    let offset = 0;
    while (data.length - offset >= LENGTH_BYTES) {
      const length = view.getUint32(offset);
      if (length > MAX_MESSAGE_BYTES) {
        this.failed = true;
        this.pending = new Uint8Array(0);
        return undefined;
      }
      const end = offset + LENGTH_BYTES + length;
      if (end > data.length) break;
      messages.push(data.slice(offset + LENGTH_BYTES, end));
      offset = end;
    }
    this.pending = data.slice(offset);
    return messages;
  }
}
