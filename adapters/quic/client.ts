/**
 * A Node client for the QUIC media transport, on quiche's native connection like the server:
 * tests, the load client and handler-to-handler cascade links use it. A connection has a
 * MediaConnection's shape (datagrams, control messages, close) plus event callbacks.
 *
 * The server is authenticated either by the SHA-256 of its certificate (what browsers do with
 * `serverCertificateHashes`) or by a CA certificate with normal verification.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createConnectionId } from '../../core/protocol/connection-id.ts';
import type { MediaConnection } from '../../ports/media-transport.ts';
import { sha256 } from './cert.ts';
import {
  buildConfig,
  FlushQueue,
  QuicCloseCode,
  QuicLink,
  quiche,
  type LinkHooks,
} from './link.ts';

export interface QuicClientEvents {
  datagram?(bytes: Uint8Array): void;
  control?(message: Uint8Array): void;
  closed?(code: number, reason: string): void;
}

export interface QuicConnectOptions {
  /** SHA-256 of the server certificate's DER bytes; the certificate is not otherwise checked. */
  readonly serverCertificateHash?: Uint8Array;
  /** CA certificate(s), PEM, to verify the server's chain and name against. */
  readonly caPem?: string;
  /** Name sent as SNI and checked against the certificate with `caPem`; default `localhost`. */
  readonly serverName?: string;
  /** Give up on a handshake not finished by then; default 5 s. */
  readonly handshakeTimeoutMs?: number;
  /** Close after this long without a packet; default 30 s. */
  readonly idleTimeoutMs?: number;
  /** DATAGRAM queue length each way; default 1,024. */
  readonly datagramQueueLength?: number;
  readonly events?: QuicClientEvents;
  /**
   * Exceptions thrown by event callbacks, caught so that the packet being handled is finished;
   * default: thrown again on their own right after.
   */
  readonly onError?: (error: unknown) => void;
}

