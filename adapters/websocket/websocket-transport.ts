/**
 * The Media Handler's WebSocket transport (docs/protocol.md, "WebSocket ingress"): the
 * fallback for clients without WebTransport, and what k6 speaks.
 *
 * Wire format, on `ws://host:port/v1/media` (subprotocol `darktower-media.v1`, selected when
 * the client offers it):
 * - one binary message is one media datagram, as is (42-byte header, then payload);
 * - one text message is one control message: the base64 (RFC 4648 section 4, padded) of a
 *   protobuf message (`darktower.mh.v1.ClientControl` from the client,
 *   `darktower.mh.v1.HandlerControl` from the handler).
 *
 * So "one binary message = one datagram" holds without a framing byte, and a control message
 * can never be mistaken for media. The transport only moves bytes: a binary message larger than
 * `maxDatagramBytes` is dropped and counted; a text message that is not base64 closes that
 * connection (4400); a message over the WebSocket limit (`maxPayload`) or a malformed frame
 * closes that connection (1009, 1002); no other connection is affected.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type {
  DatagramSendFailure,
  MediaConnection,
  MediaTransport,
  MediaTransportEvents,
} from '../../ports/media-transport.ts';
import { IdAllocator } from './ids.ts';

/** The WebSocket subprotocol of the media ingress. */
export const MEDIA_SUBPROTOCOL = 'darktower-media.v1';
/** The path clients connect to. */
export const MEDIA_PATH = '/v1/media';

/** Close codes the transport uses (4000-4999: application codes). */
export const CLOSE_MALFORMED_CONTROL = 4400;

/** What the transport dropped or refused on its own, before the service saw it (counted). */
export type WebSocketTransportDrop =
  /** A binary message longer than `maxDatagramBytes`. */
  | 'oversized-datagram'
  /** A text message that is not padded base64 (the connection is closed). */
  | 'malformed-control'
  /** A frame ws refused (bad opcode, unmasked, bad UTF-8, over `maxPayload`...): closed. */
  | 'malformed-frame'
  /** An upgrade refused: wrong path, or the connection limit reached. */
  | 'refused-upgrade'
  /** A connection cut because it answered no ping. */
  | 'keepalive-timeout';

/** A WebSocket-level error, typed from ws's error codes. */
export interface WebSocketFrameError {
  readonly kind: 'malformed-frame';
  /** ws's code, e.g. `WS_ERR_INVALID_OPCODE`, `WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`. */
  readonly code: string;
}

export interface WebSocketTransportOptions {
  readonly host: string;
  readonly port: number;
  /** Largest datagram carried (default 1,200 bytes). */
  readonly maxDatagramBytes?: number;
  /** Largest control message, decoded (default 8 KiB). */
  readonly maxControlBytes?: number;
  /** A connection with more than this queued for sending drops datagrams (default 1 MiB). */
  readonly maxQueuedBytes?: number;
  /** Upgrades beyond this many open connections are refused 503 (default 10,000). */
  readonly maxConnections?: number;
  /**
   * Every this many ms each connection is pinged; one that has not answered the previous ping
   * is cut (a peer gone without a close). Default 15 s.
   */
  readonly keepaliveMs?: number;
  /** Told of every drop or refusal the transport makes on its own. */
  readonly onDrop?: (reason: WebSocketTransportDrop, error?: WebSocketFrameError) => void;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

class WebSocketConnection implements MediaConnection {
  readonly transport = 'websocket' as const;
  constructor(
    readonly id: number,
    readonly remote: string,
    readonly maxDatagramBytes: number,
    private readonly socket: WebSocket,
    private readonly maxQueuedBytes: number,
  ) {}

  sendDatagram(bytes: Uint8Array): DatagramSendFailure | null {
    const socket = this.socket;
    if (socket.readyState !== WebSocket.OPEN) return 'closed';
    if (bytes.length > this.maxDatagramBytes) return 'too-large';
    if (socket.bufferedAmount > this.maxQueuedBytes) return 'queue-full';
    // ws frames the bytes without copying them (no mask from a server) and the socket keeps a
    // reference until written: the caller must not change them (ports/media-transport.ts).
    socket.send(bytes, BINARY);
    return null;
  }

  /** What the socket has not written yet (datagrams and control messages alike). */
  queuedDatagramBytes(): number {
    return this.socket.bufferedAmount;
  }

  sendControl(message: Uint8Array): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(Buffer.from(message).toString('base64'), TEXT);
  }

