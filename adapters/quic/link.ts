/**
 * One QUIC connection driven directly on @matrixai/quic's native quiche object (no JS
 * wrapper): packets in, packets out, the connection's timer, DATAGRAM frames, and the control
 * stream (docs/protocol.md, "QUIC media transport"). The server and the client share it; each
 * owns the UDP socket and hands packets in through `receive`.
 */
// The native binding alone: the library's JS wrapper (QUICServer and the rest) is not loaded.
import { quiche as nativeQuiche } from '@matrixai/quic/native/index.js';
import { buildQuicheConfig, clientDefault, serverDefault } from '@matrixai/quic/config.js';
import type { Config, Connection, RecvInfo } from '@matrixai/quic/native/types.js';
import type { DatagramSendFailure } from '../../ports/media-transport.ts';
import { ControlDecoder, frameControlMessage, MAX_CONTROL_MESSAGE_BYTES } from './framing.ts';

export const quiche = nativeQuiche;

/** The ALPN protocol id of a media connection. */
export const MEDIA_ALPN = 'darktower-media/1';

/** The client-initiated bidirectional stream that carries control messages. */
export const CONTROL_STREAM_ID = 0;

/**
 * Close codes reported through `closed`. All but the last two travel on the wire as QUIC
 * application error codes; those two are only reported locally.
 */
export const QuicCloseCode = {
  /** A normal close. */
  closed: 0x0,
  /** A control message declared more than 64 KiB. */
  controlMessageTooLarge: 0x101,
  /** The peer finished or reset the control stream. */
  controlStreamEnded: 0x102,
  /** The server is stopping. */
  stopping: 0x103,
  /** The client did not accept the server's certificate hash. */
  certificateMismatch: 0x104,
  /** Control messages waiting for the peer to read passed the backlog limit. */
  controlBacklog: 0x105,
  /** No packet for the idle timeout (or the handshake did not finish in time). */
  idleTimeout: 0x1f0,
  /** Closed by a QUIC transport error (local or the peer's); the reason names it. */
  transportError: 0x1f1,
} as const;

/** Error code of STOP_SENDING / RESET_STREAM for streams other than the control stream. */
export const STREAM_REFUSED_CODE = 0x110;

/**
 * Control bytes a connection may hold unsent (the peer not reading its control stream) before
 * it is closed: the service's notices must not pile up without bound.
 */
export const MAX_CONTROL_BACKLOG_BYTES = 1024 * 1024;

/** Longest close reason put on the wire, in bytes. */
const MAX_REASON_BYTES = 256;

export class ControlMessageTooLargeError extends Error {
  override readonly name = 'ControlMessageTooLargeError';
  constructor(readonly length: number) {
    super(`control message of ${length} bytes exceeds ${MAX_CONTROL_MESSAGE_BYTES}`);
  }
}

export interface QuicConfigOptions {
  readonly role: 'server' | 'client';
  readonly idleTimeoutMs: number;
  /** DATAGRAM receive and send queue lengths, in datagrams. */
  readonly datagramQueueLength: number;
  readonly certPem?: string;
  readonly keyPem?: string;
  /** Client: CA PEM to verify the server against (verification on); absent: verification off. */
  readonly caPem?: string;
  /** ALPN protocol ids, in preference order; default the media ALPN alone. */
  readonly applicationProtos?: readonly string[];
}

/** Builds a quiche config with DATAGRAM frames on and the media ALPN. */
export function buildConfig(options: QuicConfigOptions): Config {
  const base = options.role === 'server' ? serverDefault : clientDefault;
  return buildQuicheConfig({
    ...base,
    applicationProtos: [...(options.applicationProtos ?? [MEDIA_ALPN])],
    enableDgram: [true, options.datagramQueueLength, options.datagramQueueLength],
    enableEarlyData: false,
    maxIdleTimeout: options.idleTimeoutMs,
    initialMaxData: 2 * 1024 * 1024,
    initialMaxStreamDataBidiLocal: 512 * 1024,
    initialMaxStreamDataBidiRemote: 512 * 1024,
    initialMaxStreamDataUni: 64 * 1024,
    initialMaxStreamsBidi: 4,
    initialMaxStreamsUni: 8,
    ...(options.role === 'server'
      ? { key: options.keyPem, cert: options.certPem, verifyPeer: false }
      : { ca: options.caPem, verifyPeer: options.caPem !== undefined }),
  });
}

/**
 * An application protocol that takes over a link's datagrams and streams (HTTP/3 with
 * WebTransport: adapters/webtransport/). Without one, a link speaks the media protocol: DATAGRAM
 * frames and the control stream.
 */
