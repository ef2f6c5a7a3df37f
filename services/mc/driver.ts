/**
 * The Meeting Controller's driver (DESIGN.md, "Machines"): one `ControllerEndpoint` per process,
 * fed what arrives (joins and signaling messages, handlers' load reports, route acks) and
 * driven by a single timer at its `pollTimeout`. Every output is carried out as it says: a
 * grant becomes a signed connection token sent to its client, a route command a call to the
 * named handler's route API whose answer is fed back as `route-ack`, a session write a Redis
 * key with a TTL. It decides nothing: admission, placement, routing, transitions, retransmission,
 * keys and session expiry are core's.
 */
import type { ControllerEndpoint, ControllerOutput } from '../../core/mc/endpoint.ts';
import type { HandlerReport } from '../../core/mc/handlers.ts';
import type { MeetingInput, MeetingMachine, MeetingOutput } from '../../core/mc/meeting.ts';
import type { ConnectionGrant } from '../../core/mh/claims.ts';
import type { PlanStep } from '../../core/routing/transition.ts';
import type { Route } from '../../core/routing/types.ts';
import type {
  HandlerId,
  MediaKind as CoreMediaKind,
  MeetingId,
  ParticipantId,
  RegionId,
} from '../../core/ids.ts';
import type { LayoutRequest } from '../../core/layout/types.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import {
  MediaKind,
  type ApplyRouteCommandRequest,
  type Leg,
} from '../generated/darktower/mh/v1/route.ts';
import {
  ErrorKind,
  RejectReason,
  type MediaHandler,
  type ServerMessage,
} from '../generated/darktower/mc/v1/signaling.ts';
import type { MlsDeliveryOutput } from '../../core/mls/delivery.ts';
import { mlsMessage } from './mls-messages.ts';
import type { Clock } from '../shared/clock.ts';

/** A client's signaling connection as the driver sees it. */
export interface SignalingPeer {
  /** Sends once `message` resolves, after everything enqueued before it. */
  send(message: ServerMessage | Promise<ServerMessage>): void;
  close(code: number, reason: string): void;
}

/** What the driver does with the world; each call may fail (core retransmits what matters). */
export interface DriverEffects {
  signGrant(grant: ConnectionGrant): Promise<string>;
  /** Where a handler accepts clients, from its latest load report. */
  handlerAddress(handler: HandlerId): MediaHandler;
  /** Sends a route command to the handler's route API; resolves when it acknowledged it. */
  applyRouteCommand(handler: HandlerId, request: ApplyRouteCommandRequest): Promise<void>;
  endMeeting(handler: HandlerId, meeting: MeetingId): Promise<void>;
  writeSession(meeting: MeetingId, participant: ParticipantId, ttlMs: number): Promise<void>;
  deleteSession(meeting: MeetingId, participant: ParticipantId): Promise<void>;
  /**
   * Tells GC the controller is alive, with the meetings it ended on GC's word since the last
   * heartbeat; resolves to the meetings GC's answer names as ended.
   */
  heartbeat(
    meetings: number,
    participants: number,
    ended: readonly MeetingId[],
  ): Promise<readonly MeetingId[]>;
}

/**
 * Which meetings this process runs, when controller replicas share a store
 * (`services/mc/meeting-state.ts` over core's `MeetingOwnership`): inputs for a meeting not run
 * here wait until it is (restored from the store), or are refused.
 */
export interface MeetingGate {
  /** Whether the meeting runs here (its record held and its state loaded). */
  runs(meeting: MeetingId): boolean;
  /** Asks for the meeting; `then` is called once: run here now, or refused with a retry hint. */
  want(
    meeting: MeetingId,
    then: (
      outcome: { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number },
    ) => void,
  ): void;
  /** The meeting's state may have changed (it is written to the store). */
  changed(meeting: MeetingId): void;
  /** The meeting ended: it stops running here and its stored state is deleted. */
  ended(meeting: MeetingId): void;
}

/** A hint for a client refused for capacity: the next handler load reports are a second away. */
const NO_CAPACITY_RETRY_MS = 1_000;

const KINDS: Record<CoreMediaKind, MediaKind> = {
  camera: MediaKind.MEDIA_KIND_CAMERA,
  screen: MediaKind.MEDIA_KIND_SCREEN,
  audio: MediaKind.MEDIA_KIND_AUDIO,
};

