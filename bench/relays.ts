/**
 * Baseline relays for the media benchmarks: the least a Node forwarder could do on each
 * transport, with no checks at all. Each forwards every packet it receives to every other
 * peer it knows, so one sender and N listeners make a fan-out of 1 to N.
 *
 * Run on its own (`node --import tsx bench/relays.ts udp`), the plain UDP relay listens on an
 * ephemeral loopback port and prints `relay <port>`.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { pathToFileURL } from 'node:url';
import { quiche } from '@matrixai/quic/native/index.js';
import { buildQuicheConfig, serverDefault } from '@matrixai/quic/config.js';
import type { Connection } from '@matrixai/quic/native/types.js';
import type { ChildProcess } from 'node:child_process';
import { MEDIA_ALPN } from '../adapters/quic/link.ts';
import { QuicMediaTransport, type QuicMediaTransportOptions } from '../adapters/quic/server.ts';
import type { MediaConnection } from '../ports/media-transport.ts';

export interface Relay {
  readonly port: number;
  close(): Promise<void>;
}

export interface DgramRelay extends Relay {
  /** When set, called with the time from a packet's arrival to its last send, in ns. */
  timing: ((nanoseconds: number) => void) | null;
}

const closeSocket = (socket: dgram.Socket) =>
  new Promise<void>((resolve) => socket.close(() => resolve()));

/**
 * A `node:dgram` relay: a peer is known from its first packet (a listener announces itself
 * with any packet), and every packet goes to every other known peer, unchanged.
 */
export async function startDgramRelay(host = '127.0.0.1'): Promise<DgramRelay> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  socket.setRecvBufferSize(4 << 20);
  socket.setSendBufferSize(4 << 20);
  const relay: DgramRelay = {
    port: socket.address().port,
    close: () => closeSocket(socket),
    timing: null,
  };
  const peers = new Map<string, { address: string; port: number }>();
  const forward = (packet: Buffer, from: dgram.RemoteInfo) => {
    const key = `${from.address}:${from.port}`;
    if (!peers.has(key)) peers.set(key, { address: from.address, port: from.port });
    for (const [other, to] of peers) if (other !== key) socket.send(packet, to.port, to.address);
  };
  socket.on('message', (packet, from) => {
    const timing = relay.timing;
    if (timing === null) return forward(packet, from);
    const arrived = performance.now();
    forward(packet, from);
    timing(Math.round((performance.now() - arrived) * 1e6));
  });
  return relay;
}

/**
 * A QUIC relay written directly on the native quiche API (the library's ceiling here: no
 * events, no bookkeeping): every DATAGRAM a connection sends goes to every other established
 * connection. One publisher and N listeners give a fan-out of 1 to N.
 */
