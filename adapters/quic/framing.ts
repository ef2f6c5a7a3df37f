/**
 * Control-stream framing (docs/protocol.md, "QUIC media transport"): each control message is a
 * 4-byte big-endian length, then that many bytes. A message may be empty; one longer than
 * 64 KiB is a protocol error that closes the connection.
 */

export const CONTROL_LENGTH_BYTES = 4;
export const MAX_CONTROL_MESSAGE_BYTES = 65_536;

/** Prefixes `message` with its length. The caller checks the size limit first. */
export function frameControlMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(CONTROL_LENGTH_BYTES + message.length);
  framed.writeUInt32BE(message.length, 0);
  framed.set(message, CONTROL_LENGTH_BYTES);
  return framed;
}

export type ControlDecodeError = {
  readonly kind: 'control-message-too-large';
  readonly declaredLength: number;
};

/**
 * Reassembles whole control messages from stream chunks of any size. After an error the
 * decoder stays failed: the connection is closing.
 */
export class ControlDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private failure: ControlDecodeError | null = null;

  /**
   * Adds `chunk` (copied; the caller may reuse it) and returns the messages it completed, in
   * order, or the error that ends the stream.
   */
  push(chunk: Uint8Array): Uint8Array[] | ControlDecodeError {
    if (this.failure !== null) return this.failure;
    const data =
      this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const messages: Uint8Array[] = [];
    let offset = 0;
    while (data.length - offset >= CONTROL_LENGTH_BYTES) {
      const length = data.readUInt32BE(offset);
      if (length > MAX_CONTROL_MESSAGE_BYTES) {
        this.failure = { kind: 'control-message-too-large', declaredLength: length };
        this.pending = Buffer.alloc(0);
        return this.failure;
      }
      const end = offset + CONTROL_LENGTH_BYTES + length;
      if (end > data.length) break;
      messages.push(data.subarray(offset + CONTROL_LENGTH_BYTES, end));
      offset = end;
    }
    this.pending = offset === data.length ? Buffer.alloc(0) : data.subarray(offset);
    return messages;
  }

  /** Bytes held of a message not yet complete. */
  get bufferedBytes(): number {
    return this.pending.length;
  }
}
