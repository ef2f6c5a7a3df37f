/**
 * The Media Handler's driver: moves bytes, time and outputs between the transports and core's
 * forwarder (DESIGN.md, "Machines"). It decides nothing about meetings, sessions or routes:
 *
 * - transport events go in: a connection's hello is verified (signature and issuer, an
 *   adapter's job) and its claims handed to the forwarder as `session-open`; datagrams go
 *   to `forward` and out to the destinations it names; closes become `session-closed`;
 * - forwarder outputs go out: hello answers and notices as control messages, acks to the
 *   waiting route-API call, load reports to the shared store;
 * - one timer, armed at the forwarder's `pollTimeout`.
 *
 * - peer links: a `peer-wanted` output is dialed (the peer's QUIC address and certificate hash
 *   from its load report), a peer hello with this handler's service token is sent, and the
 *   accepted link is fed as `peer-connected`; a failure as `peer-dial-failed`. A peer hello
 *   arriving on an accepted connection is verified (AC's signature and scope, an adapter's
 *   job; the subject naming the handler, core's rule) and fed as `peer-connected` too.
 *   `peer-unneeded` closes the dialed link. Which links, which end and when: core decides.
 *
 * Forwarder connection keys are `transport connection id * 8 + transport index`, so several
 * transports (WebSocket, UDP, QUIC) and the links this handler dials (index 7) share one key
 * space.
 */
import type { ConnectionTokenClaims } from '../../core/mh/claims.ts';
import type { Forwarder } from '../../core/mh/forwarder.ts';
import type { HandlerId } from '../../core/ids.ts';
import type { MhOutput, RouteCommand } from '../../core/mh/types.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import type {
  DatagramSendFailure,
  MediaConnection,
  MediaTransport,
  MediaTransportEvents,
} from '../../ports/media-transport.ts';
import type { HandlerLoadRecord } from '../../ports/mh.ts';
import {
  ClientControl,
  HandlerControl,
  type HelloAnswer,
} from '../generated/darktower/mh/v1/control.ts';
import type { Clock } from '../shared/clock.ts';

/** Close codes the handler sends (docs/protocol.md, "Media Handler control messages"). */
export const CLOSE = {
  /** The handler ended the session (replaced, meeting ended, draining). */
  sessionEnded: 4000,
  /** Redirected to another handler. */
  redirected: 4302,
  /** A control message that does not decode, or one out of place. */
  malformed: 4400,
  /** The token was refused. */
  refused: 4401,
  /** No hello in time. */
  helloTimeout: 4408,
  /** No room (capacity, draining): retry later. */
  unavailable: 4503,
  /** A peer link no cascade leg needs any more. */
  peerUnneeded: 4001,
} as const;

const MAX_TRANSPORTS = 8;
/** The key-space index of the links this handler dials. */
const OUTBOUND = MAX_TRANSPORTS - 1;
/** How long a dialed peer may take to answer the peer hello. */
const PEER_HELLO_TIMEOUT_MS = 5_000;
/** Destinations of one datagram, at most (the forwarder drops it as `out-too-small` beyond). */
const MAX_DESTINATIONS = 4_096;

/** Verifies a connection token's signature and issuer (adapters/jwt/connection-tokens.ts). */
export type TokenVerifier = (
  token: string,
  now: number,
) => Promise<
  { ok: true; value: { claims: ConnectionTokenClaims } } | { ok: false; error: { kind: string } }
>;

/** Verifies a dialing peer's service token and that it names `handler` (adapters and core). */
export type PeerVerifier = (
  token: string,
  handler: string,
  now: number,
) => Promise<{ ok: true } | { ok: false; reason: string }>;

/** Where a peer handler's QUIC transport is, from its load report. */
export interface PeerTarget {
  readonly handler: string;
  readonly host: string;
  readonly port: number;
  readonly certificateSha256: Uint8Array;
}