export async function startBareQuicRelay(certPem: string, keyPem: string): Promise<Relay> {
  const config = buildQuicheConfig({
    ...serverDefault,
    key: keyPem,
    cert: certPem,
    verifyPeer: false,
    applicationProtos: [MEDIA_ALPN],
    enableDgram: [true, 1024, 1024],
    enableEarlyData: false,
    maxIdleTimeout: 30_000,
    initialMaxStreamsBidi: 4,
    initialMaxStreamsUni: 8,
  });
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.setRecvBufferSize(4 * 1024 * 1024);
  socket.setSendBufferSize(4 * 1024 * 1024);
  const local = { host: '127.0.0.1', port: socket.address().port };
  interface Peer {
    conn: Connection;
    host: string;
    port: number;
    dirty: boolean;
    timer: NodeJS.Timeout | null;
    deadline: number;
  }
  const byId = new Map<string, Peer>();
  const peers: Peer[] = [];
  const out = Buffer.allocUnsafe(65_535);
  const scratch = Buffer.allocUnsafe(16 * 1024);
  let dirty: Peer[] = [];
  const flush = (peer: Peer): void => {
    for (;;) {
      const written = peer.conn.send(out);
      if (written === null) break;
      socket.send(Buffer.from(out.subarray(0, written[0])), peer.port, peer.host);
    }
    // Same timer economy as the transport: keep an earlier timer, quiche ignores early ones.
    const timeout = peer.conn.timeout();
    const deadline = timeout === null ? Infinity : performance.now() + timeout;
    if (peer.timer === null || deadline < peer.deadline) {
      if (peer.timer) clearTimeout(peer.timer);
      peer.deadline = deadline;
      peer.timer =
        timeout === null
          ? null
          : setTimeout(() => {
              peer.timer = null;
              peer.conn.onTimeout();
              flush(peer);
            }, timeout);
    }
    if (peer.conn.isClosed()) {
      if (peer.timer) clearTimeout(peer.timer);
      peers.splice(peers.indexOf(peer), 1);
    }
  };
  const markDirty = (peer: Peer): void => {
    if (peer.dirty) return;
    peer.dirty = true;
    if (dirty.length === 0) {
      setImmediate(() => {
        const batch = dirty;
        dirty = [];
        for (const p of batch) {
          p.dirty = false;
          flush(p);
        }
      });
    }
    dirty.push(peer);
  };
  socket.on('message', (packet, rinfo) => {
    // Short header: the 20-byte id follows the first byte; no header parse needed.
    let peer = (packet[0]! & 0x80) === 0 ? byId.get(packet.toString('latin1', 1, 21)) : undefined;
    if (peer === undefined) {
      const header = quiche.Header.fromSlice(packet, quiche.MAX_CONN_ID_LEN);
      const key = Buffer.from(header.dcid).toString('latin1');
      peer = byId.get(key);
    }
    if (peer === undefined) {
      const header = quiche.Header.fromSlice(packet, quiche.MAX_CONN_ID_LEN);
      const key = Buffer.from(header.dcid).toString('latin1');
      if (header.ty !== quiche.Type.Initial) return;
      const scid = randomBytes(quiche.MAX_CONN_ID_LEN);
      const conn = quiche.Connection.accept(
        scid,
        null,
        local,
        { host: rinfo.address, port: rinfo.port },
        config,
      );
      peer = {
        conn,
        host: rinfo.address,
        port: rinfo.port,
        dirty: false,
        timer: null,
        deadline: Infinity,
      };
      byId.set(key, peer);
      byId.set(scid.toString('latin1'), peer);
      peers.push(peer);
    }
    const conn = peer.conn;
    conn.recv(packet, { from: { host: rinfo.address, port: rinfo.port }, to: local });
    if (conn.isEstablished()) {
      for (;;) {
        const bytes = conn.dgramRecvVec();
        if (bytes === null) break;
        for (const other of peers) {
          if (other === peer || !other.conn.isEstablished()) continue;
          if (other.conn.dgramSend(bytes) !== null) markDirty(other);
        }
      }
      // With the datagrams drained, isReadable() is about streams only; the stream iterator
      // is costly, so it is made only when a stream has data.
      if (conn.isReadable()) {
        for (const stream of conn.readable()) {
          while (conn.streamRecv(stream, scratch) !== null);
        }
      }
    }
    markDirty(peer);
  });
  return { port: local.port, close: () => closeSocket(socket) };
}

if (process.argv[2] === 'udp' && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const relay = await startDgramRelay();
  console.log(`relay ${relay.port}`);
}

/** Datagrams the transport relay could not pass on, by reason. */
export const relayFailures = { 'too-large': 0, 'queue-full': 0, closed: 0 };

/**
 * The project's media transport (adapters/quic/server.ts) as a relay: every datagram a
 * connection sends goes to every other open connection; `options` adds to the certificate.
 */
export async function startTransportRelay(
  certPem: string,
  keyPem: string,
  options: Partial<QuicMediaTransportOptions> = {},
): Promise<{ transport: QuicMediaTransport; port: number }> {
  const transport = new QuicMediaTransport({ ...options, certPem, keyPem });
  const open: MediaConnection[] = [];
  const { port } = await transport.start({
    opened: (connection) => open.push(connection),
    datagram: (from, bytes) => {
      for (const other of open) {
        if (other === from) continue;
        const failure = other.sendDatagram(bytes);
        if (failure !== null) relayFailures[failure]++;
      }
    },
    control: () => {},
    closed: (connection) => open.splice(open.indexOf(connection), 1),
  });
  return { transport, port };
}