/** Core's route as a route-API leg. */
export function routeToLeg(route: Route): Leg {
  switch (route.type) {
    case 'publish':
      return {
        publish: { publisher: route.publisher, kind: KINDS[route.kind], handler: route.handler },
      };
    case 'cascade':
      return {
        cascade: {
          publisher: route.publisher,
          kind: KINDS[route.kind],
          fromHandler: route.from,
          toHandler: route.to,
        },
      };
    case 'deliver':
      return {
        deliver: {
          publisher: route.publisher,
          kind: KINDS[route.kind],
          handler: route.handler,
          subscriber: route.subscriber,
        },
      };
  }
}

/** A route command's steps as the route API's request (additions are applied first). */
export function routeCommandRequest(
  controller: string,
  command: { id: number; meeting: MeetingId; steps: readonly PlanStep[] },
): ApplyRouteCommandRequest {
  const add: Leg[] = [];
  const remove: Leg[] = [];
  for (const step of command.steps) (step.op === 'add' ? add : remove).push(routeToLeg(step.route));
  return { id: String(command.id), meeting: command.meeting, controller, add, remove };
}

const isJoinAnswer = (output: ControllerOutput) =>
  output.type === 'meeting' &&
  (output.output.type === 'join-accepted' || output.output.type === 'join-rejected');

const peerKey = (meeting: MeetingId, participant: ParticipantId) =>
  `${meeting}\u0000${participant}`;

export class ControllerDriver {
  private readonly peers = new Map<string, SignalingPeer>();
  /** Each meeting's member list as last sent to its members. */
  private readonly rosters = new Map<MeetingId, string>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | null = null;
  private stopped = false;
  /** Route commands sent and not yet answered, by handler: for metrics. */
  routeCalls = { sent: 0, acked: 0, failed: 0 };
  /** Each acknowledged route call's time from sending to the handler's answer, in seconds. */
  onRouteCallAnswered: ((seconds: number) => void) | undefined;
  joins = { accepted: 0, rejected: 0 };
  /** MLS epochs started (every meeting): for metrics. */
  mlsEpochs = 0;

  constructor(
    readonly endpoint: ControllerEndpoint,
    private readonly region: RegionId,
    private readonly effects: DriverEffects,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly gate?: MeetingGate,
  ) {}

  private now(): number {
    return this.clock.now();
  }

  get participantCount(): number {
    return this.peers.size;
  }

  /** A verified join: the peer becomes the participant's connection (replacing any other). */
  join(
    meeting: MeetingId,
    participant: ParticipantId,
    region: RegionId,
    layout: LayoutRequest,
    peer: SignalingPeer,
    keyPackage?: Uint8Array,
  ): void {
    const key = peerKey(meeting, participant);
    const previous = this.peers.get(key);
    if (previous !== undefined && previous !== peer) previous.close(4001, 'replaced');
    this.peers.set(key, peer);
    this.feed(meeting, {
      type: 'join',
      participant,
      region,
      layout,
      ...(keyPackage === undefined ? {} : { keyPackage }),
    });
  }

  /** A signaling message of a joined participant. */
  message(meeting: MeetingId, input: MeetingInput): void {
    this.feed(meeting, input);
  }

  /** The participant's signaling connection closed (its session lives on until its TTL). */
  disconnected(meeting: MeetingId, participant: ParticipantId, peer: SignalingPeer): void {
    const key = peerKey(meeting, participant);
    if (this.peers.get(key) === peer) this.peers.delete(key);
  }

  loadReports(reports: readonly HandlerReport[]): void {
    this.endpoint.handle({ type: 'load-reports', reports }, this.now());
    this.flush();
  }

  handlerLost(handler: HandlerId): void {
    this.endpoint.handle({ type: 'handler-lost', handler }, this.now());
    this.flush();
  }

