/**
 * Plain UDP media transport: BENCHMARK MODE ONLY (docs/protocol.md, "UDP benchmark ingress").
 * No encryption, no congestion control, no reliable control channel: it exists to measure the
 * handler's forwarding without QUIC's cost, never for clients on a real network.
 *
 * Each remote `address:port` is one connection, opened by its first packet and closed after
 * `idleTimeoutMs` of silence (or by the service). Every packet starts with one byte:
 * `0x00` then one media datagram, `0x01` then one control message (protobuf, as on the
 * WebSocket's text messages but raw). Control messages are as unreliable as media here.
 */
import { createSocket, type Socket } from 'node:dgram';
import type {
  DatagramSendFailure,
  MediaConnection,
  MediaTransport,
  MediaTransportEvents,
} from '../../ports/media-transport.ts';
import { IdAllocator } from '../websocket/ids.ts';

export const UDP_PREFIX_DATAGRAM = 0x00;
export const UDP_PREFIX_CONTROL = 0x01;

const DATAGRAM_PREFIX = Buffer.from([UDP_PREFIX_DATAGRAM]);
const CONTROL_PREFIX = Buffer.from([UDP_PREFIX_CONTROL]);

/** What the transport dropped on its own, before the service saw it (counted). */
export type UdpTransportDrop =
  /** Empty, or a first byte other than 0x00 / 0x01. */
  | 'malformed-packet'
  /** A datagram longer than `maxDatagramBytes`. */
  | 'oversized-datagram'
  /** A packet from a new address while at the connection limit. */
  | 'connection-limit'
  /** The socket refused a send (its buffer full). */
  | 'send-failed';

export interface UdpTransportOptions {
  readonly host: string;
  readonly port: number;
  readonly maxDatagramBytes?: number;
  /** A connection silent this long is closed (default 30 s). */
  readonly idleTimeoutMs?: number;
  /** Packets from new addresses beyond this many connections are dropped (default 10,000). */
  readonly maxConnections?: number;
  readonly onDrop?: (reason: UdpTransportDrop) => void;
  /** Kernel send and receive buffer sizes asked for (default 4 MiB; the kernel may cap them). */
  readonly socketBufferBytes?: number;
}

class UdpConnection implements MediaConnection {
  readonly transport = 'udp' as const;
  lastHeardMs: number;
  open = true;
  constructor(
    readonly id: number,
    readonly remote: string,
    readonly maxDatagramBytes: number,
    private readonly owner: UdpMediaTransport,
    readonly address: string,
    readonly port: number,
    now: number,
  ) {
    this.lastHeardMs = now;
  }

  sendDatagram(bytes: Uint8Array): DatagramSendFailure | null {
    if (!this.open) return 'closed';
    if (bytes.length > this.maxDatagramBytes) return 'too-large';
    // Gathered by the socket without a copy; the bytes must stay unchanged until sent.
    this.owner.send([DATAGRAM_PREFIX, bytes], this.port, this.address);
    return null;
  }

  /** The socket's queue is shared by every peer and not counted per connection. */
  queuedDatagramBytes(): number {
    return 0;
  }

  sendControl(message: Uint8Array): void {
    if (this.open) this.owner.send([CONTROL_PREFIX, message], this.port, this.address);
  }

  close(code: number, reason: string): void {
    this.owner.closeConnection(this, code, reason);
  }
}

export class UdpMediaTransport implements MediaTransport {
  private socket: Socket | undefined;
  private events: MediaTransportEvents | undefined;
  private sweep: NodeJS.Timeout | undefined;
  private readonly connections = new Map<string, UdpConnection>();
  private readonly ids = new IdAllocator();
  private readonly maxDatagramBytes: number;
  private readonly idleTimeoutMs: number;
  private readonly maxConnections: number;

  constructor(private readonly options: UdpTransportOptions) {
    this.maxDatagramBytes = options.maxDatagramBytes ?? 1_200;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.maxConnections = options.maxConnections ?? 10_000;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async start(events: MediaTransportEvents): Promise<{ host: string; port: number }> {
    const socket = createSocket({ type: this.options.host.includes(':') ? 'udp6' : 'udp4' });
    this.socket = socket;
    this.events = events;
    socket.on('message', (packet, rinfo) => this.receive(packet, rinfo.address, rinfo.port));
    // A send error (e.g. ICMP unreachable reported on a later call) never stops the socket.
    socket.on('error', () => this.options.onDrop?.('send-failed'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.options.port, this.options.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const buffer = this.options.socketBufferBytes ?? 4 << 20;
    socket.setRecvBufferSize(buffer);
    socket.setSendBufferSize(buffer);
    this.sweep = setInterval(() => this.closeIdle(), Math.min(this.idleTimeoutMs, 5_000));
    this.sweep.unref();
    return { host: this.options.host, port: socket.address().port };
  }

  private receive(packet: Buffer, address: string, port: number): void {
    const events = this.events;
    if (events === undefined) return;
    const kind = packet[0];
    if (packet.length < 2 || (kind !== UDP_PREFIX_DATAGRAM && kind !== UDP_PREFIX_CONTROL)) {
      this.options.onDrop?.('malformed-packet');
      return;
    }
    const key = `${address}|${port}`;
    const now = performance.now();
    let connection = this.connections.get(key);
    if (connection === undefined) {
      if (this.connections.size >= this.maxConnections) {
        this.options.onDrop?.('connection-limit');
        return;
      }
      const remote = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
      connection = new UdpConnection(
        this.ids.take(),
        remote,
        this.maxDatagramBytes,
        this,
        address,
        port,
        now,
      );
      this.connections.set(key, connection);
      events.opened(connection);
    }
    connection.lastHeardMs = now;
    const body = packet.subarray(1);
    if (kind === UDP_PREFIX_CONTROL) {
      events.control(connection, body);
    } else if (body.length > this.maxDatagramBytes) {
      this.options.onDrop?.('oversized-datagram');
    } else {
      events.datagram(connection, body);
    }
  }

  /** Sends gathered buffers to one address (used by connections). */
  send(parts: readonly Uint8Array[], port: number, address: string): void {
    this.socket?.send(parts as Uint8Array[], port, address, (error) => {
      if (error) this.options.onDrop?.('send-failed');
    });
  }

  closeConnection(connection: UdpConnection, code: number, reason: string): void {
    if (!connection.open) return;
    connection.open = false;
    this.connections.delete(`${connection.address}|${connection.port}`);
    this.ids.release(connection.id);
    this.events?.closed(connection, code, reason);
  }

  private closeIdle(): void {
    const cutoff = performance.now() - this.idleTimeoutMs;
    for (const connection of [...this.connections.values()]) {
      if (connection.lastHeardMs < cutoff) this.closeConnection(connection, 4408, 'idle');
    }
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    if (socket === undefined) return;
    this.socket = undefined;
    clearInterval(this.sweep);
    for (const connection of [...this.connections.values()]) {
      this.closeConnection(connection, 1001, 'handler stopping');
    }
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