/** One round of a relay benchmark, as its parent reports it. */
export interface Round {
  readonly datagramsPerSecond: number;
  readonly datagramsPerCpuSecond: number;
  readonly sent: number;
  readonly delivered: number;
  readonly lossPercent: number;
  /** Datagrams the kernel dropped for full receive buffers during the round (whole machine). */
  readonly udpReceiveBufferErrors: number | null;
}

/**
 * Runs one round in the child that holds the clients; this process's CPU time is taken over
 * the sending period only (the child says when it starts and stops), not over handshakes and
 * closes.
 */
export function requestRound<Request extends object, Result>(
  child: ChildProcess,
  body: Request,
): Promise<{ result: Result; cpuSeconds: number }> {
  return new Promise((resolve) => {
    let cpuBefore: NodeJS.CpuUsage | null = null;
    let cpuSeconds = 0;
    const onMessage = (message: { phase?: string }): void => {
      if (message.phase === 'sending') {
        cpuBefore = process.cpuUsage();
      } else if (message.phase === 'stopped') {
        const cpu = process.cpuUsage(cpuBefore ?? undefined);
        cpuSeconds = (cpu.user + cpu.system) / 1e6;
      } else {
        child.off('message', onMessage);
        resolve({ result: message as Result, cpuSeconds });
      }
    };
    child.on('message', onMessage);
    child.send(body);
  });
}

/** A client's link as a relay round uses it (QUIC or WebTransport). */
export interface RoundLink {
  events: { datagram?(bytes: Uint8Array): void };
  sendDatagram(bytes: Uint8Array): unknown;
  sendControl(message: Uint8Array): void;
  close(code: number, reason: string): void;
}

/** What the clients of one round report to the parent. */
export interface ClientRoundResult {
  readonly sent: number;
  /** Delivered while A was sending (the rate's numerator). */
  readonly delivered: number;
  /** Delivered once the last datagrams in flight had time to land (for loss). */
  readonly deliveredAfterSettle: number;
  readonly elapsedMs: number;
}

/**
 * The clients' side of a round, in the child: B connects and counts, A connects and sends
 * `datagramBytes` datagrams for `durationMs` with at most `window` unanswered (lost ones stop
 * counting after 50 ms without progress); the parent is told when sending starts and stops.
 */
export async function runClientRound(
  connect: () => Promise<{ link: RoundLink; closed: Promise<unknown> }>,
  settings: {
    readonly durationMs: number;
    readonly datagramBytes: number;
    readonly window: number;
  },
): Promise<ClientRoundResult> {
  const { link: b, closed: bClosed } = await connect();
  let delivered = 0;
  b.events.datagram = () => {
    delivered++;
  };
  const { link: a, closed: aClosed } = await connect();
  // Both connections are open at the server before A sends.
  a.sendControl(Buffer.from('a'));
  b.sendControl(Buffer.from('b'));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const payload = Buffer.alloc(settings.datagramBytes, 0x5a);
  let sent = 0;
  let base = 0;
  let lastProgress = performance.now();
  let lastDelivered = 0;
  process.send?.({ phase: 'sending' });
  const start = performance.now();
  while (performance.now() - start < settings.durationMs) {
    const now = performance.now();
    if (delivered !== lastDelivered) {
      lastDelivered = delivered;
      lastProgress = now;
    } else if (now - lastProgress > 50) {
      // Lost datagrams never come back: stop counting them against the window.
      base = sent - delivered;
      lastProgress = now;
    }
    while (sent - delivered - base < settings.window) {
      if (a.sendDatagram(payload) !== null) break;
      sent++;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const elapsedMs = performance.now() - start;
  const deliveredInTime = delivered;
  process.send?.({ phase: 'stopped' });
  // Datagrams still in flight when sending stopped are not lost: let them land, then count.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const result = { sent, delivered: deliveredInTime, deliveredAfterSettle: delivered, elapsedMs };
  a.close(0, 'done');
  b.close(0, 'done');
  await Promise.all([aClosed, bClosed]);
  return result;
}
