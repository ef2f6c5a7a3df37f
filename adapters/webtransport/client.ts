/**
 * A Node WebTransport client over HTTP/3 on quiche's native connection: what a browser's
 * `new WebTransport(url, { serverCertificateHashes })` does, for tests, benchmarks and Node
 * clients. The server is authenticated by the SHA-256 of its certificate.
 */
import { timingSafeEqual } from 'node:crypto';
import type dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { sha256 } from '../quic/cert.ts';
import { openClientSocket } from '../quic/client.ts';
import {
  buildConfig,
  FlushQueue,
  QuicCloseCode,
  QuicLink,
  quiche,
  type LinkHooks,
} from '../quic/link.ts';
import type { DatagramSendFailure } from '../../ports/media-transport.ts';
import { ControlDecoder, frameControlMessage } from '../quic/framing.ts';
import { H3_ALPN, H3Connection, type WebTransportSession, type WebTransportStream } from './h3.ts';

export interface WebTransportConnectOptions {
  /** SHA-256 of the server certificate's DER bytes. */
  readonly serverCertificateHash: Uint8Array;
  /** Sent as `origin`, as a browser does. */
  readonly origin?: string;
  /** Give up when the session is not open by then; default 5 s. */
  readonly timeoutMs?: number;
  readonly idleTimeoutMs?: number;
  /** Largest datagram payload to send; default 1,199 (a browser's). */
  readonly maxDatagramBytes?: number;
  readonly onError?: (error: unknown) => void;
}

export class WebTransportConnectError extends Error {
  override readonly name = 'WebTransportConnectError';
  constructor(
    readonly kind: 'options' | 'timeout' | 'certificate-mismatch' | 'refused' | 'closed',
    message: string,
    /** The status the server refused the session with (`refused`). */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** An open client session, with the connection under it. */
export interface WebTransportClient {
  readonly session: WebTransportSession;
  readonly link: QuicLink;
  /** Settles when the QUIC connection has closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** UDP packets this client's socket sent and received. */
  readonly packets: () => { sent: number; received: number };
  /** Closes the session (capsule) and, a moment later, the connection. */
  close(code?: number, reason?: string): Promise<void>;
}

/** Opens a WebTransport session at `https://host:port{path}`. */
export async function connectWebTransport(
  host: string,
  port: number,
  path: string,
  options: WebTransportConnectOptions,
): Promise<WebTransportClient> {
  if (options.serverCertificateHash.length !== 32) {
    throw new WebTransportConnectError('options', 'serverCertificateHash must be 32 bytes');
  }
  const { socket, local, scid } = await openClientSocket(host, port);
  const config = buildConfig({
    role: 'client',
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    datagramQueueLength: 1024,
    applicationProtos: [H3_ALPN],
  });

  let sent = 0;
  let received = 0;
  let resolveClosed!: (value: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    resolveClosed = resolve;
  });
  let failed: ((error: Error) => void) | null = null;
  let h3: H3Connection | null = null;
  const hooks: LinkHooks = {
    established: (link) => {
      const leaf = link.conn.peerCertChain()?.[0];
      const actual = leaf === undefined ? null : sha256(leaf);
      if (actual === null || !timingSafeEqual(actual, options.serverCertificateHash)) {
        link.close(QuicCloseCode.certificateMismatch, 'certificate hash mismatch');
        failed?.(new WebTransportConnectError('certificate-mismatch', 'certificate hash mismatch'));
        return;
      }
      h3 = new H3Connection(link, {
        role: 'client',
        ...(options.maxDatagramBytes === undefined
          ? {}
          : { maxDatagramBytes: options.maxDatagramBytes }),
        ...(options.onError === undefined ? {} : { onError: options.onError }),
      });
      link.application = h3;
      established?.();
    },
    datagram: () => {},
    control: () => {},
    closed: (_link, code, reason) => {
      socket.off('message', onMessage);
      socket.close();
      failed?.(new WebTransportConnectError('closed', `closed: ${reason}`));
      resolveClosed({ code, reason });
    },
    streamRefused: () => {},
  };
  const conn = quiche.Connection.connect('localhost', scid.value, local, { host, port }, config);
  const link = new QuicLink(
    conn,
    'client',
    (packet) => {
      sent++;
      socket.send(packet);
    },
    new FlushQueue(options.onError ?? (() => {})),
    hooks,
    host,
    port,
    local,
  );
  let established: (() => void) | null = null;
  const onMessage = (packet: Buffer, rinfo: dgram.RemoteInfo): void => {
    received++;
    link.receive(packet, rinfo.address, rinfo.port);
  };
  socket.on('message', onMessage);
  link.flush();

  const timeoutMs = options.timeoutMs ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  const authority = `${isIPv6(host) ? `[${host}]` : host}:${port}`;
  try {
    const session = await new Promise<WebTransportSession>((resolve, reject) => {
      failed = reject;
      timer = setTimeout(() => {
        reject(new WebTransportConnectError('timeout', `no session within ${timeoutMs} ms`));
      }, timeoutMs);
      established = () => {
        (h3 as H3Connection).connect(authority, path, options.origin).then((answer) => {
          if ('status' in answer) {
            reject(
              new WebTransportConnectError(
                'refused',
                `refused with ${answer.status}`,
                answer.status,
              ),
            );
          } else {
            resolve(answer);
          }
        }, reject);
      };
    });
    failed = null;
    return {
      session,
      link,
      closed,
      packets: () => ({ sent, received }),
      async close(code = 0, reason = '') {
        session.close(code, reason);
        // Let the capsule go out, then end the connection.
        await new Promise((resolve) => setTimeout(resolve, 20));
        link.close(0x100, '');
        await closed;
      },
    };
  } catch (error) {
    failed = null;
    link.close(0x100, 'giving up');
    link.flush();
    link.dispose();
    socket.off('message', onMessage);
    try {
      socket.close();
    } catch {
      // Already closed.
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A client session as a media link (the shape `client/media`'s `MediaClient.connectLink`
 * takes): datagrams are the session's, control messages ride the first stream this client
 * opens, length-prefixed as the server expects (docs/protocol.md, "WebTransport").
 */
export class WebTransportClientLink {
  readonly transport = 'webtransport' as const;
  events: {
    datagram?(bytes: Uint8Array): void;
    control?(message: Uint8Array): void;
    closed?(code: number, reason: string): void;
  } = {};
  private readonly control: WebTransportStream;
  private readonly decoder = new ControlDecoder();

  constructor(readonly client: WebTransportClient) {
    const session = client.session;
    this.control = session.openStream();
    session.events = {
      datagram: (payload) => this.events.datagram?.(payload),
      closed: (code, reason) => this.events.closed?.(code, reason),
    };
    this.control.listen({
      data: (chunk) => {
        const messages = this.decoder.push(chunk);
        if (!Array.isArray(messages)) {
          session.close(QuicCloseCode.controlMessageTooLarge, 'control message too large');
          return;
        }
        for (const message of messages) this.events.control?.(message);
      },
    });
  }

  get maxDatagramBytes(): number {
    return this.client.session.maxDatagramBytes;
  }

  sendDatagram(bytes: Uint8Array): DatagramSendFailure | null {
    return this.client.session.sendDatagram(bytes);
  }

  sendControl(message: Uint8Array): void {
    this.control.write(frameControlMessage(message));
  }

  close(code: number, reason: string): void {
    void this.client.close(code, reason);
  }
}