export interface LinkApplication {
  /** Reads what the connection completed: datagrams and readable streams. */
  receive(): void;
  /** Writes what is queued on streams, just before packets are made. */
  pump(): void;
  /** The connection has closed (called once, before the link's `closed` hook). */
  closed(code: number, reason: string): void;
}

/** Where a link's outgoing packets go (the owner's UDP socket). */
export type PacketSink = (packet: Buffer, port: number, host: string) => void;

/** Runs the flushes links ask for once per event-loop turn, so one flush covers many packets. */
export class FlushQueue {
  private readonly dirty: QuicLink[] = [];
  private scheduled = false;

  constructor(private readonly onError: (error: unknown) => void) {}

  add(link: QuicLink): void {
    if (link.flushPending) return;
    link.flushPending = true;
    this.dirty.push(link);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    this.scheduled = false;
    // Links added while flushing (by a closed event's handler, say) go in this same pass.
    for (let i = 0; i < this.dirty.length; i++) {
      const link = this.dirty[i]!;
      link.flushPending = false;
      try {
        link.flush();
      } catch (error) {
        this.onError(error);
      }
    }
    this.dirty.length = 0;
  };
}

/** What a link tells its owner. Calls happen inside `receive`, a flush or a timer. */
export interface LinkHooks {
  established(link: QuicLink): void;
  datagram(link: QuicLink, bytes: Uint8Array): void;
  control(link: QuicLink, message: Uint8Array): void;
  /** Exactly once, when quiche has closed the connection (after draining). */
  closed(link: QuicLink, code: number, reason: string): void;
  /** A stream other than the control stream was refused. */
  streamRefused(link: QuicLink, streamId: number): void;
}

const SEND_BUFFER_BYTES = 65_535;
const READ_CHUNK_BYTES = 16 * 1024;
const textDecoder = new TextDecoder('utf-8', { fatal: false });
const textEncoder = new TextEncoder();

export class QuicLink {
  /** UDP packets handed to this connection. */
  packetsIn = 0;
  /** Set by FlushQueue only. */
  flushPending = false;
  private readonly sendBuffer = Buffer.allocUnsafe(SEND_BUFFER_BYTES);
  private readonly readBuffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  private readonly decoder = new ControlDecoder();
  private readonly controlQueue: Buffer[] = [];
  private controlQueuedBytes = 0;
  /** Server: true once the client has opened the control stream. Client: always true. */
  private controlOpen: boolean;
  private isEstablished = false;
  private closeReported = false;
  private localClose: { code: number; reason: string } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerDeadline = 0;
  private maxDatagram = 0;
  private readonly recvInfo: { from: { host: string; port: number }; to: RecvInfo['to'] };
  /** Set (by the owner's `established` hook) when the negotiated ALPN is not the media one. */
  application: LinkApplication | null = null;

  constructor(
    readonly conn: Connection,
    private readonly role: 'server' | 'client',
    private readonly sink: PacketSink,
    private readonly flushes: FlushQueue,
    private readonly hooks: LinkHooks,
    readonly remoteHost: string,
    readonly remotePort: number,
    local: RecvInfo['to'],
  ) {
    this.controlOpen = role === 'client';
    this.recvInfo = { from: { host: remoteHost, port: remotePort }, to: local };
  }

  get established(): boolean {
    return this.isEstablished;
  }

  /** True once closing started (locally or by the peer) or finished. */
  get closing(): boolean {
    return this.localClose !== null || this.closeReported || this.conn.isDraining();
  }

  /**
   * Packets handed in that quiche discarded without an error (they did not decrypt, or were
   * duplicates): read from its statistics when asked, so the packet path pays nothing.
   */
  discardedPackets(): number {
    try {
      return Math.max(0, this.packetsIn - this.conn.stats().recv);
    } catch {
      return 0;
    }
  }

  get maxDatagramBytes(): number {
    return this.maxDatagram;
  }

  /** The ALPN protocol id negotiated in the handshake ('' before). */
  get alpn(): string {
    return Buffer.from(this.conn.applicationProto()).toString('latin1');
  }

  /** Asks for a flush in this event-loop turn (an application queued stream data). */
  requestFlush(): void {
    this.flushes.add(this);
  }

  /**
   * Feeds one UDP packet to the connection and dispatches what it completed. Returns false when
   * quiche rejected the packet with an error (it then closes the connection itself).
   */
  receive(packet: Buffer, fromHost: string, fromPort: number): boolean {
    this.packetsIn++;
    const info = this.recvInfo;
    if (fromPort !== info.from.port || fromHost !== info.from.host) {
      info.from = { host: fromHost, port: fromPort };
    }
    let accepted = true;
    try {
      this.conn.recv(packet, info);
    } catch {
      accepted = false;
    }
    if (!this.isEstablished && this.conn.isEstablished()) {
      this.isEstablished = true;
      this.maxDatagram = this.conn.dgramMaxWritableLen() ?? 0;
      this.hooks.established(this);
    }
    if (this.isEstablished && !this.closeReported && this.application !== null) {
      if (this.localClose === null) this.application.receive();
    } else if (this.isEstablished && !this.closeReported) {
      // Datagrams first: quiche's isReadable() also counts queued datagrams, so once they are
      // drained it answers for streams alone, and the stream iterator is made only when needed.
      this.readDatagrams();
      if (this.localClose === null) this.readStreams();
    }
    this.flushes.add(this);
    return accepted;
  }

