/**
 * The Media Handler's QUIC transport (ports/media-transport.ts): one UDP port, connections
 * told apart by destination connection id, each driven on quiche's native connection object.
 * Media rides DATAGRAM frames; control messages ride the first client bidirectional stream,
 * length-prefixed (docs/protocol.md, "QUIC media transport").
 *
 * Nothing a peer sends can throw out of the socket handler: every packet is either handed to
 * a connection or dropped and counted by reason (`counters()`).
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import {
  CONNECTION_ID_LENGTH,
  createConnectionId,
  type ConnectionId,
} from '../../core/protocol/connection-id.ts';
import type { RandomSource } from '../../core/random.ts';
import type {
  MediaConnection,
  MediaTransport,
  MediaTransportEvents,
} from '../../ports/media-transport.ts';
import { H3_ALPN, H3Connection, type H3Drop } from '../webtransport/h3.ts';
import { WebTransportMediaConnection } from '../webtransport/media-connection.ts';
import { certificateSha256, selfSignedCertificate } from './cert.ts';
import {
  buildConfig,
  FlushQueue,
  MEDIA_ALPN,
  QuicCloseCode,
  QuicLink,
  quiche,
  type LinkHooks,
} from './link.ts';

export interface QuicMediaTransportOptions {
  /** Address to bind; default 127.0.0.1. */
  readonly host?: string;
  /** UDP port; default 0 (ephemeral). */
  readonly port?: number;
  /** Certificate chain and key (PEM); both or neither. Default: a fresh self-signed pair. */
  readonly certPem?: string;
  readonly keyPem?: string;
  /** Names in the self-signed certificate; default `localhost` and `127.0.0.1`. */
  readonly certificateNames?: readonly string[];
  /** Close a connection after this long without a packet; default 30 s. */
  readonly idleTimeoutMs?: number;
  /** Connections (including handshakes under way) beyond which new ones are refused. */
  readonly maxConnections?: number;
  /** DATAGRAM queue length each way, per connection; default 1,024. */
  readonly datagramQueueLength?: number;
  /** How long `stop()` waits for peers to see the close before dropping connections. */
  readonly stopGraceMs?: number;
  /** UDP socket receive and send buffer sizes; default 4 MiB (capped by the kernel). */
  readonly socketBufferBytes?: number;
  /** The wall clock for connection-id timestamps; default `Date.now`. */
  readonly nowMs?: () => number;
  /** Errors thrown by event handlers (counted as `handler-error` too). */
  readonly onError?: (error: unknown) => void;
  /** Accept the media ALPN (`darktower-media/1`); default true. */
  readonly media?: boolean;
  /**
   * WebTransport over HTTP/3 (ALPN h3) on the same port: sessions at these paths become
   * connections of transport `webtransport` (adapters/webtransport/media-connection.ts).
   */
  readonly webTransport?: {
    readonly paths: readonly string[];
    /** Largest datagram to a WebTransport peer; default 1,199 (a browser's). */
    readonly maxDatagramBytes?: number;
  };
}

/** Why a UDP packet was dropped before reaching a connection (or by one). */
export type QuicDropReason =
  | 'empty'
  | 'truncated-short-header'
  | 'unknown-connection'
  | 'unparsable-header'
  | 'not-initial'
  | 'unsupported-version'
  | 'short-initial'
  | 'short-connection-id'
  | 'connection-limit'
  | 'stopping'
  | 'accept-failed'
  | 'rejected-initial'
  | 'rejected-by-connection'
  /** Reached a connection, which discarded it (did not decrypt, or a duplicate). */
  | 'discarded-by-connection';

export interface QuicTransportCounters {
  /** UDP packets received on the port. */
  readonly packetsReceived: number;
  /** UDP packets sent from the port. */
  readonly packetsSent: number;
  /** Packets dropped, by reason. */
  readonly dropped: Readonly<Record<QuicDropReason, number>>;
  /** Streams a peer opened besides the control stream, refused. */
  readonly streamsRefused: number;
  /** Exceptions thrown by event handlers or caught in the packet path. */
  readonly handlerErrors: number;
  readonly connectionsOpened: number;
  readonly connectionsClosed: number;
  /** Connections accepted whose handshake did not finish. */
  readonly handshakesFailed: number;
  /** WebTransport sessions opened, and what the HTTP/3 layer refused or dropped, by reason. */
  readonly webTransportSessions: number;
  readonly webTransportDrops: Readonly<Partial<Record<H3Drop, number>>>;
}

