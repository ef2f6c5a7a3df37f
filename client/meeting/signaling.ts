/**
 * A client of Meeting Controller signaling (docs/protocol.md, "Meeting Controller signaling"):
 * one WebSocket at `/v1/signaling` (or any carrier of the same messages, `SignalingPort`),
 * binary protobuf `ClientMessage` out and `ServerMessage` in. Browser and Node (pass the `ws`
 * package's WebSocket in Node 20). It keeps every message it received, in order, so a caller
 * can wait for the first one of a kind.
 */
import type { WebSocketConstructor } from '../media/client.ts';
import {
  ClientMessage,
  ServerMessage,
} from '../../services/generated/darktower/mc/v1/signaling.ts';

export const SIGNALING_SUBPROTOCOL = 'darktower-signaling.v1';

const OPEN = 1;

export class SignalingTimeout extends Error {
  override readonly name = 'SignalingTimeout';
}

/**
 * What carries signaling: one protobuf message each way per call, and the end of the
 * connection. `SignalingConnection.open` carries it over a WebSocket; a caller with another
 * carrier (the browser page's WebTransport stream) hands its own to `SignalingConnection.over`.
 */
export interface SignalingPort {
  send(message: ClientMessage): void;
  close(code?: number, reason?: string): void;
  onMessage: ((message: ServerMessage) => void) | null;
  /** The connection ended (by either side, or failed); called once. */
  onClose: ((code: number, reason: string) => void) | null;
}

export class SignalingConnection {
  /** Every message received so far, in order. */
  readonly received: ServerMessage[] = [];
  /** Called for each message as it arrives (after it is appended to `received`). */
  onMessage: ((message: ServerMessage) => void) | null = null;
  /** A binary message that did not decode (WebSocket carrier). */
  onMalformed: ((bytes: Uint8Array) => void) | null = null;
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];
  private isClosed = false;

  private constructor(
    private readonly port: SignalingPort,
    private readonly isOpen: () => boolean = () => true,
  ) {
    let resolveClosed: (value: { code: number; reason: string }) => void = () => undefined;
    this.closed = new Promise((resolve) => (resolveClosed = resolve));
    port.onMessage = (message) => {
      this.received.push(message);
      this.onMessage?.(message);
      this.wake();
    };
    port.onClose = (code, reason) => {
      if (this.isClosed) return;
      this.isClosed = true;
      resolveClosed({ code, reason });
      this.wake();
    };
  }

  /** A connection over a carrier that is already open. */
  static over(port: SignalingPort): SignalingConnection {
    return new SignalingConnection(port);
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
    const port: SignalingPort = {
      send: (message) => socket.send(ClientMessage.encode(message).finish()),
      close: (code, reason) => socket.close(code, reason),
      onMessage: null,
      onClose: null,
    };
    const connection = new SignalingConnection(port, () => socket.readyState === OPEN);
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
        port.onClose?.(event.code, event.reason);
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
        port.onMessage?.(message);
      };
    });
  }

  get open(): boolean {
    return !this.isClosed && this.isOpen();
  }

  send(message: ClientMessage): void {
    if (this.open) this.port.send(message);
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
    if (!this.isClosed) this.port.close(code, reason);
    return this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
