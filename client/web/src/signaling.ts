/**
 * The client's signaling with its Meeting Controller (docs/protocol.md, "Meeting Controller
 * signaling"): protobuf `ClientMessage` out, `ServerMessage` in, over whatever carries them. The
 * session sees only `SignalingTransport`. Carriers: native WebTransport over HTTP/3 to the
 * controller's `h3` endpoint GC named, pinned to its certificate hash (one bidirectional
 * stream, the messages length-prefixed), and the controller's WebSocket. `FallbackSignaling`
 * tries them in that order and remembers which one carries the session.
 */
import {
  ClientMessage,
  ServerMessage,
} from '../../../services/generated/darktower/mc/v1/signaling.ts';
import type { ControllerInfo } from './api.ts';
import { hasWebTransport, hashFromHex, openMessageSession } from './webtransport.ts';

export const SIGNALING_SUBPROTOCOL = 'darktower-signaling.v1';

/** What carries signaling or media, best first. */
export type TransportName = 'webtransport' | 'websocket';
export const TRANSPORT_ORDER: readonly TransportName[] = ['webtransport', 'websocket'];

export interface SignalingTransport {
  /** What carries this connection. */
  readonly transport: TransportName;
  send(message: ClientMessage): void;
  close(code?: number, reason?: string): void;
  onMessage: ((message: ServerMessage) => void) | null;
  /** The connection ended (by either side, or failed); called once. */
  onClose: ((code: number, reason: string) => void) | null;
}

/** Opens a signaling connection to the controller GC named. */
export type SignalingConnector = (controller: ControllerInfo) => Promise<SignalingTransport>;

class WebSocketSignaling implements SignalingTransport {
  readonly transport = 'websocket';
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
export const webSocketSignaling: SignalingConnector = ({ url }) =>
  new Promise((resolve, reject) => {
    const socket = new WebSocket(url, SIGNALING_SUBPROTOCOL);
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => resolve(new WebSocketSignaling(socket));
    socket.onerror = () => reject(new Error(`signaling connection to ${url} failed`));
  });

/**
 * Signaling over native WebTransport (HTTP/3) to the controller's first `h3` endpoint, pinned
 * to the certificate hash GC named. Rejects when the browser has no WebTransport, the
 * controller announced no such endpoint, or the session does not open.
 */
export const webTransportSignaling: SignalingConnector = async (controller) => {
  if (!hasWebTransport()) throw new Error('this browser has no WebTransport');
  const endpoint = controller.webTransport.find((e) => e.carrier === 'h3');
  if (endpoint === undefined) throw new Error('the controller announced no WebTransport endpoint');
  const hash = endpoint.certSha256 === '' ? undefined : hashFromHex(endpoint.certSha256);
  const session = await openMessageSession(endpoint.url, hash);
  const signaling: SignalingTransport = {
    transport: 'webtransport',
    onMessage: null,
    onClose: null,
    send: (message) => session.send(ClientMessage.encode(message).finish()),
    close: (code = 1000, reason = 'bye') => session.close(code, reason),
  };
  session.onMessage = (bytes) => {
    let message: ServerMessage;
    try {
      message = ServerMessage.decode(bytes);
    } catch {
      return;
    }
    signaling.onMessage?.(message);
  };
  session.onClose = (code, reason) => signaling.onClose?.(code, reason);
  return signaling;
};

const SIGNALING_CONNECTORS: Record<TransportName, SignalingConnector> = {
  webtransport: webTransportSignaling,
  websocket: webSocketSignaling,
};

/**
 * Tries each transport of `order` in turn (native WebTransport, then WebSocket) and keeps the
 * first that opens. `inUse` names the one carrying the latest connection; `failures` what the
 * others said.
 */
export class FallbackSignaling {
  inUse: TransportName | undefined;
  readonly failures: string[] = [];

  constructor(
    readonly order: readonly TransportName[] = TRANSPORT_ORDER,
    private readonly connectors: Record<TransportName, SignalingConnector> = SIGNALING_CONNECTORS,
  ) {}

  readonly connect: SignalingConnector = async (controller) => {
    let last: Error | undefined;
    for (const name of this.order) {
      try {
        const connection = await this.connectors[name](controller);
        this.inUse = name;
        return connection;
      } catch (error) {
        last = error instanceof Error ? error : new Error(String(error));
        this.failures.push(`${name}: ${last.message}`);
      }
    }
    throw last ?? new Error('no signaling transport to try');
  };
}
