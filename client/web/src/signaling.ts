/**
 * The client's signaling with its Meeting Controller (docs/protocol.md, "Meeting Controller
 * signaling"): protobuf `ClientMessage` out, `ServerMessage` in, over whatever carries them. The
 * session sees only `SignalingTransport`; `WebSocketSignaling` is the carrier today, and a
 * WebTransport carrier (one bidirectional stream, the same messages length-prefixed) plugs in
 * behind the same interface.
 */
import {
  ClientMessage,
  ServerMessage,
} from '../../../services/generated/darktower/mc/v1/signaling.ts';

export const SIGNALING_SUBPROTOCOL = 'darktower-signaling.v1';

export interface SignalingTransport {
  send(message: ClientMessage): void;
  close(code?: number, reason?: string): void;
  onMessage: ((message: ServerMessage) => void) | null;
  /** The connection ended (by either side, or failed); called once. */
  onClose: ((code: number, reason: string) => void) | null;
}

/** Opens a signaling connection to the controller URL GC named. */
export type SignalingConnector = (url: string) => Promise<SignalingTransport>;

class WebSocketSignaling implements SignalingTransport {
  onMessage: ((message: ServerMessage) => void) | null = null;
  onClose: ((code: number, reason: string) => void) | null = null;
  private closed = false;

  constructor(private readonly socket: WebSocket) {
    socket.onmessage = (event: MessageEvent) => {
      if (typeof event.data === 'string') return;
      let message: ServerMessage;
      try {
        message = ServerMessage.decode(new Uint8Array(event.data as ArrayBuffer));
      } catch {
        return;
      }
      this.onMessage?.(message);
    };
    socket.onclose = (event: CloseEvent) => this.ended(event.code, event.reason);
  }

  private ended(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.(code, reason);
  }

  send(message: ClientMessage): void {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(ClientMessage.encode(message).finish());
    }
  }

  close(code = 1000, reason = 'bye'): void {
    this.socket.close(code, reason);
  }
}

/** Signaling over a WebSocket at the controller's `/v1/signaling`. */
export const webSocketSignaling: SignalingConnector = (url) =>
  new Promise((resolve, reject) => {
    const socket = new WebSocket(url, SIGNALING_SUBPROTOCOL);
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => resolve(new WebSocketSignaling(socket));
    socket.onerror = () => reject(new Error(`signaling connection to ${url} failed`));
  });
