// Test support for the Meeting Controller: a signaling client over the `ws` package that
// collects the controller's messages in order.
import { WebSocket } from 'ws';
import { ClientMessage, ServerMessage } from '../generated/darktower/mc/v1/signaling.ts';
import { SIGNALING_SUBPROTOCOL } from './signaling.ts';

export class SignalingClient {
  readonly received: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Called with each message as it arrives (after it is recorded). */
  onMessage: ((message: ServerMessage) => void) | null = null;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      const message = ServerMessage.decode(new Uint8Array(data));
      this.received.push(message);
      this.onMessage?.(message);
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
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

  close(): Promise<{ code: number; reason: string }> {
    this.socket.close(1000, 'bye');
    return this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