  close(code: number, reason: string): void {
    const valid = code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
    if (
      this.socket.readyState === WebSocket.OPEN ||
      this.socket.readyState === WebSocket.CONNECTING
    ) {
      this.socket.close(valid, truncateReason(reason));
    }
  }
}

const BINARY = { binary: true, compress: false } as const;
const TEXT = { binary: false, compress: false } as const;

/** A close reason fits in 123 bytes of UTF-8 (RFC 6455 section 5.5). */
function truncateReason(reason: string): string {
  let text = reason;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
  return text;
}

export class WebSocketMediaTransport implements MediaTransport {
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private readonly ids = new IdAllocator();
  private readonly sockets = new Set<WebSocket>();
  /** Sockets that answered (pong) or sent something since the last ping. */
  private readonly alive = new WeakSet<WebSocket>();
  private keepalive: NodeJS.Timeout | undefined;
  private readonly maxDatagramBytes: number;
  private readonly maxControlBytes: number;
  private readonly maxQueuedBytes: number;
  private readonly maxConnections: number;

  constructor(private readonly options: WebSocketTransportOptions) {
    this.maxDatagramBytes = options.maxDatagramBytes ?? 1_200;
    this.maxControlBytes = options.maxControlBytes ?? 8_192;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 1 << 20;
    this.maxConnections = options.maxConnections ?? 10_000;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  async start(events: MediaTransportEvents): Promise<{ host: string; port: number }> {
    const server = createServer((_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      response.end('WebSocket only');
    });
    const maxControlText = Math.ceil(this.maxControlBytes / 3) * 4;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: Math.max(this.maxDatagramBytes, maxControlText),
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) =>
        protocols.has(MEDIA_SUBPROTOCOL) ? MEDIA_SUBPROTOCOL : false,
    });
    server.on('upgrade', (request: IncomingMessage, socket, head) => {
      const path = (request.url ?? '').split('?')[0];
      const full = this.sockets.size >= this.maxConnections;
      if (path !== MEDIA_PATH || full) {
        this.options.onDrop?.('refused-upgrade');
        socket.end(
          `HTTP/1.1 ${full ? '503 Service Unavailable\r\nRetry-After: 1' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        );
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, request, events));
    });
    this.server = server;
    this.wss = wss;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.keepalive = setInterval(() => this.ping(), this.options.keepaliveMs ?? 15_000);
    this.keepalive.unref();
    const { port } = server.address() as AddressInfo;
    return { host: this.options.host, port };
  }

  private ping(): void {
    for (const ws of this.sockets) {
      if (!this.alive.has(ws)) {
        this.options.onDrop?.('keepalive-timeout');
        ws.terminate();
        continue;
      }
      this.alive.delete(ws);
      ws.ping();
    }
  }

  private accept(ws: WebSocket, request: IncomingMessage, events: MediaTransportEvents): void {
    const id = this.ids.take();
    const remote = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? 0}`;
    const connection = new WebSocketConnection(
      id,
      remote,
      this.maxDatagramBytes,
      ws,
      this.maxQueuedBytes,
    );
    this.sockets.add(ws);
    this.alive.add(ws);
    ws.on('pong', () => this.alive.add(ws));
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        if (data.length > this.maxDatagramBytes) {
          this.options.onDrop?.('oversized-datagram');
          return;
        }
        events.datagram(connection, data);
        return;
      }
      const text = data.toString('latin1');
      if (!BASE64.test(text) || text.length === 0) {
        this.options.onDrop?.('malformed-control');
        connection.close(CLOSE_MALFORMED_CONTROL, 'malformed control message');
        return;
      }
      const message = Buffer.from(text, 'base64');
      if (message.length > this.maxControlBytes) {
        this.options.onDrop?.('malformed-control');
        connection.close(CLOSE_MALFORMED_CONTROL, 'control message too large');
        return;
      }
      events.control(connection, message);
    });
    ws.on('error', (error: Error & { code?: string }) => {
      // ws closes the connection itself (1002, 1007 or 1009) after a frame error, then waits
      // up to 30 s for the peer's close frame; a misbehaving peer gets one second.
      this.options.onDrop?.('malformed-frame', {
        kind: 'malformed-frame',
        code: error.code ?? 'unknown',
      });
      setTimeout(() => ws.terminate(), 1_000).unref();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.sockets.delete(ws);
      this.ids.release(id);
      events.closed(connection, code, reason.toString('utf8'));
    });
    events.opened(connection);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    clearInterval(this.keepalive);
    const closed = [...this.sockets].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close(1001, 'handler stopping');
          setTimeout(() => ws.terminate(), 1_000).unref();
        }),
    );
    await Promise.all(closed);
    this.wss?.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
