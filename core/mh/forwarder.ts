/**
 * The Media Handler forwarder: one machine per handler (DESIGN.md, "Machines"). It keeps the
 * forwarding table the Meeting Controllers' route commands build, admits client sessions from
 * their connection-token claims, decides each datagram's destinations without allocating, and
 * measures its bandwidth into periodic load reports with bands and quality stages.
 *
 * Contract (the simulator and the MH service drive it):
 *
 *   const f = new Forwarder({ handler, region, capacityBps, loadReportIntervalMs?, ... });
 *   f.handle(input: MhInput, nowMs)   route-command, session-open, session-closed,
 *                                     peer-connected, peer-disconnected, peer-dial-failed,
 *                                     peer-load-report, traffic, quality-sample, drain
 *   f.handleTimeout(nowMs)            the deadline from pollTimeout has come
 *   f.pollOutput(): MhOutput | null   route-ack, session-accepted / -redirected / -rejected,
 *                                     session-closed, load-report, band-changed, quality-changed,
 *                                     peer-wanted, peer-unneeded
 *   f.pollTimeout(): number | null    next load report, quality recovery, drain deadline or
 *                                     peer redial (ms)
 *   f.forward(from, datagram, out)    the datagram decision (below)
 *   f.dispatch(from, datagram, out, send)  forward, then send with the hop count raised for peers
 *
 * Route commands. A command's legs that concern this handler are applied, additions before
 * removals, as a set (core/mh/table.ts). Idempotency: a command id is remembered per
 * (controller, meeting) after it is applied, and a command whose id is remembered is acked
 * again (`duplicate: true`) and not re-applied. An id is forgotten only once it is both older
 * than `routeIdRetentionMs` (default 120 s) and not among the last `routeIdWindow` (default 64)
 * ids of its (controller, meeting); a retransmission arriving within either bound is
 * recognised.
 *
 * Identities on the datagram path. The header's stream id and publisher id are pure functions
 * of (meeting, participant[, kind]) (core/mh/stream-id.ts), so the table indexes each stream by
 * its stream id. A session-open binds (meeting, participant) to its connection key; a
 * peer-connected input binds a peer handler to its connection key (a key that is invalid or
 * held by a session or another peer is ignored; a peer reconnecting replaces its old key).
 * Destinations are those bindings resolved for the stream's legs; a leg whose party has no
 * connection yet is skipped. `remembered` tells how many nonces, peer reports and route ids
 * are kept, all pruned at each load report.
 *
 * The datagram decision. `forward(from, datagram, out)` reads the 42-byte header in place and
 * returns the number of destination connection keys written to `out`, or a negative DROP_*
 * code. Sources: a client connection may send only streams it publishes here (publish leg, its
 * own publisher id) with hop count 0; a peer connection only streams with a cascade leg from
 * that peer to here, with hop count 1 or 2. Destinations: local subscribers first
 * (`out[0 .. lastSubscriberCount)`), then the peers the stream cascades to; a datagram already
 * at hop count 2 (MAX_HOP_COUNT) is never cascaded (counted in `counters.cascadeSuppressed`).
 *
 * Hop count: `forward` never writes to the datagram. Peers must receive the hop count raised
 * by one and subscribers the count as received, so `dispatch` sends the subscribers' copies,
 * then raises byte 2 in place, then sends the peers' copies; `send` must copy or transmit the
 * bytes before it returns (QUIC DATAGRAM and WebSocket sends do). A driver calling `forward`
 * itself does the same with `incrementHopCount` (core/protocol/datagram.ts).
 *
 * Peer links. Which peer handlers this handler links to, which end of a pair dials, when a
 * dial is retried and when a link is let go are decided here (core/mh/peering.ts): after every
 * route command that changes the table and every meeting end, the peers named by cascade legs
 * are reconciled into `peer-wanted` / `peer-unneeded` outputs; `peer-dial-failed` and a
 * `peer-disconnected` of a still-needed link schedule a `peer-wanted` again after a backoff.
 *
 * Admission. A session-open is refused before admission when its connection key is invalid or
 * in use, or its claims fail `checkConnectionClaims` (wrong handler, expired or not yet valid
 * beyond the skew, nonce replayed, ...). A participant with a session here is a reconnect: the
 * old connection is closed (`session-closed`, reason `replaced`) and the new one accepted
 * without admission, since its load is already here. Otherwise `admitParticipant` decides from
 * the last load report's utilisation and band and the stored peer reports. The nonce is spent
 * only when a session is accepted (a client refused for capacity may retry with its token) and
 * remembered until the token's expiry plus the skew.
 *
 * Draining. After a `drain` input every session-open that passes the claims check is treated
 * as arriving at a handler at its hard limit: redirected to the least-loaded eligible handler
 * of the region, else rejected `draining` with the admission policy's retry-after (a reconnect
 * too: the handler is leaving). Sessions already open keep forwarding until the drain
 * deadline, when each still open is closed (`session-closed`, reason `draining`). Its load
 * reports say `draining: true`, and a peer's report that says so makes that peer no redirect
 * target.
 *
 * Bandwidth. Every `loadReportIntervalMs` the bytes counted by `forward` (received once, plus
 * one copy per destination) and by `traffic` inputs give bits per second; utilisation is that
 * over capacity, the band follows `nextBandwidthState` (hysteresis), and the quality stage
 * follows `nextQualityState` over the driver's quality samples.
 */