  /** Bytes of datagrams quiche holds for this connection (sent when congestion control lets it). */
  queuedDatagramBytes(): number {
    if (this.closeReported) return 0;
    try {
      return this.conn.dgramSendQueueByteSize();
    } catch {
      return 0;
    }
  }

  /** Queues one datagram; null when queued, else why it was dropped. */
  sendDatagram(bytes: Uint8Array): DatagramSendFailure | null {
    if (this.localClose !== null || this.closeReported) return 'closed';
    if (bytes.length > this.maxDatagram) return 'too-large';
    let queued: void | null;
    try {
      queued = this.conn.dgramSend(bytes);
    } catch {
      // quiche refuses a datagram longer than the current writable length, or any on a
      // closed connection.
      if (this.conn.isClosed() || this.conn.isDraining()) return 'closed';
      this.maxDatagram = this.conn.dgramMaxWritableLen() ?? 0;
      return 'too-large';
    }
    if (queued === null) return 'queue-full';
    this.flushes.add(this);
    return null;
  }

  /** Queues one whole control message, framed; throws if it is larger than 64 KiB. */
  sendControl(message: Uint8Array): void {
    if (message.length > MAX_CONTROL_MESSAGE_BYTES) {
      throw new ControlMessageTooLargeError(message.length);
    }
    this.writeControlStream(frameControlMessage(message));
  }

  /** Queues raw bytes on the control stream, unframed (protocol tests use it for bad frames). */
  writeControlStream(bytes: Uint8Array): void {
    if (this.localClose !== null || this.closeReported) return;
    if (this.controlQueuedBytes + bytes.length > MAX_CONTROL_BACKLOG_BYTES) {
      this.close(QuicCloseCode.controlBacklog, 'control backlog too large');
      return;
    }
    this.controlQueue.push(Buffer.from(bytes));
    this.controlQueuedBytes += bytes.length;
    this.flushes.add(this);
  }

  /** Starts closing with an application code; `closed` follows once quiche has drained. */
  close(code: number, reason: string): void {
    if (this.localClose !== null || this.closeReported) return;
    // Already draining: the peer closed first, and its code is the one to report.
    if (this.conn.isDraining() || this.conn.isClosed()) return;
    // On an accepted connection whose peer opened the control stream, what was queued before
    // the close goes out first (a hello answer before a redirect's or a refusal's close):
    // quiche discards stream data it has not sent once the connection closes. Not during a
    // client's handshake (a certificate refused must not finish it).
    if (this.role === 'server' && this.controlOpen) {
      this.flush();
      if (this.closeReported || this.conn.isClosed()) return;
    }
    this.localClose = { code, reason };
    try {
      this.conn.close(true, code, textEncoder.encode(reason).subarray(0, MAX_REASON_BYTES));
    } catch {
      // Already closed by quiche: the close is reported from its own error.
    }
    this.flushes.add(this);
  }

  /** Sends every packet quiche has ready, then re-arms the timer and reports a close. */
  flush(): void {
    if (this.closeReported) return;
    if (this.application !== null) {
      if (this.localClose === null) this.application.pump();
    } else if (this.controlQueue.length > 0) this.pumpControl();
    const conn = this.conn;
    const buffer = this.sendBuffer;
    for (;;) {
      let written: ReturnType<Connection['send']>;
      try {
        written = conn.send(buffer);
      } catch {
        break;
      }
      if (written === null) break;
      const length = written[0];
      const packet = Buffer.allocUnsafe(length);
      buffer.copy(packet, 0, 0, length);
      this.sink(packet, this.remotePort, this.remoteHost);
    }
    if (conn.isClosed()) {
      this.reportClosed();
      return;
    }
    this.armTimer();
  }