/** A link this handler dialed (adapters/quic/client.ts's connection, as the driver sees it). */
export interface DialedLink {
  readonly connection: MediaConnection;
  setEvents(events: {
    datagram(bytes: Uint8Array): void;
    control(message: Uint8Array): void;
    closed(code: number, reason: string): void;
  }): void;
}

export interface PeeringOptions {
  /** Opens a QUIC connection to a peer handler. */
  dial(target: PeerTarget): Promise<DialedLink>;
  /** A current service token of this handler, from AC. */
  token(): Promise<string>;
  verify: PeerVerifier;
}

/** `host:port` or `[v6]:port` split; undefined when malformed. */
export function parseHostPort(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

/** Counters the driver keeps on the datagram path (read at scrape time). */
export class DriverCounters {
  datagramsSent = 0;
  bytesSent = 0;
  /** Send failures by `DatagramSendFailure`. */
  readonly sendFailures: Record<DatagramSendFailure, number> = {
    'too-large': 0,
    'queue-full': 0,
    closed: 0,
  };
  /** Hello outcomes: accepted, redirected, or the refusal reason. */
  readonly hellos = new Map<string, number>();
  /** Peer hellos received: accepted, or the refusal reason. */
  readonly peerHellos = new Map<string, number>();
  /** Peer dials: connected, or why not. */
  readonly peerDials = new Map<string, number>();
  /** Control messages that did not decode or came out of place. */
  malformedControl = 0;
  loadReportsPublished = 0;
  loadReportFailures = 0;
  /** Forwarding latency (arrival to last send) buckets, upper bounds in seconds. */
  static readonly LATENCY_BOUNDS = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01,
  ];
  readonly latencyBuckets = new Float64Array(DriverCounters.LATENCY_BOUNDS.length + 1);
  latencySum = 0;
  latencyCount = 0;
  /** The same, since the last quality sample. */
  readonly intervalBuckets = new Float64Array(DriverCounters.LATENCY_BOUNDS.length + 1);
  intervalSent = 0;
  intervalFailed = 0;

  bump(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  observeLatency(seconds: number): void {
    const bounds = DriverCounters.LATENCY_BOUNDS;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    this.latencyBuckets[i] = (this.latencyBuckets[i] as number) + 1;
    this.intervalBuckets[i] = (this.intervalBuckets[i] as number) + 1;
    this.latencySum += seconds;
    this.latencyCount++;
  }

  /** p99 forwarding latency (ms, bucket upper bound) and loss since the last call; resets. */
  takeQualitySample(): { p99LatencyMs: number; lossRatio: number } | null {
    const buckets = this.intervalBuckets;
    let total = 0;
    for (const count of buckets) total += count;
    const attempts = this.intervalSent + this.intervalFailed;
    if (total === 0 && attempts === 0) return null;
    const bounds = DriverCounters.LATENCY_BOUNDS;
    let seen = 0;
    let p99 = 0;
    for (let i = 0; i < buckets.length; i++) {
      seen += buckets[i] as number;
      if (seen >= total * 0.99) {
        p99 = (bounds[i] ?? (bounds[bounds.length - 1] as number) * 2) * 1000;
        break;
      }
    }
    const lossRatio = attempts === 0 ? 0 : this.intervalFailed / attempts;
    buckets.fill(0);
    this.intervalSent = 0;
    this.intervalFailed = 0;
    return { p99LatencyMs: p99, lossRatio };
  }
}

type ConnectionState = 'awaiting-hello' | 'verifying' | 'session' | 'peer' | 'closing';

interface Tracked {
  readonly connection: MediaConnection;
  readonly key: number;
  state: ConnectionState;
  /** When a connection still without a hello is closed (ms, clock time). */
  helloDeadline: number;
  meeting?: string;
  participant?: string;
  /** For a peer link: the peer handler. */
  peer?: string;
}

export interface DriverOptions {
  readonly forwarder: Forwarder;
  readonly verify: TokenVerifier;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly helloTimeoutMs: number;
  /** Publishes a load report to the shared store. */
  readonly publishLoad: (record: HandlerLoadRecord) => Promise<void>;
  /** The region's other handlers' records (fed to the forwarder for admission redirects). */
  readonly readPeers: () => Promise<HandlerLoadRecord[]>;
  /** This handler's client address, put in its load reports. */
  readonly address: () => string;
  /** This handler's QUIC address and certificate hash (hex), when QUIC is on. */
  readonly quic?: () => { address: string; certificateSha256: string } | undefined;
  /** Peer links for cascades; without them no link is dialed and peer hellos are refused. */
  readonly peering?: PeeringOptions;
}

export class MediaHandlerDriver {
  readonly counters = new DriverCounters();
  readonly forwarder: Forwarder;
  private readonly connections = new Map<number, Tracked>();
  private readonly out = new Int32Array(MAX_DESTINATIONS);
  private readonly pendingAcks = new Map<
    string,
    (ack: Extract<MhOutput, { type: 'route-ack' }>) => void
  >();
  private readonly peerAddresses = new Map<string, string>();
  private readonly peerTargets = new Map<string, PeerTarget>();
  /** Dials under way, by peer; `cancelled` once the peer is no longer wanted. */
  private readonly dials = new Map<string, { cancelled: boolean }>();
  private readonly transports: MediaTransport[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor: number | null = null;
  private stopped = false;
  private drainDone: (() => void) | undefined;
  private drainDeadlineTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DriverOptions) {
    this.forwarder = options.forwarder;
  }

  /** Open connections by transport (for the connections gauge). */
  connectionCounts(): Record<MediaConnection['transport'], number> {
    const counts = { quic: 0, webtransport: 0, websocket: 0, udp: 0 };
    // Links this handler dialed count as QUIC connections too.
    for (const tracked of this.connections.values()) counts[tracked.connection.transport]++;
    return counts;
  }

  /** The most bytes of datagrams any one connection has queued and not sent (for a gauge). */
  largestSendQueueBytes(): number {
    let largest = 0;
    for (const tracked of this.connections.values()) {
      const queued = tracked.connection.queuedDatagramBytes();
      if (queued > largest) largest = queued;
    }
    return largest;
  }

  /** Starts a transport whose events this driver handles; resolves with its address. */
  async attach(transport: MediaTransport): Promise<{ host: string; port: number }> {
    const index = this.transports.length;
    if (index >= OUTBOUND) throw new Error('too many transports');
    this.transports.push(transport);
    return transport.start(this.eventsFor(index));
  }

  /** Arms the first timer (after the transports are attached). */
  start(): void {
    this.forwarder.handleTimeout(this.options.clock.now());
    this.pump();
  }

  private eventsFor(index: number): MediaTransportEvents {
    const keyOf = (connection: MediaConnection) => connection.id * MAX_TRANSPORTS + index;
    return {
      opened: (connection) => {
        const key = keyOf(connection);
        this.connections.set(key, {
          connection,
          key,
          state: 'awaiting-hello',
          helloDeadline: this.options.clock.now() + this.options.helloTimeoutMs,
        });
      },
      datagram: (connection, bytes) => this.datagram(keyOf(connection), bytes),
      control: (connection, message) => this.control(keyOf(connection), message),
      closed: (connection) => {
        const key = keyOf(connection);
        const tracked = this.connections.get(key);
        if (tracked === undefined || tracked.connection !== connection) return;
        this.connections.delete(key);
        if (tracked.state === 'session') {
          this.forwarder.handle({ type: 'session-closed', connection: key }, this.now());
          this.pump();
        } else if (tracked.state === 'peer') {
          this.forwarder.handle({ type: 'peer-disconnected', connection: key }, this.now());
          this.pump();
        }
      },
    };
  }

  private now(): number {
    return this.options.clock.now();
  }

  // ---- datagram path --------------------------------------------------------------------

  private datagram(key: number, bytes: Uint8Array): void {
    const arrived = performance.now();
    const forwarder = this.forwarder;
    const out = this.out;
    const count = forwarder.forward(key, bytes, out);
    if (count <= 0) return;
    const subscribers = forwarder.lastSubscriberCount;
    const counters = this.counters;
    for (let i = 0; i < subscribers; i++) this.sendTo(out[i] as number, bytes);
    if (count > subscribers) {
      // Peers get the hop count raised: one copy for all of them, the original untouched.
      const raised = new Uint8Array(bytes);
      raised[2] = (raised[2] as number) + 1;
      for (let i = subscribers; i < count; i++) this.sendTo(out[i] as number, raised);
    }
    counters.observeLatency((performance.now() - arrived) / 1000);
  }

  private sendTo(key: number, bytes: Uint8Array): void {
    const counters = this.counters;
    const tracked = this.connections.get(key);
    const failure: DatagramSendFailure | null =
      tracked === undefined ? 'closed' : tracked.connection.sendDatagram(bytes);
    if (failure === null) {
      counters.datagramsSent++;
      counters.bytesSent += bytes.length;
      counters.intervalSent++;
    } else {
      counters.sendFailures[failure]++;
      counters.intervalFailed++;
    }
  }

  // ---- control path ---------------------------------------------------------------------

  private control(key: number, message: Uint8Array): void {
    const tracked = this.connections.get(key);
    if (tracked === undefined) return;
    let decoded: ClientControl;
    try {
      decoded = ClientControl.decode(message);
    } catch {
      decoded = { hello: undefined };
    }
    if (decoded.peerHello !== undefined && tracked.state === 'awaiting-hello') {
      this.peerHello(tracked, decoded.peerHello.handler, decoded.peerHello.serviceToken);
      return;
    }
    const hello = decoded.hello;
    if (hello === undefined || tracked.state !== 'awaiting-hello') {
      this.counters.malformedControl++;
      this.closeConnection(
        tracked,
        CLOSE.malformed,
        hello === undefined ? 'malformed control message' : 'unexpected hello',
      );
      return;
    }
    tracked.state = 'verifying';
    this.options.verify(hello.connectionToken, this.now()).then(
      (verified) => {
        if (this.connections.get(key) !== tracked || tracked.state !== 'verifying') return;
        if (!verified.ok) {
          const reason = verified.error.kind;
          this.counters.bump(this.counters.hellos, reason);
          this.options.logger.info(
            { remote: tracked.connection.remote, reason },
            'connection token refused',
          );
          this.answer(tracked, {
            rejected: {
              reason,
              retryAfterMs: reason === 'keys_unavailable' ? 1_000 : 0,
            },
          });
          this.closeConnection(
            tracked,
            reason === 'keys_unavailable' ? CLOSE.unavailable : CLOSE.refused,
            'connection token refused',
          );
          return;
        }
        this.forwarder.handle(
          { type: 'session-open', connection: key, claims: verified.value.claims },
          this.now(),
        );
        this.pump();
      },
      (error: unknown) => {
        this.options.logger.error({ err: error }, 'connection token verification failed');
        if (this.connections.get(key) === tracked) {
          this.closeConnection(tracked, CLOSE.unavailable, 'verification failed');
        }
      },
    );
  }

  /** A peer handler's hello on an accepted connection: verify, then bind it as a peer link. */
  private peerHello(tracked: Tracked, handler: string, token: string): void {
    tracked.state = 'verifying';
    const refuse = (reason: string) => {
      this.counters.bump(this.counters.peerHellos, reason);
      this.options.logger.warn({ remote: tracked.connection.remote, reason }, 'peer refused');
      this.answer(tracked, { rejected: { reason, retryAfterMs: 0 } });
      this.closeConnection(tracked, CLOSE.refused, 'peer refused');
    };
    const peering = this.options.peering;
    if (peering === undefined) {
      refuse('peering-disabled');
      return;
    }
    if (handler === '' || handler === this.forwarder.handlerId) {
      refuse('bad-handler');
      return;
    }
    peering.verify(token, handler, this.now()).then(
      (verified) => {
        if (this.connections.get(tracked.key) !== tracked || tracked.state !== 'verifying') return;
        if (!verified.ok) {
          refuse(verified.reason);
          return;
        }
        this.counters.bump(this.counters.peerHellos, 'accepted');
        tracked.state = 'peer';
        tracked.peer = handler;
        this.answer(tracked, { peerAccepted: { handler: this.forwarder.handlerId } });
        this.options.logger.info({ peer: handler }, 'peer link accepted');
        this.forwarder.handle(
          { type: 'peer-connected', handler: handler as HandlerId, connection: tracked.key },
          this.now(),
        );
        this.pump();
      },
      (error: unknown) => {
        this.options.logger.error({ err: error }, 'peer verification failed');
        if (this.connections.get(tracked.key) === tracked) refuse('verification-failed');
      },
    );
  }

  /** Dials a peer the forwarder wants; feeds `peer-connected` or `peer-dial-failed`. */
  private async dialPeer(handler: HandlerId): Promise<void> {
    if (this.dials.has(handler)) return;
    const attempt = { cancelled: false };
    this.dials.set(handler, attempt);
    let link: DialedLink | undefined;
    try {
      const peering = this.options.peering;
      if (peering === undefined) throw new PeerDialError('peering-disabled');
      let target = this.peerTargets.get(handler);
      if (target === undefined) {
        await this.readPeerRecords();
        target = this.peerTargets.get(handler);
      }
      if (target === undefined) throw new PeerDialError('no-address');
      const token = await peering.token();
      link = await peering.dial(target);
      const dialed = link;
      const answer = await new Promise<HelloAnswer>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new PeerDialError('hello-timeout')),
          PEER_HELLO_TIMEOUT_MS,
        );
        dialed.setEvents({
          datagram: () => undefined,
          control: (message) => {
            clearTimeout(timer);
            try {
              const answered = HandlerControl.decode(message).helloAnswer;
              if (answered === undefined) reject(new PeerDialError('malformed-answer'));
              else resolve(answered);
            } catch {
              reject(new PeerDialError('malformed-answer'));
            }
          },
          closed: () => {
            clearTimeout(timer);
            reject(new PeerDialError('closed'));
          },
        });
        dialed.connection.sendControl(
          ClientControl.encode({
            hello: undefined,
            peerHello: { handler: this.forwarder.handlerId, serviceToken: token },
          }).finish(),
        );
      });
      if (answer.peerAccepted === undefined) {
        throw new PeerDialError(`refused:${answer.rejected?.reason ?? 'unknown'}`);
      }
      if (answer.peerAccepted.handler !== handler) throw new PeerDialError('wrong-handler');
      if (attempt.cancelled || this.stopped) {
        dialed.connection.close(CLOSE.peerUnneeded, 'peer link unneeded');
        return;
      }
      const key = dialed.connection.id * MAX_TRANSPORTS + OUTBOUND;
      const tracked: Tracked = {
        connection: dialed.connection,
        key,
        state: 'peer',
        helloDeadline: Number.POSITIVE_INFINITY,
        peer: handler,
      };
      this.connections.set(key, tracked);
      dialed.setEvents({
        datagram: (bytes) => this.datagram(key, bytes),
        control: () => void this.counters.malformedControl++,
        closed: () => {
          if (this.connections.get(key) !== tracked) return;
          this.connections.delete(key);
          if (tracked.state !== 'peer') return;
          this.forwarder.handle({ type: 'peer-disconnected', connection: key }, this.now());
          this.pump();
        },
      });
      this.counters.bump(this.counters.peerDials, 'connected');
      this.options.logger.info({ peer: handler }, 'peer link dialed');
      this.forwarder.handle({ type: 'peer-connected', handler, connection: key }, this.now());
      this.pump();
    } catch (error) {
      const reason = error instanceof PeerDialError ? error.reason : 'connect-failed';
      link?.connection.close(CLOSE.malformed, 'peer dial failed');
      this.counters.bump(
        this.counters.peerDials,
        reason.startsWith('refused:') ? 'refused' : reason,
      );
      this.options.logger.warn({ peer: handler, reason }, 'peer dial failed');
      if (!this.stopped) {
        this.forwarder.handle({ type: 'peer-dial-failed', handler }, this.now());
        this.pump();
      }
    } finally {
      if (this.dials.get(handler) === attempt) this.dials.delete(handler);
    }
  }

  /** Closes the link this handler dialed to `handler`, and cancels a dial under way. */
  private dropPeer(handler: string): void {
    const attempt = this.dials.get(handler);
    if (attempt !== undefined) attempt.cancelled = true;
    for (const tracked of [...this.connections.values()]) {
      if (tracked.state !== 'peer' || tracked.peer !== handler) continue;
      if (tracked.key % MAX_TRANSPORTS !== OUTBOUND) continue;
      this.connections.delete(tracked.key);
      tracked.state = 'closing';
      this.forwarder.handle({ type: 'peer-disconnected', connection: tracked.key }, this.now());
      tracked.connection.close(CLOSE.peerUnneeded, 'peer link unneeded');
      this.options.logger.info({ peer: handler }, 'peer link closed: unneeded');
    }
  }

  private answer(tracked: Tracked, answer: HelloAnswer): void {
    tracked.connection.sendControl(
      HandlerControl.encode({ helloAnswer: answer, sessionClosed: undefined }).finish(),
    );
  }

  private closeConnection(tracked: Tracked, code: number, reason: string): void {
    if (tracked.state === 'session') {
      this.forwarder.handle({ type: 'session-closed', connection: tracked.key }, this.now());
    } else if (tracked.state === 'peer') {
      this.forwarder.handle({ type: 'peer-disconnected', connection: tracked.key }, this.now());
    }
    tracked.state = 'closing';
    tracked.connection.close(code, reason);
  }

  /** Hands a route command to the forwarder; returns its ack (the forwarder acks at once). */
  applyRouteCommand(command: RouteCommand): Extract<MhOutput, { type: 'route-ack' }> {
    let ack: Extract<MhOutput, { type: 'route-ack' }> | undefined;
    const key = `${command.controller}\u0000${command.meeting}\u0000${command.id}`;
    this.pendingAcks.set(key, (output) => (ack = output));
    this.forwarder.handle({ type: 'route-command', ...command }, this.now());
    this.pump();
    this.pendingAcks.delete(key);
    if (ack === undefined) throw new Error('the forwarder did not acknowledge a route command');
    return ack;
  }

  /** Ends a meeting here; returns how many sessions it closed. */
  endMeeting(meeting: string, controller: string): number {
    const before = this.forwarder.sessionCount;
    this.forwarder.handle(
      {
        type: 'meeting-ended',
        meeting: meeting as RouteCommand['meeting'],
        controller: controller as RouteCommand['controller'],
      },
      this.now(),
    );
    this.pump();
    return before - this.forwarder.sessionCount;
  }

  // ---- outputs and time -----------------------------------------------------------------

  /** Drains the forwarder's outputs, then re-arms the timer. */
  private pump(): void {
    for (let output = this.forwarder.pollOutput(); output !== null;) {
      this.carryOut(output);
      output = this.forwarder.pollOutput();
    }
    this.arm();
    if (this.drainDone !== undefined && this.forwarder.sessionCount === 0) {
      const done = this.drainDone;
      this.drainDone = undefined;
      done();
    }
  }

  private carryOut(output: MhOutput): void {
    const logger = this.options.logger;
    switch (output.type) {
      case 'route-ack': {
        const key = `${output.controller}\u0000${output.meeting}\u0000${output.id}`;
        this.pendingAcks.get(key)?.(output);
        break;
      }
      case 'session-accepted': {
        const tracked = this.connections.get(output.connection);
        this.counters.bump(this.counters.hellos, 'accepted');
        if (tracked === undefined) break;
        tracked.state = 'session';
        tracked.meeting = output.meeting;
        tracked.participant = output.participant;
        this.answer(tracked, {
          accepted: {
            meeting: output.meeting,
            participant: output.participant,
            reconnect: output.reconnect,
          },
        });
        logger.info(
          {
            meeting_id: output.meeting,
            participant_id: output.participant,
            reconnect: output.reconnect,
            transport: tracked.connection.transport,
          },
          'session accepted',
        );
        break;
      }
      case 'session-redirected': {
        this.counters.bump(this.counters.hellos, 'redirected');
        const tracked = this.connections.get(output.connection);
        if (tracked === undefined) break;
        this.answer(tracked, {
          redirected: { handler: output.to, address: this.peerAddresses.get(output.to) ?? '' },
        });
        logger.info(
          { meeting_id: output.meeting, participant_id: output.participant, to: output.to },
          'session redirected',
        );
        this.closeConnection(tracked, CLOSE.redirected, 'redirected');
        break;
      }
      case 'session-rejected': {
        this.counters.bump(this.counters.hellos, output.reason);
        const tracked = this.connections.get(output.connection);
        if (tracked === undefined) break;
        this.answer(tracked, {
          rejected: { reason: output.reason, retryAfterMs: output.retryAfterMs ?? 0 },
        });
        logger.info({ reason: output.reason }, 'session refused');
        this.closeConnection(
          tracked,
          output.retryAfterMs === null ? CLOSE.refused : CLOSE.unavailable,
          output.reason,
        );
        break;
      }
      case 'session-closed': {
        const tracked = this.connections.get(output.connection);
        logger.info(
          { meeting_id: output.meeting, participant_id: output.participant, reason: output.reason },
          'session closed by the handler',
        );
        if (tracked === undefined) break;
        tracked.connection.sendControl(
          HandlerControl.encode({
            helloAnswer: undefined,
            sessionClosed: { reason: output.reason },
          }).finish(),
        );
        tracked.state = 'closing';
        tracked.connection.close(CLOSE.sessionEnded, output.reason);
        break;
      }
      case 'load-report': {
        const record: HandlerLoadRecord = {
          ...output.report,
          quality: output.quality,
          bitsPerSecond: output.bitsPerSecond,
          capacityBps: this.forwarder.capacityBps,
          sessions: output.sessions,
          streams: output.streams,
          address: this.options.address(),
          ...this.quicFields(),
          draining: this.forwarder.draining,
        };
        this.publish(record);
        break;
      }
      case 'band-changed':
        logger.warn(
          { from: output.from, to: output.to, utilisation: output.utilisation },
          'bandwidth band changed',
        );
        break;
      case 'quality-changed':
        logger.warn({ from: output.from, to: output.to }, 'quality stage changed');
        break;
      case 'peer-wanted':
        void this.dialPeer(output.handler);
        break;
      case 'peer-unneeded':
        this.dropPeer(output.handler);
        break;
    }
  }

  /** Publishes this handler's record now, outside the report cadence (drain start). */
  publishNow(): Promise<void> {
    return this.publish({
      handlerId: this.forwarder.handlerId,
      region: this.forwarder.region,
      utilisation: this.forwarder.utilisation,
      state: this.forwarder.band,
      reportedAt: this.now(),
      quality: this.forwarder.qualityStage,
      bitsPerSecond: 0,
      capacityBps: this.forwarder.capacityBps,
      sessions: this.forwarder.sessionCount,
      streams: this.forwarder.streamCount,
      address: this.options.address(),
      ...this.quicFields(),
      draining: this.forwarder.draining,
    });
  }

  private quicFields(): { quicAddress: string; quicCertificateSha256: string } {
    const quic = this.options.quic?.();
    return {
      quicAddress: quic?.address ?? '',
      quicCertificateSha256: quic?.certificateSha256 ?? '',
    };
  }

  /** Publishes a record; never rejects (a failure is counted and logged). */
  private publish(record: HandlerLoadRecord): Promise<void> {
    return this.options.publishLoad(record).then(
      () => void this.counters.loadReportsPublished++,
      (error: unknown) => {
        this.counters.loadReportFailures++;
        this.options.logger.debug({ err: error }, 'load report not published');
      },
    );
  }

  private arm(): void {
    if (this.stopped) return;
    const deadline = this.forwarder.pollTimeout();
    if (deadline === this.armedFor) return;
    clearTimeout(this.timer);
    this.armedFor = deadline;
    if (deadline === null) return;
    this.timer = setTimeout(() => this.tick(), Math.max(0, deadline - this.now()));
  }

  private tick(): void {
    this.armedFor = null;
    const now = this.now();
    const sample = this.counters.takeQualitySample();
    if (sample !== null) this.forwarder.handle({ type: 'quality-sample', sample }, now);
    this.forwarder.handleTimeout(now);
    for (const tracked of [...this.connections.values()]) {
      if (tracked.state === 'awaiting-hello' && now >= tracked.helloDeadline) {
        this.closeConnection(tracked, CLOSE.helloTimeout, 'no hello in time');
      }
    }
    this.pump();
    this.refreshPeers();
  }

  /** Reads the region's other handlers' reports and hands them to the forwarder. */
  private refreshPeers(): void {
    this.readPeerRecords().then(
      () => undefined,
      () => undefined,
    );
  }

  private async readPeerRecords(): Promise<void> {
    const records = await this.options.readPeers();
    if (this.stopped) return;
    const now = this.now();
    for (const record of records) {
      if (record.handlerId === this.forwarder.handlerId) continue;
      this.peerAddresses.set(record.handlerId, record.address);
      const quic = parseHostPort(record.quicAddress);
      if (quic !== undefined && /^[0-9a-f]{64}$/.test(record.quicCertificateSha256)) {
        this.peerTargets.set(record.handlerId, {
          handler: record.handlerId,
          ...quic,
          certificateSha256: Uint8Array.from(Buffer.from(record.quicCertificateSha256, 'hex')),
        });
      }
      this.forwarder.handle({ type: 'peer-load-report', report: record }, now);
    }
    this.pump();
  }

  // ---- drain and stop -------------------------------------------------------------------

  /**
   * Stops admitting (the forwarder's `drain`), lets sessions run until `graceMs` from now,
   * and resolves once none is left (the forwarder closes the rest at the deadline).
   */
  async drain(graceMs: number): Promise<void> {
    let announced: Promise<void> = Promise.resolve();
    await new Promise<void>((resolve) => {
      this.drainDone = resolve;
      this.forwarder.handle({ type: 'drain', deadlineMs: this.now() + graceMs }, this.now());
      // Controllers and other handlers learn at once that this one takes no one.
      announced = this.publishNow();
      this.pump();
      // Should a session outlive the deadline's outputs (it cannot), never wait past it.
      this.drainDeadlineTimer = setTimeout(() => {
        this.drainDone = undefined;
        resolve();
      }, graceMs + 1_000);
    });
    clearTimeout(this.drainDeadlineTimer);
    await announced;
  }

  /** Stops the timer and the transports (closing every connection). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.drainDeadlineTimer);
    for (const attempt of this.dials.values()) attempt.cancelled = true;
    for (const tracked of [...this.connections.values()]) {
      if (tracked.key % MAX_TRANSPORTS !== OUTBOUND) continue;
      this.connections.delete(tracked.key);
      tracked.state = 'closing';
      tracked.connection.close(CLOSE.sessionEnded, 'handler stopping');
    }
    await Promise.all(this.transports.map((transport) => transport.stop()));
  }
}

class PeerDialError extends Error {
  override readonly name = 'PeerDialError';
  constructor(readonly reason: string) {
    super(reason);
  }
}
