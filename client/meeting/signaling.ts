/**
 * A client of Meeting Controller signaling (docs/protocol.md, "Meeting Controller signaling"):
 * one WebSocket at `/v1/signaling`, binary protobuf `ClientMessage` out and `ServerMessage` in.
 * Browser and Node (pass the `ws` package's WebSocket in Node 20). It keeps every message it
 * received, in order, so a caller can wait for the first one of a kind.
 */
import type { WebSocketConstructor, WebSocketLike } from '../media/index.ts';
import {
  ClientMessage,
  ServerMessage,
} from '../../services/generated/darktower/mc/v1/signaling.ts';

export const SIGNALING_SUBPROTOCOL = 'darktower-signaling.v1';

const OPEN = 1;

export class SignalingTimeout extends Error {
  override readonly name = 'SignalingTimeout';
}

export class SignalingConnection {
  /** Every message received so far, in order. */
  readonly received: ServerMessage[] = [];
  /** Called for each message as it arrives (after it is appended to `received`). */
  onMessage: ((message: ServerMessage) => void) | null = null;
  /** A binary message that did not decode. */
  onMalformed: ((bytes: Uint8Array) => void) | null = null;
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];
  private isClosed = false;

  private constructor(
    private readonly socket: WebSocketLike,
    closed: Promise<{ code: number; reason: string }>,
  ) {
    this.closed = closed;
  }

  /** Opens a connection to `url` (`ws://host:port/v1/signaling`). */
  static open(
    url: string,
    options: { readonly WebSocket?: WebSocketConstructor; readonly timeoutMs?: number } = {},
  ): Promise<SignalingConnection> {
    const Socket =
      options.WebSocket ??
      (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Socket === undefined) throw new Error('no WebSocket class: pass one (e.g. ws)');
    const socket = new Socket(url, SIGNALING_SUBPROTOCOL);
    socket.binaryType = 'arraybuffer';
    let resolveClosed: (value: { code: number; reason: string }) => void = () => undefined;
    const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
    const connection = new SignalingConnection(socket, closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.close(1000, 'open timeout');
        reject(new SignalingTimeout(`signaling: ${url} did not open in time`));
      }, options.timeoutMs ?? 10_000);
      socket.onopen = () => {
        clearTimeout(timer);
        resolve(connection);
      };
      socket.onerror = () => undefined;
      socket.onclose = (event) => {
        clearTimeout(timer);
        connection.isClosed = true;
        resolveClosed({ code: event.code, reason: event.reason });
        connection.wake();
        reject(new Error(`signaling: ${url} closed (${event.code}) before it opened`));
      };
      socket.onmessage = (event) => {
        if (typeof event.data === 'string') return;
        const bytes = new Uint8Array(event.data as ArrayBuffer);
        let message: ServerMessage;
        try {
          message = ServerMessage.decode(bytes);
        } catch {
          connection.onMalformed?.(bytes);
          return;
        }
        connection.received.push(message);
        connection.onMessage?.(message);
        connection.wake();
      };
    });
  }

  get open(): boolean {
    return !this.isClosed && this.socket.readyState === OPEN;
  }

  send(message: ClientMessage): void {
    if (this.open) this.socket.send(ClientMessage.encode(message).finish());
  }

  /**
   * The first message received (since the start) that `pick` accepts, waiting up to
   * `timeoutMs`; rejects when the connection closes first.
   */
  async next<T>(pick: (message: ServerMessage) => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const message of this.received) {
        const picked = pick(message);
        if (picked !== undefined) return picked;
      }
      if (this.isClosed) throw new Error('signaling closed before the expected message');
      const left = deadline - Date.now();
      if (left <= 0) throw new SignalingTimeout('signaling: no such message in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(code = 1000, reason = 'bye'): Promise<{ code: number; reason: string }> {
    if (!this.isClosed) this.socket.close(code, reason);
    return this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