  /** Drops the timer without reporting (the owner is discarding a connection never opened). */
  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.closeReported = true;
  }

  private armTimer(): void {
    const timeout = this.conn.timeout();
    if (timeout === null) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      return;
    }
    const deadline = performance.now() + timeout;
    // An earlier timer already set is kept: quiche ignores a timeout that comes early, and the
    // timer re-arms after it fires. That saves resetting a timer on every packet.
    if (this.timer !== null && this.timerDeadline <= deadline) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerDeadline = deadline;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(timeout)));
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.closeReported) return;
    try {
      this.conn.onTimeout();
    } finally {
      this.flush();
    }
  };

  private reportClosed(): void {
    if (this.closeReported) return;
    this.closeReported = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const { code, reason } = this.closeCause();
    this.application?.closed(code, reason);
    this.hooks.closed(this, code, reason);
  }

  private closeCause(): { code: number; reason: string } {
    if (this.localClose !== null) return this.localClose;
    const conn = this.conn;
    if (conn.isTimedOut()) return { code: QuicCloseCode.idleTimeout, reason: 'idle timeout' };
    const peer = conn.peerError();
    if (peer !== null) {
      if (peer.isApp) return { code: peer.errorCode, reason: textDecoder.decode(peer.reason) };
      return {
        code: QuicCloseCode.transportError,
        reason: `peer closed with transport error 0x${peer.errorCode.toString(16)}`,
      };
    }
    const local = conn.localError();
    if (local !== null) {
      if (local.isApp) return { code: local.errorCode, reason: textDecoder.decode(local.reason) };
      return {
        code: QuicCloseCode.transportError,
        reason: `transport error 0x${local.errorCode.toString(16)}`,
      };
    }
    return { code: QuicCloseCode.transportError, reason: 'connection closed' };
  }

  private readDatagrams(): void {
    const conn = this.conn;
    for (;;) {
      const bytes = conn.dgramRecvVec();
      if (bytes === null) return;
      this.hooks.datagram(this, bytes);
    }
  }

  private readStreams(): void {
    const conn = this.conn;
    if (!conn.isReadable()) return;
    for (const streamId of conn.readable()) {
      if (streamId === CONTROL_STREAM_ID) {
        this.readControl();
      } else {
        this.refuseStream(streamId);
      }
      if (this.localClose !== null) return;
    }
  }

  private readControl(): void {
    const conn = this.conn;
    if (!this.controlOpen) {
      this.controlOpen = true;
      if (this.controlQueue.length > 0) this.flushes.add(this);
    }
    for (;;) {
      let read: ReturnType<Connection['streamRecv']>;
      try {
        read = conn.streamRecv(CONTROL_STREAM_ID, this.readBuffer);
      } catch {
        this.close(QuicCloseCode.controlStreamEnded, 'control stream reset');
        return;
      }
      if (read === null) return;
      const [length, fin] = read;
      if (length > 0) {
        const messages = this.decoder.push(this.readBuffer.subarray(0, length));
        if (!Array.isArray(messages)) {
          this.close(QuicCloseCode.controlMessageTooLarge, 'control message too large');
          return;
        }
        for (const message of messages) {
          this.hooks.control(this, message);
          if (this.localClose !== null || this.closeReported) return;
        }
      }
      if (fin) {
        this.close(QuicCloseCode.controlStreamEnded, 'control stream finished');
        return;
      }
    }
  }

  /**
   * Refuses a stream the peer opened besides the control stream: stop reading it and, for a
   * bidirectional one, reset our side. A unidirectional stream from the peer has no side of
   * ours to shut, and trying throws (quiche's InvalidStreamState): each step is tried alone.
   */
  private refuseStream(streamId: number): void {
    const conn = this.conn;
    const unidirectional = (streamId & 0x2) !== 0;
    let stopped = true;
    try {
      conn.streamShutdown(streamId, quiche.Shutdown.Read, STREAM_REFUSED_CODE);
    } catch {
      stopped = false;
    }
    if (!unidirectional) {
      try {
        conn.streamShutdown(streamId, quiche.Shutdown.Write, STREAM_REFUSED_CODE);
      } catch {
        // Nothing of ours was open on it.
      }
    }
    if (!stopped) {
      // Read and discard so the stream does not stay readable.
      try {
        while (conn.streamRecv(streamId, this.readBuffer) !== null);
      } catch {
        // The stream is gone.
      }
    }
    this.hooks.streamRefused(this, streamId);
  }

  private pumpControl(): void {
    if (!this.controlOpen) return;
    const queue = this.controlQueue;
    while (queue.length > 0) {
      const head = queue[0]!;
      let written: number | null;
      try {
        written = this.conn.streamSend(CONTROL_STREAM_ID, head, false);
      } catch {
        // The stream is unusable (the peer stopped it): the connection is ending.
        queue.length = 0;
        this.controlQueuedBytes = 0;
        if (!this.closing) this.close(QuicCloseCode.controlStreamEnded, 'control stream stopped');
        return;
      }
      if (written === null) return;
      this.controlQueuedBytes -= written;
      if (written < head.length) {
        queue[0] = head.subarray(written);
        return;
      }
      queue.shift();
    }
  }
}