const DROP_REASONS: readonly QuicDropReason[] = [
  'empty',
  'truncated-short-header',
  'unknown-connection',
  'unparsable-header',
  'not-initial',
  'unsupported-version',
  'short-initial',
  'short-connection-id',
  'connection-limit',
  'stopping',
  'accept-failed',
  'rejected-initial',
  'rejected-by-connection',
  'discarded-by-connection',
];

/** RFC 9000 section 7.2: a client's first destination connection id has at least 8 bytes. */
const MIN_INITIAL_DCID_BYTES = 8;

/** node:crypto as the random source for connection ids. */
const cryptoRandom: RandomSource = {
  next: () => randomBytes(4).readUInt32BE(0) / 0x1_0000_0000,
  bytes: (length) => new Uint8Array(randomBytes(length)),
};

class ServerConnection extends QuicLink implements MediaConnection {
  readonly transport = 'quic' as const;
  readonly remote: string;
  /** Assigned when the handshake completes; -1 before. */
  id = -1;
  /** Connection-id keys (latin1 strings) under which the server finds this connection. */
  readonly keys: string[] = [];
  opened = false;
  /** Set when the connection speaks HTTP/3: its session, not the link, is the media connection. */
  h3: H3Connection | null = null;

  constructor(...args: ConstructorParameters<typeof QuicLink>) {
    super(...args);
    this.remote = `${isIPv6(this.remoteHost) ? `[${this.remoteHost}]` : this.remoteHost}:${this.remotePort}`;
  }
}

export class QuicMediaTransport implements MediaTransport {
  private readonly options: QuicMediaTransportOptions;
  private socket: dgram.Socket | null = null;
  private events: MediaTransportEvents | null = null;
  private config: ReturnType<typeof buildConfig> | null = null;
  private local: { host: string; port: number } = { host: '127.0.0.1', port: 0 };
  private certificateHash: Uint8Array | null = null;
  private readonly byConnectionId = new Map<string, ServerConnection>();
  private readonly connections = new Set<ServerConnection>();
  private readonly freeIds: number[] = [];
  private nextId = 0;
  private stopping = false;
  private stopWaiters: Array<() => void> = [];
  private readonly flushes: FlushQueue;
  private readonly drops: Record<QuicDropReason, number>;
  private packetsReceived = 0;
  private packetsSent = 0;
  private streamsRefused = 0;
  private handlerErrors = 0;
  private connectionsOpened = 0;
  private connectionsClosed = 0;
  private handshakesFailed = 0;
  private webTransportSessions = 0;
  private readonly webTransportDrops: Partial<Record<H3Drop, number>> = {};

  constructor(options: QuicMediaTransportOptions = {}) {
    if ((options.certPem === undefined) !== (options.keyPem === undefined)) {
      throw new TypeError('certPem and keyPem go together');
    }
    this.options = options;
    this.drops = Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<
      QuicDropReason,
      number
    >;
    this.flushes = new FlushQueue((error) => this.handlerError(error));
  }

  /** SHA-256 of the server certificate's DER bytes (for `serverCertificateHashes`). */
  get certificateSha256(): Uint8Array {
    if (this.certificateHash === null) throw new Error('the transport has not started');
    return this.certificateHash;
  }

  /** Live connections, handshakes under way included. */
  get connectionCount(): number {
    return this.connections.size;
  }

  counters(): QuicTransportCounters {
    return {
      packetsReceived: this.packetsReceived,
      packetsSent: this.packetsSent,
      dropped: {
        ...this.drops,
        'discarded-by-connection':
          this.drops['discarded-by-connection'] +
          [...this.connections].reduce((sum, c) => sum + c.discardedPackets(), 0),
      },
      streamsRefused: this.streamsRefused,
      handlerErrors: this.handlerErrors,
      connectionsOpened: this.connectionsOpened,
      connectionsClosed: this.connectionsClosed,
      handshakesFailed: this.handshakesFailed,
      webTransportSessions: this.webTransportSessions,
      webTransportDrops: { ...this.webTransportDrops },
    };
  }