import {
  DEFAULT_ADMISSION_POLICY,
  admitParticipant,
  type AdmissionPolicy,
  type HandlerLoadReport,
} from '../backpressure/admission.ts';
import {
  DEFAULT_BANDWIDTH_POLICY,
  nextBandwidthState,
  type BandwidthPolicy,
  type BandwidthState,
} from '../backpressure/bandwidth.ts';
import {
  DEFAULT_QUALITY_POLICY,
  INITIAL_QUALITY_STATE,
  nextQualityState,
  qualityDeadline,
  type QualityPolicy,
  type QualitySample,
  type QualityState,
} from '../backpressure/quality.ts';
import type { ControllerId, HandlerId, MeetingId, ParticipantId, RegionId } from '../ids.ts';
import { DATAGRAM_HEADER_LENGTH, DATAGRAM_VERSION, MAX_HOP_COUNT } from '../protocol/datagram.ts';
import { err, ok, type Result } from '../result.ts';
import {
  DEFAULT_CLAIMS_POLICY,
  checkConnectionClaims,
  type ClaimsPolicy,
  type ConnectionTokenClaims,
} from './claims.ts';
import { PeerDialer, type PeerDialState } from './peering.ts';
import { ForwardingTable, type InstalledRoute, type StreamEntry } from './table.ts';
import { OutputQueue } from '../output-queue.ts';
import type {
  ForwarderConfig,
  ForwarderConfigError,
  MhInput,
  MhOutput,
  RouteCommand,
  SessionRefusal,
} from './types.ts';

/** Drop codes `forward` returns (negative); `DROP_REASONS[-code]` names them. */
export const DROP_MALFORMED = -1;
export const DROP_HOP_EXCEEDED = -2;
export const DROP_BAD_HOP = -3;
export const DROP_UNKNOWN_CONNECTION = -4;
export const DROP_UNKNOWN_STREAM = -5;
export const DROP_NOT_PUBLISHER = -6;
export const DROP_OUT_TOO_SMALL = -7;

