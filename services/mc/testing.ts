// Test support for the Meeting Controller: signaling clients (over the `ws` package, and over
// WebTransport) that collect the controller's messages in order.
import { WebSocket } from 'ws';
import { ControlDecoder, frameControlMessage } from '../../adapters/quic/framing.ts';
import {
  connectWebTransport,
  type WebTransportClient,
} from '../../adapters/webtransport/client.ts';
import type { WebTransportStream } from '../../adapters/webtransport/h3.ts';
import { ClientMessage, ServerMessage } from '../generated/darktower/mc/v1/signaling.ts';
import { SIGNALING_SUBPROTOCOL } from './signaling.ts';

/** The controller's messages in the order they came, and a wait for the next one wanted. */
class Inbox {
  readonly received: ServerMessage[] = [];
  private waiters: (() => void)[] = [];

  /** The first message received that `pick` accepts (waiting up to `timeoutMs`). */
  async next<T>(pick: (message: ServerMessage) => T | undefined, timeoutMs = 5_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const message of this.received) {
        const picked = pick(message);
        if (picked !== undefined) return picked;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no such message; got ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Records a message (or, with none, only wakes the waiters: the connection closed). */
  protected arrived(message?: ServerMessage): void {
    if (message !== undefined) this.received.push(message);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

export class SignalingClient extends Inbox {
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Called with each message as it arrives (after it is recorded). */
  onMessage: ((message: ServerMessage) => void) | null = null;

  private constructor(readonly socket: WebSocket) {
    super();
    socket.on('message', (data: Buffer) => {
      const message = ServerMessage.decode(new Uint8Array(data));
      this.arrived(message);
      this.onMessage?.(message);
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.arrived();
      }),
    );
  }

  static async open(url: string): Promise<SignalingClient> {
    const socket = new WebSocket(url, SIGNALING_SUBPROTOCOL);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new SignalingClient(socket);
  }

  send(message: ClientMessage): void {
    this.socket.send(ClientMessage.encode(message).finish());
  }

  close(): Promise<{ code: number; reason: string }> {
    this.socket.close(1000, 'bye');
    return this.closed;
  }
}

/** The same client over WebTransport (HTTP/3): messages length-prefixed on the first stream. */
export class WebTransportSignalingClient extends Inbox {
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly stream: WebTransportStream;

  private constructor(readonly client: WebTransportClient) {
    super();
    const decoder = new ControlDecoder();
    this.stream = client.session.openStream();
    this.stream.listen({
      data: (chunk) => {
        const messages = decoder.push(chunk);
        if (!Array.isArray(messages)) return;
        for (const message of messages) this.arrived(ServerMessage.decode(message));
      },
    });
    this.closed = new Promise((resolve) => {
      client.session.events.closed = (code, reason) => {
        resolve({ code, reason });
        this.arrived();
      };
    });
  }

  static async open(
    url: string,
    serverCertificateHash: Uint8Array,
  ): Promise<WebTransportSignalingClient> {
    const parsed = new URL(url);
    const client = await connectWebTransport(
      parsed.hostname.replace(/^\[|\]$/g, ''),
      Number(parsed.port),
      parsed.pathname,
      { serverCertificateHash },
    );
    return new WebTransportSignalingClient(client);
  }

  send(message: ClientMessage): void {
    this.sendRaw(ClientMessage.encode(message).finish());
  }

  /** Sends bytes as one framed message, whatever they are. */
  sendRaw(bytes: Uint8Array): void {
    this.stream.write(frameControlMessage(bytes));
  }

  async close(): Promise<void> {
    await this.client.close(0, 'bye');
  }
}