  /** Starts the timer (the first heartbeat is due at once). */
  start(): void {
    this.endpoint.handleTimeout(this.now());
    this.flush();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const peer of this.peers.values()) peer.close(1001, 'controller stopping');
    this.peers.clear();
  }

  /** Runs a meeting restored from the store (core's `adopt`). */
  adopt(machine: MeetingMachine): void {
    this.endpoint.handle({ type: 'adopt', machine }, this.now());
    this.flush();
  }

  /**
   * Stops running a meeting another controller now runs: its members' signaling connections
   * are closed (code 4409), so their clients look the meeting up again and reconnect there.
   */
  releaseMeeting(meeting: MeetingId): void {
    this.endpoint.handle({ type: 'release', meeting }, this.now());
    this.rosters.delete(meeting);
    const prefix = peerKey(meeting, '' as ParticipantId);
    for (const [key, peer] of this.peers) {
      if (!key.startsWith(prefix)) continue;
      peer.close(4409, 'meeting moved to another controller');
      this.peers.delete(key);
    }
    this.arm();
  }

  /** GC ended these meetings (its answer to a heartbeat): core ends those it runs. */
  meetingsEnded(meetings: readonly MeetingId[]): void {
    if (this.stopped || meetings.length === 0) return;
    for (const meeting of meetings)
      this.endpoint.handle({ type: 'end-meeting', meeting }, this.now());
    this.flush();
  }

  private feed(meeting: MeetingId, input: MeetingInput): void {
    if (this.endpoint.hasEnded(meeting)) {
      // Core answers for an ended meeting (a join is rejected); it is not run again here. A
      // lease taken for it meanwhile goes with its state.
      if (this.gate?.runs(meeting) === true) this.gate.ended(meeting);
    } else if (this.gate !== undefined && !this.gate.runs(meeting)) {
      this.gate.want(meeting, (outcome) => {
        if (this.stopped) return;
        if (outcome.ok) return this.feed(meeting, input);
        if (input.type === 'join')
          this.refuseJoin(meeting, input.participant, outcome.retryAfterMs);
      });
      return;
    }
    this.endpoint.handle(
      { type: 'meeting', meeting, meetingRegion: this.region, input },
      this.now(),
    );
    // A new speaker may change no route (nobody's view differs) and so bring no output: the
    // meeting's members still hear the speaker order when it changed.
    this.flush(meeting);
  }

  /** Carries out every output, then arms the one timer at the endpoint's next deadline. */
  private flush(fed?: MeetingId): void {
    const touched = new Set<MeetingId>();
    const outputs: ControllerOutput[] = [];
    for (let output = this.endpoint.pollOutput(); output !== null;) {
      outputs.push(output);
      output = this.endpoint.pollOutput();
    }
    // A joining client hears its join answer before anything else sent to it in the same turn
    // (its first key, the member list); otherwise outputs are carried out in core's order.
    for (const output of outputs) if (isJoinAnswer(output)) this.carryOut(output, touched);
    for (const output of outputs) if (!isJoinAnswer(output)) this.carryOut(output, touched);
    for (const meeting of touched) this.announceRoster(meeting);
    // A roster change with no output (a new speaker moving no route) changes stored state too.
    if (fed !== undefined && !touched.has(fed) && this.announceRoster(fed)) touched.add(fed);
    if (this.gate !== undefined) for (const meeting of touched) this.gate.changed(meeting);
    this.arm();
  }

  /** A join that waited for a meeting this controller could not take: refused, retry later. */
  private refuseJoin(meeting: MeetingId, participant: ParticipantId, retryAfterMs: number): void {
    const key = peerKey(meeting, participant);
    const peer = this.peers.get(key);
    if (peer === undefined) return;
    peer.send({
      error: {
        kind: ErrorKind.ERROR_KIND_UNAVAILABLE,
        message: 'meeting unavailable on this controller',
        retryAfterMs,
      },
    });
    peer.close(4401, 'meeting unavailable');
    this.peers.delete(key);
  }

  private arm(): void {
    if (this.stopped) return;
    const at = this.endpoint.pollTimeout();
    if (at === this.timerAt && this.timer !== undefined) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === null) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = null;
        this.endpoint.handleTimeout(this.now());
        this.flush();
      },
      Math.max(0, at - this.now()),
    );
  }

  private carryOut(output: ControllerOutput, touched: Set<MeetingId>): void {
    switch (output.type) {
      case 'heartbeat':
        this.effects.heartbeat(this.endpoint.meetingCount, this.peers.size, output.ended).then(
          (ended) => this.meetingsEnded(ended),
          (error: unknown) => {
            this.logger.warn({ err: error }, 'GC heartbeat failed');
            // Not acknowledged: GC names them again, and core acknowledges them again.
            this.meetingsEnded(output.ended);
          },
        );
        return;
      case 'unknown-meeting':
        this.logger.debug({ meeting_id: output.meeting }, 'event for an unknown meeting');
        return;
      case 'handler-lost':
        this.logger.warn({ mh_id: output.handler }, 'media handler lost');
        return;
      case 'meeting':
        touched.add(output.meeting.id);
        this.meetingOutput(output.meeting.id, output.output);
        return;
    }
  }

  private peer(meeting: MeetingId, participant: ParticipantId): SignalingPeer | undefined {
    return this.peers.get(peerKey(meeting, participant));
  }

  private tokenMessage(grant: ConnectionGrant): Promise<{ handler: MediaHandler; token: string }> {
    return this.effects
      .signGrant(grant)
      .then((token) => ({ handler: this.effects.handlerAddress(grant.handler), token }));
  }

  private meetingOutput(meeting: MeetingId, output: MeetingOutput): void {
    switch (output.type) {
      case 'join-accepted': {
        this.joins.accepted++;
        const peer = this.peer(meeting, output.participant);
        const participants = this.members(meeting);
        peer?.send(
          this.tokenMessage(output.token).then(({ handler, token }): ServerMessage => ({
            joinResponse: {
              participantId: output.participant,
              participants,
              mediaHandler: handler,
              connectionToken: token,
              keyEpoch: output.epoch ?? 0,
              reconnect: output.reconnect,
            },
          })),
        );
        return;
      }
      case 'join-rejected': {
        this.joins.rejected++;
        const peer = this.peer(meeting, output.participant);
        if (peer === undefined) return;
        const noCapacity = output.reason === 'no-capacity';
        peer.send({
          joinRejected: {
            reason: noCapacity
              ? RejectReason.REJECT_REASON_NO_CAPACITY
              : RejectReason.REJECT_REASON_MEETING_ENDED,
            retryAfterMs: noCapacity ? NO_CAPACITY_RETRY_MS : 0,
          },
        });
        peer.close(4003, output.reason);
        this.peers.delete(peerKey(meeting, output.participant));
        return;
      }
      case 'move':
        this.peer(meeting, output.participant)?.send(
          this.tokenMessage(output.token).then(({ handler, token }) => ({
            move: { mediaHandler: handler, connectionToken: token },
          })),
        );
        return;
      case 'publish-also': {
        const peer = this.peer(meeting, output.participant);
        if (output.token === null)
          peer?.send({ publishAlso: { mediaHandler: undefined, connectionToken: '' } });
        else
          peer?.send(
            this.tokenMessage(output.token).then(({ handler, token }) => ({
              publishAlso: { mediaHandler: handler, connectionToken: token },
            })),
          );
        return;
      }
      case 'keyframe-request':
        this.peer(meeting, output.participant)?.send({
          keyframeWanted: { kinds: [...output.kinds] },
        });
        return;
      case 'connection-token':
        this.peer(meeting, output.token.participant)?.send(
          this.tokenMessage(output.token).then(({ handler, token }) => ({
            connectionToken: { mediaHandler: handler, connectionToken: token },
          })),
        );
        return;
      case 'token-refused':
        this.peer(meeting, output.participant)?.send({
          error: {
            kind: ErrorKind.ERROR_KIND_TOKEN_REFUSED,
            message: output.reason,
            retryAfterMs: 0,
          },
        });
        return;
      case 'key':
        // Placeholder until MLS delivery is wired: the epoch number only, no key material.
        for (const participant of output.recipients) {
          this.peer(meeting, participant)?.send({ keyMaterial: { epoch: output.epoch } });
        }
        return;
      case 'erase-epoch':
        return;
      case 'mls':
        return this.mlsOutput(meeting, output.output);
      case 'mls-refused': {
        const peer = this.peer(meeting, output.participant);
        peer?.send({
          error: {
            kind: ErrorKind.ERROR_KIND_MALFORMED_MLS,
            message: output.error.kind,
            retryAfterMs: 0,
          },
        });
        peer?.close(4400, output.error.kind);
        return;
      }
      case 'route-command': {
        const request = routeCommandRequest(this.endpoint.id, output);
        this.routeCalls.sent++;
        const sentAt = performance.now();
        this.effects.applyRouteCommand(output.handler, request).then(
          () => {
            this.routeCalls.acked++;
            this.onRouteCallAnswered?.((performance.now() - sentAt) / 1000);
            if (this.stopped) return;
            this.endpoint.handle(
              { type: 'meeting', meeting, input: { type: 'route-ack', command: output.id } },
              this.now(),
            );
            this.flush();
          },
          (error: unknown) => {
            // Core resends it after its retry timeout.
            this.routeCalls.failed++;
            this.logger.warn(
              { err: error, mh_id: output.handler, meeting_id: meeting, command: output.id },
              'route command failed',
            );
          },
        );
        return;
      }
      case 'session-write':
        this.effects
          .writeSession(meeting, output.participant, output.ttlMs)
          .catch((error: unknown) => this.logger.warn({ err: error }, 'session write failed'));
        return;
      case 'session-delete':
        this.effects
          .deleteSession(meeting, output.participant)
          .catch((error: unknown) => this.logger.warn({ err: error }, 'session delete failed'));
        return;
      case 'member-expired': {
        const key = peerKey(meeting, output.participant);
        this.peers.get(key)?.close(4002, 'session expired');
        this.peers.delete(key);
        return;
      }
      case 'meeting-ended':
        // Each member is told, and its signaling closed.
        for (const participant of output.members) {
          const key = peerKey(meeting, participant);
          const peer = this.peers.get(key);
          if (peer === undefined) continue;
          peer.send({ meetingEnded: {} });
          peer.close(4410, 'meeting ended');
          this.peers.delete(key);
        }
        this.gate?.ended(meeting);
        for (const handler of output.handlers) {
          this.effects
            .endMeeting(handler, output.meeting)
            .catch((error: unknown) =>
              this.logger.warn({ err: error, mh_id: handler }, 'end meeting failed'),
            );
        }
        return;
      case 'planned':
      case 'plan-failed':
      case 'transition':
      case 'transition-done':
        this.logger.debug({ meeting_id: meeting, output: output.type }, 'meeting event');
        return;
    }
  }

  /** Carries an MLS delivery output to the members it names, as it is (opaque bytes). */
  private mlsOutput(meeting: MeetingId, output: MlsDeliveryOutput): void {
    const carried = mlsMessage(output);
    if (carried !== undefined) {
      for (const to of carried.to) this.peer(meeting, to)?.send(carried.message);
      return;
    }
    switch (output.type) {
      case 'epoch-started':
        this.mlsEpochs++;
        this.logger.info(
          {
            meeting_id: meeting,
            group: output.group,
            epoch: output.epoch,
            members: output.members.length,
            reasons: output.reasons,
          },
          'MLS epoch started',
        );
        return;
    }
  }

  private members(meeting: MeetingId): string[] {
    return [...(this.endpoint.meeting(meeting)?.roster.members.keys() ?? [])];
  }

  /** The members whose publishes (core's roster) include a screen share, in member order. */
  private screenSharing(meeting: MeetingId): string[] {
    const members = this.endpoint.meeting(meeting)?.roster.members.values() ?? [];
    return [...members].filter((m) => m.publishes.includes('screen')).map((m) => m.id);
  }

  /** Core's speaker history (latest first): the speaker order its layouts use. */
  private activeSpeakers(meeting: MeetingId): string[] {
    return [...(this.endpoint.meeting(meeting)?.roster.activeSpeakers ?? [])];
  }

  /**
   * Sends the member list, who shares a screen and the speaker order to every member whenever
   * any of them changed; whether it had.
   */
  private announceRoster(meeting: MeetingId): boolean {
    if (this.endpoint.meeting(meeting) === undefined) {
      this.rosters.delete(meeting);
      return false;
    }
    const members = this.members(meeting);
    const screenSharing = this.screenSharing(meeting);
    const activeSpeakers = this.activeSpeakers(meeting);
    const signature = [members, screenSharing, activeSpeakers]
      .map((list) => list.join('\u0000'))
      .join('\u0001');
    if (this.rosters.get(meeting) === signature) return false;
    this.rosters.set(meeting, signature);
    for (const member of members) {
      this.peer(meeting, member as ParticipantId)?.send({
        participants: { participants: members, screenSharing, activeSpeakers },
      });
    }
    return true;
  }
}