/** Names of the drop codes, indexed by minus the code (index 0 unused). */
export const DROP_REASONS = [
  'none',
  /** Shorter than 42 bytes, wrong version, reserved flags, bad fragment or payload length. */
  'malformed',
  /** Hop count above MAX_HOP_COUNT. */
  'hop-exceeded',
  /** Hop count not 0 from a client, or 0 from a peer. */
  'bad-hop',
  /** The connection key is neither an open session nor a peer link. */
  'unknown-connection',
  /** No installed stream has the header's stream id. */
  'unknown-stream',
  /** The connection may not send this stream (no publish or cascade leg, other publisher id). */
  'not-publisher',
  /** `out` is shorter than the destination list. */
  'out-too-small',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

/** Datagram-path counters, updated in place (read them without allocating). */
export class ForwarderCounters {
  datagramsIn = 0;
  bytesIn = 0;
  /** Copies handed out (destinations summed) and their bytes. */
  datagramsOut = 0;
  bytesOut = 0;
  /** Datagrams at hop count 2 whose cascade legs were skipped. */
  cascadeSuppressed = 0;
  /** Drops by reason, indexed by minus the DROP_* code. */
  readonly drops = new Float64Array(DROP_REASONS.length);
}

interface ClientSession {
  readonly peer: false;
  readonly connection: number;
  readonly meeting: MeetingId;
  readonly participant: ParticipantId;
  readonly key: string;
}

interface PeerLink {
  readonly peer: true;
  readonly connection: number;
  readonly handler: HandlerId;
}

const MAX_CONNECTION = 0x7fff_ffff;
const RESERVED_FLAGS = 0x1f;

const sessionKey = (meeting: MeetingId, participant: ParticipantId) =>
  `${meeting}\u0000${participant}`;

function validate(config: ForwarderConfig): ForwarderConfigError | null {
  if (typeof config.handler !== 'string' || config.handler === '') return { kind: 'empty-handler' };
  if (!(config.capacityBps > 0) || !Number.isFinite(config.capacityBps)) {
    return { kind: 'non-positive-capacity', capacityBps: config.capacityBps };
  }
  const interval = config.loadReportIntervalMs ?? 1000;
  if (!(interval > 0) || !Number.isFinite(interval)) {
    return { kind: 'non-positive-interval', loadReportIntervalMs: interval };
  }
  const window = config.routeIdWindow ?? 64;
  const retentionMs = config.routeIdRetentionMs ?? 120_000;
  if (!Number.isInteger(window) || window < 1 || !(retentionMs >= 0)) {
    return { kind: 'invalid-route-id-memory', window, retentionMs };
  }
  return null;
}

/** Thrown by the constructor on an invalid configuration; `Forwarder.create` returns it. */
export class ForwarderConfigException extends Error {
  constructor(readonly error: ForwarderConfigError) {
    super(`invalid forwarder configuration: ${error.kind}`);
  }
}

export class Forwarder {
  readonly handlerId: HandlerId;
  readonly region: RegionId;
  readonly capacityBps: number;
  readonly counters = new ForwarderCounters();
  /** Subscriber destinations at the start of `out` in the last `forward` that succeeded. */
  lastSubscriberCount = 0;

  readonly #interval: number;
  readonly #bandwidthPolicy: BandwidthPolicy;
  readonly #admissionPolicy: AdmissionPolicy;
  readonly #qualityPolicy: QualityPolicy;
  readonly #claimsPolicy: ClaimsPolicy;
  readonly #routeIdWindow: number;
  readonly #routeIdRetentionMs: number;

  readonly #table: ForwardingTable;
  readonly #dialer: PeerDialer;
  /** Connection key -> client session or peer link. */
  readonly #connections = new Map<number, ClientSession | PeerLink>();
  readonly #sessions = new Map<string, ClientSession>();
  readonly #peers = new Map<HandlerId, PeerLink>();
  readonly #peerReports = new Map<HandlerId, HandlerLoadReport>();
  /** Spent nonces and when they may be forgotten. */
  readonly #nonces = new Map<string, number>();
  /**
   * Applied route-command ids per controller, then meeting, oldest first, with apply times (by
   * the two ids in turn: a command finds its list without building a key).
   */
  readonly #appliedIds = new Map<ControllerId, Map<MeetingId, Map<string, number>>>();
  /** When the next report sweeps every (controller, meeting)'s ids. */
  #nextRouteIdSweep = 0;
  /** Bumped whenever a binding changes: stream entries re-resolve their connections. */
  #epoch = 0;
  /** The table's peer set version at the last reconciliation of the peer links. */
  #reconciledPeerSet = -1;
  readonly #outputs = new OutputQueue<MhOutput>();

  #intervalStart: number | null = null;
  #intervalBytes = 0;
  #band: BandwidthState = 'ok';
  #utilisation = 0;
  #quality: QualityState = INITIAL_QUALITY_STATE;
  #lastSample: QualitySample | null = null;
  /** Set by `drain`: no admission from then on. */
  #draining = false;
  /** When the sessions still open are closed; null once done or when not draining. */
  #drainDeadline: number | null = null;

  constructor(config: ForwarderConfig) {
    const invalid = validate(config);
    if (invalid !== null) throw new ForwarderConfigException(invalid);
    this.handlerId = config.handler;
    this.region = config.region;
    this.capacityBps = config.capacityBps;
    this.#interval = config.loadReportIntervalMs ?? 1000;
    this.#bandwidthPolicy = config.bandwidthPolicy ?? DEFAULT_BANDWIDTH_POLICY;
    this.#admissionPolicy = config.admissionPolicy ?? DEFAULT_ADMISSION_POLICY;
    this.#qualityPolicy = config.qualityPolicy ?? DEFAULT_QUALITY_POLICY;
    this.#claimsPolicy = config.claimsPolicy ?? DEFAULT_CLAIMS_POLICY;
    this.#routeIdWindow = config.routeIdWindow ?? 64;
    this.#routeIdRetentionMs = config.routeIdRetentionMs ?? 120_000;
    this.#table = new ForwardingTable(config.handler);
    this.#dialer = new PeerDialer(config.handler, config.peerDialBackoff);
    if (config.startMs !== undefined) this.#intervalStart = config.startMs;
  }

  /** Builds a forwarder, or says what is wrong with the configuration. */
  static create(config: ForwarderConfig): Result<Forwarder, ForwarderConfigError> {
    const invalid = validate(config);
    return invalid === null ? ok(new Forwarder(config)) : err(invalid);
  }

  // ---- machine -------------------------------------------------------------------------

  handle(input: MhInput, nowMs: number): void {
    this.#startClock(nowMs);
    switch (input.type) {
      case 'route-command':
        this.#routeCommand(input, nowMs);
        break;
      case 'meeting-ended':
        this.#meetingEnded(input.meeting, input.controller);
        break;
      case 'session-open':
        this.#sessionOpen(input.connection, input.claims, nowMs);
        break;
      case 'session-closed': {
        const session = this.#connections.get(input.connection);
        if (session !== undefined && !session.peer) this.#unbindSession(session);
        break;
      }
      case 'peer-connected':
        this.#peerConnected(input.handler, input.connection);
        break;
      case 'peer-disconnected': {
        const link = this.#connections.get(input.connection);
        if (link !== undefined && link.peer) {
          this.#connections.delete(link.connection);
          this.#peers.delete(link.handler);
          this.#epoch++;
          this.#dialer.failed(link.handler, nowMs);
        }
        break;
      }
      case 'peer-dial-failed':
        if (this.#dialer.stateOf(input.handler) === 'dialing') {
          this.#dialer.failed(input.handler, nowMs);
        }
        break;
      case 'peer-load-report': {
        const { report } = input;
        if (report.handlerId === this.handlerId) break;
        const known = this.#peerReports.get(report.handlerId);
        if (known === undefined || report.reportedAt >= known.reportedAt) {
          this.#peerReports.set(report.handlerId, report);
        }
        break;
      }
      case 'traffic':
        if (input.bytes > 0 && Number.isFinite(input.bytes)) this.#intervalBytes += input.bytes;
        break;
      case 'quality-sample':
        this.#lastSample = input.sample;
        this.#foldQuality(input.sample, nowMs);
        break;
      case 'drain':
        if (!Number.isFinite(input.deadlineMs)) break;
        if (!this.#draining) {
          this.#draining = true;
          this.#drainDeadline = input.deadlineMs;
        } else if (this.#drainDeadline !== null && input.deadlineMs < this.#drainDeadline) {
          this.#drainDeadline = input.deadlineMs;
        }
        if (this.#drainDeadline !== null && nowMs >= this.#drainDeadline) this.#closeDrained();
        break;
    }
  }

  handleTimeout(nowMs: number): void {
    this.#startClock(nowMs);
    const start = this.#intervalStart as number;
    if (nowMs >= start + this.#interval) this.#report(nowMs);
    const dwell = qualityDeadline(this.#quality, this.#qualityPolicy);
    if (dwell !== null && nowMs >= dwell && this.#lastSample !== null) {
      this.#foldQuality(this.#lastSample, nowMs);
    }
    if (this.#drainDeadline !== null && nowMs >= this.#drainDeadline) this.#closeDrained();
    for (const request of this.#dialer.due(nowMs)) this.#emit(request);
  }

  pollOutput(): MhOutput | null {
    return this.#outputs.poll();
  }

  pollTimeout(): number | null {
    if (this.#intervalStart === null) return null;
    const report = this.#intervalStart + this.#interval;
    const dwell =
      this.#lastSample === null ? null : qualityDeadline(this.#quality, this.#qualityPolicy);
    let next = dwell === null ? report : Math.min(report, dwell);
    if (this.#drainDeadline !== null) next = Math.min(next, this.#drainDeadline);
    const redial = this.#dialer.nextDeadline();
    return redial === null ? next : Math.min(next, redial);
  }

  // ---- read-only views -------------------------------------------------------------------

  /** The current bandwidth band. */
  get band(): BandwidthState {
    return this.#band;
  }

  /** Utilisation measured at the last load report (0 before the first). */
  get utilisation(): number {
    return this.#utilisation;
  }

  get qualityStage(): QualityState['stage'] {
    return this.#quality.stage;
  }

  /** Whether a `drain` came: no session is admitted any more. */
  get draining(): boolean {
    return this.#draining;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  get streamCount(): number {
    return this.#table.size;
  }

  /** How much the forwarder remembers: spent nonces, peer reports, applied route-command ids. */
  get remembered(): { nonces: number; peerReports: number; routeIds: number } {
    let routeIds = 0;
    for (const meetings of this.#appliedIds.values())
      for (const ids of meetings.values()) routeIds += ids.size;
    return { nonces: this.#nonces.size, peerReports: this.#peerReports.size, routeIds };
  }

  /** Streams not indexed because their id collided with an installed stream's. */
  get streamIdCollisions(): number {
    return this.#table.collisions;
  }

  /** The connection key of a participant's session here, if any. */
  connectionOf(meeting: MeetingId, participant: ParticipantId): number | undefined {
    return this.#sessions.get(sessionKey(meeting, participant))?.connection;
  }

  /** The connection key of the link to a peer handler, if any. */
  peerConnectionOf(handler: HandlerId): number | undefined {
    return this.#peers.get(handler)?.connection;
  }

  /** The state of the link to `handler` as this handler dials it; undefined when it does not. */
  peerDialStateOf(handler: HandlerId): PeerDialState | undefined {
    return this.#dialer.stateOf(handler);
  }

  /** Installed legs in (meeting, route key) order. */
  routes(): InstalledRoute[] {
    return this.#table.routes();
  }

  /** How many datagrams were dropped for `code` (a DROP_* constant). */
  dropCount(code: number): number {
    return this.counters.drops[-code] ?? 0;
  }

  // ---- datagram path -------------------------------------------------------------------

  /**
   * The destinations of `datagram` arriving on connection `from`: writes connection keys to
   * `out` (subscribers first, then cascade peers) and returns how many, or a DROP_* code.
   * Never writes to `datagram`; allocates nothing once the stream's connections are resolved.
   */
  forward(from: number, datagram: Uint8Array, out: Int32Array): number {
    const length = datagram.length;
    const counters = this.counters;
    counters.datagramsIn++;
    counters.bytesIn += length;
    this.#intervalBytes += length;
    if (
      length < DATAGRAM_HEADER_LENGTH ||
      datagram[0] !== DATAGRAM_VERSION ||
      ((datagram[1] as number) & RESERVED_FLAGS) !== 0 ||
      (((datagram[40] as number) << 8) | (datagram[41] as number)) !==
        length - DATAGRAM_HEADER_LENGTH ||
      length === DATAGRAM_HEADER_LENGTH ||
      (((datagram[28] as number) << 8) | (datagram[29] as number)) >=
        (((datagram[30] as number) << 8) | (datagram[31] as number))
    ) {
      return this.#drop(DROP_MALFORMED);
    }
    const hop = datagram[2] as number;
    if (hop > MAX_HOP_COUNT) return this.#drop(DROP_HOP_EXCEEDED);
    const source = this.#connections.get(from);
    if (source === undefined) return this.#drop(DROP_UNKNOWN_CONNECTION);
    const entry = this.#table.lookup(word(datagram, 4), word(datagram, 8));
    if (entry === null) return this.#drop(DROP_UNKNOWN_STREAM);
    if (entry.epoch !== this.#epoch) this.#resolve(entry);
    if (source.peer) {
      if (hop === 0) return this.#drop(DROP_BAD_HOP);
      if (!contains(entry.sourceConnections, entry.sourceCount, from)) {
        return this.#drop(DROP_NOT_PUBLISHER);
      }
    } else {
      if (hop !== 0) return this.#drop(DROP_BAD_HOP);
      if (entry.publisherConnection !== from) return this.#drop(DROP_NOT_PUBLISHER);
    }
    if (word(datagram, 12) !== entry.publisherHigh || word(datagram, 16) !== entry.publisherLow) {
      return this.#drop(DROP_NOT_PUBLISHER);
    }
    const subscribers = entry.subscriberCount;
    let targets = entry.targetCount;
    if (hop >= MAX_HOP_COUNT && targets > 0) {
      counters.cascadeSuppressed++;
      targets = 0;
    }
    const count = subscribers + targets;
    if (count > out.length) return this.#drop(DROP_OUT_TOO_SMALL);
    const subscriberConnections = entry.subscriberConnections;
    for (let i = 0; i < subscribers; i++) out[i] = subscriberConnections[i] as number;
    const targetConnections = entry.targetConnections;
    for (let i = 0; i < targets; i++) out[subscribers + i] = targetConnections[i] as number;
    this.lastSubscriberCount = subscribers;
    counters.datagramsOut += count;
    counters.bytesOut += count * length;
    this.#intervalBytes += count * length;
    return count;
  }

  /**
   * `forward`, then `send(connection, datagram)` for each destination: subscribers with the
   * datagram as received, then peers after raising its hop count in place. Returns what
   * `forward` returned. `send` must be done with the bytes when it returns.
   */
  dispatch(
    from: number,
    datagram: Uint8Array,
    out: Int32Array,
    send: (connection: number, datagram: Uint8Array) => void,
  ): number {
    const count = this.forward(from, datagram, out);
    if (count <= 0) return count;
    const subscribers = this.lastSubscriberCount;
    for (let i = 0; i < subscribers; i++) send(out[i] as number, datagram);
    if (count > subscribers) {
      datagram[2] = (datagram[2] as number) + 1;
      for (let i = subscribers; i < count; i++) send(out[i] as number, datagram);
    }
    return count;
  }

  #drop(code: number): number {
    const drops = this.counters.drops;
    drops[-code] = (drops[-code] as number) + 1;
    return code;
  }

  /** Resolves a stream's parties to connection keys (control path: may allocate). */
  #resolve(entry: StreamEntry): void {
    entry.epoch = this.#epoch;
    const publisher = this.#sessions.get(sessionKey(entry.meeting, entry.publisher));
    entry.publisherConnection =
      entry.published && publisher !== undefined ? publisher.connection : -1;
    const subscribers: number[] = [];
    for (const p of entry.subscribers) {
      const session = this.#sessions.get(sessionKey(entry.meeting, p));
      if (session !== undefined) subscribers.push(session.connection);
    }
    entry.subscriberConnections = Int32Array.from(subscribers);
    entry.subscriberCount = subscribers.length;
    entry.sourceConnections = this.#peerConnections(entry.sources);
    entry.sourceCount = entry.sourceConnections.length;
    entry.targetConnections = this.#peerConnections(entry.targets);
    entry.targetCount = entry.targetConnections.length;
  }

  #peerConnections(handlers: readonly HandlerId[]): Int32Array {
    const connections: number[] = [];
    for (const h of handlers) {
      const link = this.#peers.get(h);
      if (link !== undefined) connections.push(link.connection);
    }
    return Int32Array.from(connections);
  }

  // ---- control path ----------------------------------------------------------------------

  #emit(output: MhOutput): void {
    this.#outputs.push(output);
  }

  #startClock(nowMs: number): void {
    if (this.#intervalStart === null) this.#intervalStart = nowMs;
  }

  #routeCommand(command: RouteCommand, nowMs: number): void {
    const { id, meeting, controller } = command;
    let meetings = this.#appliedIds.get(controller);
    let applied = meetings?.get(meeting);
    if (applied?.has(id) === true) {
      this.#emit({
        type: 'route-ack',
        id,
        meeting,
        controller,
        duplicate: true,
        changed: 0,
        ignored: 0,
      });
      return;
    }
    const counts = this.#table.apply(meeting, command.add, command.remove);
    if (counts.changed > 0) this.#epoch++;
    if (meetings === undefined) {
      meetings = new Map();
      this.#appliedIds.set(controller, meetings);
    }
    if (applied === undefined) {
      applied = new Map();
      meetings.set(meeting, applied);
    }
    applied.set(id, nowMs);
    this.#forgetRouteIds(controller, meetings, meeting, nowMs);
    this.#emit({
      type: 'route-ack',
      id,
      meeting,
      controller,
      duplicate: false,
      changed: counts.changed,
      ignored: counts.ignored,
    });
    if (counts.changed > 0) this.#reconcilePeers();
  }

  /**
   * Forgets the oldest ids of one (controller, meeting) beyond the window and retention;
   * `meetings` are the controller's lists.
   */
  #forgetRouteIds(
    controller: ControllerId,
    meetings: Map<MeetingId, Map<string, number>>,
    meeting: MeetingId,
    nowMs: number,
  ): void {
    const applied = meetings.get(meeting);
    if (applied === undefined) return;
    for (const [id, at] of applied) {
      if (applied.size <= this.#routeIdWindow || nowMs - at <= this.#routeIdRetentionMs) break;
      applied.delete(id);
    }
    if (applied.size > 0) return;
    meetings.delete(meeting);
    if (meetings.size === 0) this.#appliedIds.delete(controller);
  }

  /**
   * Asks for the peer links the table's cascade legs need and lets go of the others. Nothing
   * to do while the table names the peers it named at the last reconciliation: the dialer
   * then holds a dial for each of them it dials and for no other (only reconciliation adds or
   * drops dials).
   */
  #reconcilePeers(): void {
    const version = this.#table.peerSetVersion;
    if (version === this.#reconciledPeerSet) return;
    this.#reconciledPeerSet = version;
    const requests = this.#dialer.reconcile(this.#table.peerLegs, (peer) => this.#peers.has(peer));
    for (const request of requests) this.#emit(request);
  }

  #meetingEnded(meeting: MeetingId, controller: ControllerId): void {
    if (this.#table.dropMeeting(meeting) > 0) this.#reconcilePeers();
    const meetings = this.#appliedIds.get(controller);
    if (meetings?.delete(meeting) === true && meetings.size === 0)
      this.#appliedIds.delete(controller);
    for (const session of [...this.#sessions.values()]) {
      if (session.meeting !== meeting) continue;
      this.#unbindSession(session);
      this.#emit({
        type: 'session-closed',
        connection: session.connection,
        meeting,
        participant: session.participant,
        reason: 'meeting-ended',
      });
    }
  }

  #sessionOpen(connection: number, claims: ConnectionTokenClaims, nowMs: number): void {
    const reject = (reason: SessionRefusal, retryAfterMs: number | null = null) =>
      this.#emit({ type: 'session-rejected', connection, reason, retryAfterMs });
    if (!Number.isInteger(connection) || connection < 0 || connection > MAX_CONNECTION) {
      reject('invalid-connection');
      return;
    }
    if (this.#connections.has(connection)) {
      reject('connection-in-use');
      return;
    }
    const checked = checkConnectionClaims(
      claims,
      this.handlerId,
      nowMs,
      (nonce) => this.#nonces.has(nonce),
      this.#claimsPolicy,
    );
    if (!checked.ok) {
      reject(checked.error);
      return;
    }
    const { meeting, participant } = claims;
    const key = sessionKey(meeting, participant);
    const previous = this.#sessions.get(key);
    if (previous === undefined || this.#draining) {
      const decision = admitParticipant(
        {
          handlerId: this.handlerId,
          region: this.region,
          // A draining handler admits no one: it decides as if at its hard limit.
          utilisation: this.#draining ? Infinity : this.#utilisation,
          state: this.#draining ? 'hard-limit' : this.#band,
        },
        [...this.#peerReports.values()],
        nowMs,
        this.#admissionPolicy,
      );
      if (decision.kind === 'redirect') {
        this.#emit({
          type: 'session-redirected',
          connection,
          meeting,
          participant,
          to: decision.to,
        });
        return;
      }
      if (decision.kind === 'reject') {
        reject(this.#draining ? 'draining' : 'capacity', decision.retryAfterMs);
        return;
      }
    } else {
      this.#unbindSession(previous);
      this.#emit({
        type: 'session-closed',
        connection: previous.connection,
        meeting,
        participant,
        reason: 'replaced',
      });
    }
    this.#nonces.set(claims.nonce, claims.expiresAtMs + this.#claimsPolicy.clockSkewMs);
    const session: ClientSession = { peer: false, connection, meeting, participant, key };
    this.#sessions.set(key, session);
    this.#connections.set(connection, session);
    this.#epoch++;
    this.#emit({
      type: 'session-accepted',
      connection,
      meeting,
      participant,
      reconnect: previous !== undefined,
    });
  }

  /** The drain deadline has come: every session still open is closed. */
  #closeDrained(): void {
    this.#drainDeadline = null;
    for (const session of [...this.#sessions.values()]) {
      this.#unbindSession(session);
      this.#emit({
        type: 'session-closed',
        connection: session.connection,
        meeting: session.meeting,
        participant: session.participant,
        reason: 'draining',
      });
    }
  }

  #unbindSession(session: ClientSession): void {
    this.#sessions.delete(session.key);
    this.#connections.delete(session.connection);
    this.#epoch++;
  }

  #peerConnected(handler: HandlerId, connection: number): void {
    if (!Number.isInteger(connection) || connection < 0 || connection > MAX_CONNECTION) return;
    const holder = this.#connections.get(connection);
    if (holder !== undefined && !(holder.peer && holder.handler === handler)) return;
    const old = this.#peers.get(handler);
    if (old !== undefined) this.#connections.delete(old.connection);
    const link: PeerLink = { peer: true, connection, handler };
    this.#peers.set(handler, link);
    this.#connections.set(connection, link);
    this.#epoch++;
    this.#dialer.connected(handler);
  }

  #foldQuality(sample: QualitySample, nowMs: number): void {
    const before = this.#quality.stage;
    this.#quality = nextQualityState(this.#quality, sample, nowMs, this.#qualityPolicy);
    if (this.#quality.stage !== before) {
      this.#emit({ type: 'quality-changed', from: before, to: this.#quality.stage });
    }
  }

  #report(nowMs: number): void {
    const elapsedMs = nowMs - (this.#intervalStart as number);
    const bitsPerSecond = (this.#intervalBytes * 8 * 1000) / elapsedMs;
    const utilisation = bitsPerSecond / this.capacityBps;
    const before = this.#band;
    this.#band = nextBandwidthState(before, utilisation, this.#bandwidthPolicy);
    this.#utilisation = utilisation;
    this.#intervalBytes = 0;
    this.#intervalStart = nowMs;
    if (this.#band !== before) {
      this.#emit({ type: 'band-changed', from: before, to: this.#band, utilisation });
    }
    this.#emit({
      type: 'load-report',
      report: {
        handlerId: this.handlerId,
        region: this.region,
        utilisation,
        state: this.#band,
        reportedAt: nowMs,
        ...(this.#draining ? { draining: true } : {}),
      },
      quality: this.#quality.stage,
      bitsPerSecond,
      sessions: this.#sessions.size,
      streams: this.#table.size,
    });
    this.#forget(nowMs);
  }

  /** Drops what no longer matters: spent nonces past expiry, stale peer reports, old ids. */
  #forget(nowMs: number): void {
    // Nonces are kept in the order spent, so nearly in expiry order: stop at the first still
    // live (one that outlives its successors delays their forgetting by at most its lifetime).
    for (const [nonce, until] of this.#nonces) {
      if (until > nowMs) break;
      this.#nonces.delete(nonce);
    }
    for (const [handler, report] of this.#peerReports) {
      if (nowMs - report.reportedAt > this.#admissionPolicy.maxReportAgeMs) {
        this.#peerReports.delete(handler);
      }
    }
    // A (controller, meeting) that gets commands forgets its old ids as they come; the sweep
    // for the idle ones runs a few times per retention period, not at every report.
    if (nowMs >= this.#nextRouteIdSweep) {
      this.#nextRouteIdSweep = nowMs + this.#routeIdRetentionMs / 4;
      for (const [controller, meetings] of this.#appliedIds)
        for (const meeting of meetings.keys())
          this.#forgetRouteIds(controller, meetings, meeting, nowMs);
    }
  }
}

/** The unsigned 32-bit big-endian word at `offset`. */
function word(bytes: Uint8Array, offset: number): number {
  return (
    (((bytes[offset] as number) << 24) |
      ((bytes[offset + 1] as number) << 16) |
      ((bytes[offset + 2] as number) << 8) |
      (bytes[offset + 3] as number)) >>>
    0
  );
}

function contains(values: Int32Array, count: number, value: number): boolean {
  for (let i = 0; i < count; i++) if (values[i] === value) return true;
  return false;
}
