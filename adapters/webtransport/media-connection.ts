/**
 * A WebTransport session as a `MediaConnection` (ports/media-transport.ts): its datagrams are
 * the media datagrams, and the first bidirectional stream the client opens carries the control
 * messages, framed as on the QUIC media transport (a 4-byte big-endian length, then the
 * message: docs/protocol.md, "WebTransport"). Any other stream the client opens is reset.
 * The Media Handler takes its hello there; the Meeting Controller its signaling messages.
 */
import type { DatagramSendFailure, MediaConnection } from '../../ports/media-transport.ts';
import { ControlDecoder, frameControlMessage, MAX_CONTROL_MESSAGE_BYTES } from '../quic/framing.ts';
import {
  ControlMessageTooLargeError,
  MAX_CONTROL_BACKLOG_BYTES,
  QuicCloseCode,
  STREAM_REFUSED_CODE,
} from '../quic/link.ts';
import type { WebTransportSession, WebTransportStream } from './h3.ts';

export interface WebTransportConnectionEvents {
  datagram(connection: WebTransportMediaConnection, bytes: Uint8Array): void;
  control(connection: WebTransportMediaConnection, message: Uint8Array): void;
  closed(connection: WebTransportMediaConnection, code: number, reason: string): void;
  /** A stream besides the control stream, reset. */
  streamRefused?(connection: WebTransportMediaConnection): void;
}

export class WebTransportMediaConnection implements MediaConnection {
  readonly transport = 'webtransport' as const;
  private control: WebTransportStream | null = null;
  private readonly decoder = new ControlDecoder();
  /** Control messages the server has before the client opened the control stream. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private ended = false;

  constructor(
    readonly id: number,
    readonly session: WebTransportSession,
    readonly remote: string,
    private readonly events: WebTransportConnectionEvents,
  ) {
    session.events = {
      datagram: (payload) => {
        if (!this.ended) this.events.datagram(this, payload);
      },
      stream: (stream) => this.onStream(stream),
      closed: (code, reason) => {
        if (this.ended) return;
        this.ended = true;
        this.events.closed(this, code, reason);
      },
    };
  }

  /** The session's path (`/v1/media`, `/v1/signaling`). */
  get path(): string {
    return this.session.request.path;
  }

  get maxDatagramBytes(): number {
    return this.session.maxDatagramBytes;
  }

  sendDatagram(bytes: Uint8Array): DatagramSendFailure | null {
    return this.session.sendDatagram(bytes);
  }

  queuedDatagramBytes(): number {
    return this.session.queuedDatagramBytes();
  }

  sendControl(message: Uint8Array): void {
    if (message.length > MAX_CONTROL_MESSAGE_BYTES) {
      throw new ControlMessageTooLargeError(message.length);
    }
    if (this.ended) return;
    const framed = frameControlMessage(message);
    if (this.control === null) {
      if (this.pendingBytes + framed.length > MAX_CONTROL_BACKLOG_BYTES) {
        this.close(QuicCloseCode.controlBacklog, 'control backlog too large');
        return;
      }
      this.pending.push(framed);
      this.pendingBytes += framed.length;
      return;
    }
    if (!this.control.write(framed)) {
      this.close(QuicCloseCode.controlBacklog, 'control backlog too large');
    }
  }

  close(code: number, reason: string): void {
    this.session.close(code, reason);
  }

  private onStream(stream: WebTransportStream): void {
    if (this.control !== null || this.ended) {
      stream.reset(STREAM_REFUSED_CODE);
      this.events.streamRefused?.(this);
      return;
    }
    this.control = stream;
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const framed of pending) stream.write(framed);
    stream.listen({
      data: (chunk) => {
        if (this.ended) return;
        const messages = this.decoder.push(chunk);
        if (!Array.isArray(messages)) {
          this.close(QuicCloseCode.controlMessageTooLarge, 'control message too large');
          return;
        }
        for (const message of messages) {
          this.events.control(this, message);
          if (this.ended) return;
        }
      },
      end: () => this.close(QuicCloseCode.controlStreamEnded, 'control stream finished'),
      reset: () => {
        if (!this.ended) this.close(QuicCloseCode.controlStreamEnded, 'control stream reset');
      },
    });
  }
}