  async start(events: MediaTransportEvents): Promise<{ host: string; port: number }> {
    if (this.socket !== null) throw new Error('the transport has already started');
    const pair =
      this.options.certPem !== undefined && this.options.keyPem !== undefined
        ? { certPem: this.options.certPem, keyPem: this.options.keyPem }
        : await selfSignedCertificate(
            this.options.certificateNames === undefined
              ? {}
              : { names: this.options.certificateNames },
          );
    this.certificateHash = certificateSha256(pair.certPem);
    this.config = buildConfig({
      role: 'server',
      idleTimeoutMs: this.options.idleTimeoutMs ?? 30_000,
      datagramQueueLength: this.options.datagramQueueLength ?? 1024,
      certPem: pair.certPem,
      keyPem: pair.keyPem,
      applicationProtos: [
        ...(this.options.media === false ? [] : [MEDIA_ALPN]),
        ...(this.options.webTransport === undefined ? [] : [H3_ALPN]),
      ],
    });
    this.events = events;
    const host = this.options.host ?? '127.0.0.1';
    const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.options.port ?? 0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // Room for bursts from many connections (the kernel caps it at net.core.rmem_max).
    socket.setRecvBufferSize(this.options.socketBufferBytes ?? 4 * 1024 * 1024);
    socket.setSendBufferSize(this.options.socketBufferBytes ?? 4 * 1024 * 1024);
    // Send errors (an unreachable peer, a full buffer) are the peer's loss, not ours.
    socket.on('error', () => {});
    socket.on('message', this.onMessage);
    this.socket = socket;
    const address = socket.address();
    this.local = { host: address.address, port: address.port };
    return { host: address.address, port: address.port };
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    if (socket === null || this.stopping) return;
    this.stopping = true;
    const drained = new Promise<void>((resolve) => {
      if (this.connections.size === 0) resolve();
      else this.stopWaiters.push(resolve);
    });
    for (const connection of [...this.connections]) {
      connection.close(QuicCloseCode.stopping, 'server stopping');
    }
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      drained,
      new Promise<void>((resolve) => {
        grace = setTimeout(resolve, this.options.stopGraceMs ?? 2_000);
      }),
    ]);
    clearTimeout(grace);
    // Whatever is still draining is dropped: the peers have had their close.
    for (const connection of [...this.connections]) {
      connection.dispose();
      this.forget(connection, QuicCloseCode.stopping, 'server stopping');
    }
    socket.off('message', this.onMessage);
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.socket = null;
  }

  private readonly sink = (packet: Buffer, port: number, host: string): void => {
    this.packetsSent++;
    this.socket?.send(packet, port, host);
  };

  private readonly hooks: LinkHooks = {
    established: (link) => {
      const connection = link as ServerConnection;
      connection.id = this.freeIds.pop() ?? this.nextId++;
      connection.opened = true;
      this.connectionsOpened++;
      if (connection.alpn === H3_ALPN) {
        this.attachWebTransport(connection);
        return;
      }
      try {
        this.events?.opened(connection);
      } catch (error) {
        this.handlerError(error);
      }
    },
    datagram: (link, bytes) => {
      try {
        this.events?.datagram(link as ServerConnection, bytes);
      } catch (error) {
        this.handlerError(error);
      }
    },
    control: (link, message) => {
      try {
        this.events?.control(link as ServerConnection, message);
      } catch (error) {
        this.handlerError(error);
      }
    },
    closed: (link, code, reason) => {
      this.forget(link as ServerConnection, code, reason);
    },
    streamRefused: () => {
      this.streamsRefused++;
    },
  };

  /** An HTTP/3 connection: each session at a served path is a connection of its own. */
  private attachWebTransport(connection: ServerConnection): void {
    const options = this.options.webTransport;
    const events = {
      datagram: (media: WebTransportMediaConnection, bytes: Uint8Array) => {
        try {
          this.events?.datagram(media, bytes);
        } catch (error) {
          this.handlerError(error);
        }
      },
      control: (media: WebTransportMediaConnection, message: Uint8Array) => {
        try {
          this.events?.control(media, message);
        } catch (error) {
          this.handlerError(error);
        }
      },
      closed: (media: WebTransportMediaConnection, code: number, reason: string) => {
        try {
          this.events?.closed(media, code, reason);
        } catch (error) {
          this.handlerError(error);
        }
      },
      streamRefused: () => {
        this.streamsRefused++;
      },
    };
    const h3 = new H3Connection(connection, {
      role: 'server',
      paths: new Set(options?.paths ?? []),
      ...(options?.maxDatagramBytes === undefined
        ? {}
        : { maxDatagramBytes: options.maxDatagramBytes }),
      session: (session) => {
        this.webTransportSessions++;
        // One session per connection: it takes the connection's id.
        const media = new WebTransportMediaConnection(
          connection.id,
          session,
          connection.remote,
          events,
        );
        try {
          this.events?.opened(media);
        } catch (error) {
          this.handlerError(error);
        }
      },
      onDrop: (reason) => {
        this.webTransportDrops[reason] = (this.webTransportDrops[reason] ?? 0) + 1;
      },
      onError: (error) => this.handlerError(error),
    });
    connection.h3 = h3;
    connection.application = h3;
  }

  private forget(connection: ServerConnection, code: number, reason: string): void {
    if (!this.connections.delete(connection)) return;
    this.drops['discarded-by-connection'] += connection.discardedPackets();
    for (const key of connection.keys) {
      if (this.byConnectionId.get(key) === connection) this.byConnectionId.delete(key);
    }
    if (connection.opened) {
      this.connectionsClosed++;
      this.freeIds.push(connection.id);
      // An HTTP/3 connection's session reported its own close (H3Connection.closed).
      if (connection.h3 === null) {
        try {
          this.events?.closed(connection, code, reason);
        } catch (error) {
          this.handlerError(error);
        }
      }
    } else {
      this.handshakesFailed++;
    }
    if (this.connections.size === 0 && this.stopWaiters.length > 0) {
      const waiters = this.stopWaiters;
      this.stopWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private readonly onMessage = (packet: Buffer, rinfo: dgram.RemoteInfo): void => {
    this.packetsReceived++;
    try {
      this.route(packet, rinfo.address, rinfo.port);
    } catch (error) {
      this.handlerError(error);
    }
  };

  private route(packet: Buffer, host: string, port: number): void {
    if (packet.length === 0) return this.drop('empty');
    const first = packet[0]!;
    if ((first & 0x80) === 0) {
      // Short header: the destination connection id (always ours, 20 bytes) follows the
      // first byte.
      if (packet.length < 1 + CONNECTION_ID_LENGTH) return this.drop('truncated-short-header');
      const connection = this.byConnectionId.get(
        packet.toString('latin1', 1, 1 + CONNECTION_ID_LENGTH),
      );
      if (connection === undefined) return this.drop('unknown-connection');
      if (!connection.receive(packet, host, port)) this.drop('rejected-by-connection');
      return;
    }
    let header: ReturnType<typeof quiche.Header.fromSlice>;
    try {
      header = quiche.Header.fromSlice(packet, CONNECTION_ID_LENGTH);
    } catch {
      return this.drop('unparsable-header');
    }
    const dcidKey = Buffer.from(header.dcid).toString('latin1');
    const known = this.byConnectionId.get(dcidKey);
    if (known !== undefined) {
      if (!known.receive(packet, host, port)) this.drop('rejected-by-connection');
      return;
    }
    if (header.ty !== quiche.Type.Initial) return this.drop('not-initial');
    if (!quiche.versionIsSupported(header.version)) return this.drop('unsupported-version');
    if (packet.length < quiche.MIN_CLIENT_INITIAL_LEN) return this.drop('short-initial');
    if (header.dcid.length < MIN_INITIAL_DCID_BYTES) return this.drop('short-connection-id');
    if (this.stopping) return this.drop('stopping');
    if (this.connections.size >= (this.options.maxConnections ?? 10_000)) {
      return this.drop('connection-limit');
    }
    this.accept(packet, host, port, dcidKey);
  }

  private accept(packet: Buffer, host: string, port: number, dcidKey: string): void {
    const scid = this.newConnectionId();
    let conn: ReturnType<typeof quiche.Connection.accept>;
    try {
      conn = quiche.Connection.accept(
        scid,
        null,
        this.local,
        { host, port },
        this.config as NonNullable<typeof this.config>,
      );
    } catch {
      return this.drop('accept-failed');
    }
    const connection = new ServerConnection(
      conn,
      'server',
      this.sink,
      this.flushes,
      this.hooks,
      host,
      port,
      this.local,
    );
    if (!connection.receive(packet, host, port) || conn.isClosed()) {
      // Not a usable Initial (it did not decrypt, or the handshake failed at once, for want
      // of a common ALPN say): whatever close quiche has for the peer goes out, nothing is kept.
      connection.flush();
      connection.dispose();
      return this.drop('rejected-initial');
    }
    connection.keys.push(dcidKey, Buffer.from(scid).toString('latin1'));
    for (const key of connection.keys) this.byConnectionId.set(key, connection);
    this.connections.add(connection);
  }

  private newConnectionId(): ConnectionId {
    const made = createConnectionId((this.options.nowMs ?? Date.now)(), cryptoRandom);
    if (!made.ok) throw new Error(`connection id: ${made.error.kind}`);
    return made.value;
  }

  private drop(reason: QuicDropReason): void {
    this.drops[reason]++;
  }

  private handlerError(error: unknown): void {
    this.handlerErrors++;
    try {
      this.options.onError?.(error);
    } catch {
      // A failing error reporter must not take the socket down.
    }
  }
}