export class QuicConnectError extends Error {
  override readonly name = 'QuicConnectError';
  constructor(
    readonly kind: 'options' | 'handshake-timeout' | 'certificate-mismatch' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

let nextClientId = 0;

/** By default an event callback's exception is thrown again on its own, after the packet. */
function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

const cryptoRandom = {
  next: () => randomBytes(4).readUInt32BE(0) / 0x1_0000_0000,
  bytes: (length: number) => new Uint8Array(randomBytes(length)),
};

/**
 * A client's UDP socket connected to `host:port` (1 MiB buffers, errors left to the
 * connection's idle timeout), its local address and a fresh source connection id.
 */
export async function openClientSocket(
  host: string,
  port: number,
): Promise<{
  socket: dgram.Socket;
  local: { host: string; port: number };
  scid: { value: Uint8Array };
}> {
  const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, isIPv6(host) ? '::' : '0.0.0.0', () => {
      socket.connect(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  });
  socket.setRecvBufferSize(1024 * 1024);
  socket.setSendBufferSize(1024 * 1024);
  socket.on('error', () => {});
  const address = socket.address();
  const local = { host: address.address, port: address.port };
  const scid = createConnectionId(Date.now(), cryptoRandom);
  if (!scid.ok) throw new Error(`connection id: ${scid.error.kind}`);
  return { socket, local, scid };
}

export class QuicClientConnection extends QuicLink implements MediaConnection {
  readonly id = nextClientId++;
  readonly transport = 'quic' as const;
  readonly remote: string;
  /** Event callbacks; may be replaced at any time. */
  events: QuicClientEvents;
  /** Settles once the connection has closed, with the code and reason `closed` reported. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** UDP packets sent and received by this connection's socket. */
  packetsSent = 0;
  packetsReceived = 0;

  private resolveClosed!: (value: { code: number; reason: string }) => void;

  constructor(
    ...args: [
      ...ConstructorParameters<typeof QuicLink>,
      socket: dgram.Socket,
      events: QuicClientEvents,
    ]
  ) {
    const [conn, role, sink, flushes, hooks, host, port, local, socket, events] = args;
    super(conn, role, sink, flushes, hooks, host, port, local);
    this.socket = socket;
    this.events = events;
    this.remote = `${isIPv6(host) ? `[${host}]` : host}:${port}`;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  readonly socket: dgram.Socket;

  /** Called by the connection's hooks once quiche reports the close. */
  settleClosed(code: number, reason: string): void {
    this.resolveClosed({ code, reason });
  }
}

/** Opens a QUIC media connection to `host:port`; resolves once the handshake is done. */
export async function connectQuic(
  host: string,
  port: number,
  options: QuicConnectOptions,
): Promise<QuicClientConnection> {
  const expectedHash = options.serverCertificateHash;
  if (expectedHash === undefined && options.caPem === undefined) {
    throw new QuicConnectError('options', 'either serverCertificateHash or caPem is required');
  }
  if (expectedHash !== undefined && expectedHash.length !== 32) {
    throw new QuicConnectError('options', 'serverCertificateHash must be 32 bytes (SHA-256)');
  }
  const config = buildConfig({
    role: 'client',
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    datagramQueueLength: options.datagramQueueLength ?? 1024,
    ...(options.caPem === undefined ? {} : { caPem: options.caPem }),
  });
  const { socket, local, scid } = await openClientSocket(host, port);

  let settleHandshake: ((error: QuicConnectError | null) => void) | null = null;
  const handshake = new Promise<void>((resolve, reject) => {
    settleHandshake = (error) => {
      settleHandshake = null;
      if (error === null) resolve();
      else reject(error);
    };
  });

  const onError = options.onError ?? rethrowLater;
  const guarded = (callback: () => void): void => {
    try {
      callback();
    } catch (error) {
      onError(error);
    }
  };
  let awaitingConfirmation = false;
  const hooks: LinkHooks = {
    established: (link) => {
      if (expectedHash !== undefined) {
        const leaf = link.conn.peerCertChain()?.[0];
        const actual = leaf === undefined ? null : sha256(leaf);
        if (actual === null || !timingSafeEqual(actual, expectedHash)) {
          link.close(QuicCloseCode.certificateMismatch, 'certificate hash mismatch');
          settleHandshake?.(
            new QuicConnectError('certificate-mismatch', 'server certificate hash mismatch'),
          );
          return;
        }
      }
      // Resolved on the server's first 1-RTT packet (its HANDSHAKE_DONE), not now: until
      // then the server has not opened the connection, and a close sent in between is lost.
      awaitingConfirmation = true;
    },
    datagram: (_link, bytes) => {
      guarded(() => connection.events.datagram?.(bytes));
    },
    control: (_link, message) => {
      guarded(() => connection.events.control?.(message));
    },
    closed: (_link, code, reason) => teardown(code, reason),
    streamRefused: () => {},
  };

  let tornDown = false;
  const teardown = (code: number, reason: string): void => {
    if (tornDown) return;
    tornDown = true;
    socket.off('message', onMessage);
    socket.close();
    settleHandshake?.(new QuicConnectError('closed', `closed during handshake: ${reason}`));
    connection.settleClosed(code, reason);
    guarded(() => connection.events.closed?.(code, reason));
  };
  const flushes = new FlushQueue(() => {});
  const sink = (packet: Buffer): void => {
    connection.packetsSent++;
    socket.send(packet);
  };
  const conn = quiche.Connection.connect(
    options.serverName ?? 'localhost',
    scid.value,
    local,
    { host, port },
    config,
  );
  const connection: QuicClientConnection = new QuicClientConnection(
    conn,
    'client',
    sink,
    flushes,
    hooks,
    host,
    port,
    local,
    socket,
    options.events ?? {},
  );
  const onMessage = (packet: Buffer, rinfo: dgram.RemoteInfo): void => {
    connection.packetsReceived++;
    connection.receive(packet, rinfo.address, rinfo.port);
    if (awaitingConfirmation && packet.length > 0 && (packet[0]! & 0x80) === 0) {
      awaitingConfirmation = false;
      settleHandshake?.(null);
    }
  };
  socket.on('message', onMessage);
  connection.flush();

  const timeoutMs = options.handshakeTimeoutMs ?? 5_000;
  const timer = setTimeout(() => {
    settleHandshake?.(
      new QuicConnectError('handshake-timeout', `no handshake within ${timeoutMs} ms`),
    );
    // The server never answered in time: say so once, then drop the connection at once.
    connection.close(QuicCloseCode.idleTimeout, 'handshake timeout');
    connection.flush();
    connection.dispose();
    teardown(QuicCloseCode.idleTimeout, 'handshake timeout');
  }, timeoutMs);
  try {
    await handshake;
  } finally {
    clearTimeout(timer);
  }
  return connection;
}
