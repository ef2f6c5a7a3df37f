/**
 * One meeting as its Meeting Controller runs it (spec 003 "Meeting Controller", "Join Meeting
 * Flow", "Media Routing Strategy", "Dynamic Rerouting", "Security Architecture"), as a
 * sans-I/O machine: `handle(input, now)` and `handleTimeout(now)` take events, `pollOutput()`
 * gives what to send, `pollTimeout()` the next deadline. Times are milliseconds.
 *
 * What it decides:
 * - join admission: a new member is added and the meeting replanned; when the planner finds no
 *   room the member is taken out again and the join rejected (nothing else changes). A member
 *   already in the meeting joining again is a reconnect: same participant, same join order,
 *   no new key epoch.
 * - when to replan: only when the demand (every member's layout, core/mc/layouts) or what the
 *   plan was made from (members, where each is connected when that is not its home, handler
 *   health) changed. How: with the members kept on their homes when only the demand changed
 *   (core/routing `planKeepingHomes`) or members were only added (`planJoining`: only the
 *   joiners placed), else, or when that finds no plan, afresh (`planRouting`).
 * - moving handlers between plans: one make-before-break transition at a time (core/routing
 *   `planTransition`), additions to every handler first, removals once every addition is
 *   acknowledged; plans made meanwhile are merged into the next transition. One route command
 *   per handler and phase, each with an id (increasing per meeting), retransmitted every
 *   `commandRetryMs` until acknowledged. A lost handler's commands count as done: its entries
 *   are gone.
 * - moving clients: a member connected to a handler that is not its home in a new plan is told
 *   to move.
 * - media keys, one of two ways. With `mls` configured (the services), the meeting's MLS group
 *   (RFC 9420) with the controller as delivery service (core/mls/delivery): a member joining
 *   with a KeyPackage is added, a member leaving (or expiring) removed, a manual request and
 *   the hourly timer rotate; each change is one commit that the delivery machine asks one member
 *   for, orders and fans out. The controller holds no key: each member derives the epoch's
 *   SFrame keys from the MLS exporter (RFC 9605 section 5.2). Without `mls` (the simulator's
 *   key model): core's epoch machine (a new epoch on join, leave and hourly); each epoch's key
 *   goes to exactly its recipients and is resent until acknowledged while the epoch is current
 *   and the recipient a member, after `keyRetryMs`, then twice as long each time up to
 *   `keyRetryCapMs` (core/backpressure/backoff); superseded epochs are erased.
 * - sessions: a member's session is written with a TTL on join and refreshed by its heartbeats
 *   and messages; a member silent for the TTL has left.
 * - keyframes: a member whose decoder cannot start (a new stream, keys of a new epoch, lost
 *   frames) asks for a keyframe; the controller asks each publisher whose video the plan in
 *   force delivers to that member (or the one it named) to encode one now, each publisher at
 *   most once per `keyframeRequestIntervalMs`: a request within the interval is held and sent
 *   when it ends (one for all held), since the keyframe sent before may have gone out before
 *   the new receiver's path was up.
 */
import type { HandlerId, MediaKind, MeetingId, ParticipantId, RegionId } from '../ids.ts';
import type { LayoutRequest } from '../layout/types.ts';
import { backoffCeiling } from '../backpressure/backoff.ts';
import {
  MediaKeyEpochs,
  type MediaKeyEffect,
  type MediaKeyEvent,
  type MediaKeyPolicy,
} from '../keys/media-epochs.ts';
import {
  MlsDelivery,
  type MlsDeliveryConfig,
  type MlsDeliveryError,
  type MlsDeliveryOutput,
  type MlsDeliveryState,
} from '../mls/delivery.ts';
import { planJoining, planKeepingHomes, planRouting } from '../routing/planner.ts';
import { canonicalPlanHas, planTransition, type PlanStep } from '../routing/transition.ts';
import { routeKey } from '../routing/keys.ts';
import { homesOf, routesOf as routesOfPlan } from '../routing/loads.ts';
import type {
  LatencyTable,
  Route,
  RoutingError,
  RoutingHandler,
  RoutingInput,
  RoutingParticipant,
  RoutingPlan,
  StreamDemand,
} from '../routing/types.ts';
import type { ConnectionGrant } from '../mh/claims.ts';
import type { HandlerView } from './handlers.ts';
import { meetingDemand } from './layouts.ts';
import { withAudioDemand } from './audio-demand.ts';
import { emptyRoster, type MeetingRoster, type Member } from './roster.ts';
import { OutputQueue } from '../output-queue.ts';

/**
 * Deliberate breakages, for tests that show the simulator notices each one. Never set outside
 * tests.
 */
export interface MeetingMutations {
  /** Send a transition's removals before its additions. */
  readonly removeBeforeAdd?: boolean;
  /**
   * Do not replan when a handler the meeting uses is lost, nor when a member reports losing
   * its media session (the two ways a handler's death reaches the meeting).
   */
  readonly noReplanOnHandlerLoss?: boolean;
  /** Send each route command once (and so wait for no acknowledgement). */
  readonly noRetransmit?: boolean;
  /** Do not start a new key epoch when a member joins. */
  readonly noKeyRotationOnJoin?: boolean;
  /** With MLS: do not remove a member who left from the group. */
  readonly keepLeaversInMlsGroup?: boolean;
}

export interface MeetingConfig {
  readonly meeting: MeetingId;
  /** The region the meeting belongs to: always among the regions its handlers come from. */
  readonly region: RegionId;
  readonly latencyMs: LatencyTable;
  readonly streamBitrateBps: number;
  readonly keyPolicy: MediaKeyPolicy;
  /** Retransmission timeout of a route command (ms): above the largest round trip. */
  readonly commandRetryMs: number;
  /**
   * First resend interval of an unacknowledged key (ms), doubled after each resend up to
   * `keyRetryCapMs`. A member cut off for a while (a partition) gets the key within the cap
   * of the path returning.
   */
  readonly keyRetryMs: number;
  readonly keyRetryCapMs: number;
  /** A member's session lives this long (ms) without a heartbeat (spec: 5 minutes). */
  readonly sessionTtlMs: number;
  /** Lifetime (ms) of a connection token the controller grants for a handler. */
  readonly connectionTokenTtlMs: number;
  /** What a joining member publishes until it says otherwise. */
  readonly defaultPublishes: readonly MediaKind[];
  /**
   * Forward every member's audio to every other member (`withAudioDemand`), besides the video
   * the layouts show. Absent: layouts alone decide what is forwarded (the simulator's model).
   */
  readonly forwardAudio?: boolean;
  /**
   * Spec 003 "Cross-Region Meetings": `cascade` (default) plans with the handlers of every
   * member's region, so each region's members connect near them and the handlers cascade
   * between regions; `single-region` plans with the meeting region's handlers only, and every
   * member connects there.
   */
  readonly crossRegion?: CrossRegionStrategy;
  /**
   * End-to-end keys through MLS with the controller as delivery service; `keyPolicy` then only
   * names the rotation interval the services configure here too. Absent: controller-made key
   * epochs (the simulator's key model).
   */
  readonly mls?: MlsDeliveryConfig;
  /**
   * A publisher is asked for a keyframe at most once per this many ms (default
   * `KEYFRAME_REQUEST_INTERVAL_MS`); requests within it are held until it ends.
   */
  readonly keyframeRequestIntervalMs?: number;
  readonly mutations?: MeetingMutations;
}

/** Default of `MeetingConfig.keyframeRequestIntervalMs`: about one frame at 15 frames/s. */
export const KEYFRAME_REQUEST_INTERVAL_MS = 60;

export type CrossRegionStrategy = 'cascade' | 'single-region';

export const DEFAULT_MEETING_TIMING = {
  commandRetryMs: 400,
  keyRetryMs: 2_000,
  keyRetryCapMs: 16_000,
  sessionTtlMs: 300_000,
  connectionTokenTtlMs: 60_000,
  defaultPublishes: ['camera', 'audio'] as readonly MediaKind[],
};

/** Something a client, a handler or the controller's endpoint tells the meeting. */
export type MeetingInput =
  /** A member joins (or reconnects) with claims its driver has verified. */
  | {
      readonly type: 'join';
      readonly participant: ParticipantId;
      readonly region: RegionId;
      readonly layout: LayoutRequest;
      /** The member's MLS KeyPackage (with `mls`): it is added to the group. */
      readonly keyPackage?: Uint8Array;
    }
  | { readonly type: 'leave'; readonly participant: ParticipantId }
  | { readonly type: 'layout'; readonly participant: ParticipantId; readonly layout: LayoutRequest }
  | { readonly type: 'publish'; readonly participant: ParticipantId; readonly kind: MediaKind }
  | { readonly type: 'unpublish'; readonly participant: ParticipantId; readonly kind: MediaKind }
  | {
      readonly type: 'screen-share';
      readonly participant: ParticipantId;
      readonly sharing: boolean;
    }
  | { readonly type: 'speaker'; readonly participant: ParticipantId }
  /** The client reports its media session (the handler it reached), or its loss (undefined). */
  | {
      readonly type: 'connected';
      readonly participant: ParticipantId;
      readonly handler: HandlerId | undefined;
    }
  | { readonly type: 'heartbeat'; readonly participant: ParticipantId }
  /** A member asks for a token for another handler (the one it was redirected to). */
  | {
      readonly type: 'token-request';
      readonly participant: ParticipantId;
      readonly handler: HandlerId;
    }
  | { readonly type: 'route-ack'; readonly command: number }
  | { readonly type: 'key-ack'; readonly participant: ParticipantId; readonly epoch: number }
  /**
   * A member's answer to an MLS commit request (with `mls`): `epoch` is the one the commit was
   * made in, as the driver read it from the message's cleartext header.
   */
  | {
      readonly type: 'mls-commit';
      readonly participant: ParticipantId;
      readonly request: number;
      readonly epoch: number;
      readonly commit: Uint8Array;
      readonly welcome: Uint8Array | undefined;
    }
  /** A member reached an MLS epoch (with `mls`). */
  | { readonly type: 'mls-processed'; readonly participant: ParticipantId; readonly epoch: number }
  /** A member asks for fresh keys (manual rotation). */
  | { readonly type: 'rotate-keys'; readonly participant: ParticipantId }
  /**
   * A member cannot decode until a keyframe: of `publisher`'s video, or (undefined) of every
   * publisher whose video it receives.
   */
  | {
      readonly type: 'keyframe-request';
      readonly participant: ParticipantId;
      readonly publisher: ParticipantId | undefined;
    }
  /** The endpoint lost a handler (silence or a closed connection). */
  | { readonly type: 'handler-lost'; readonly handler: HandlerId }
  /** A handler the meeting uses is draining: replan without it (it still acknowledges). */
  | { readonly type: 'handler-draining'; readonly handler: HandlerId };

/** What the meeting asks its driver to do (or, for `planned` and `transition`, to record). */
export type MeetingOutput =
  | {
      readonly type: 'join-accepted';
      readonly participant: ParticipantId;
      /** The handler the member connects its media session to. */
      readonly handler: HandlerId;
      /** The connection token's claims for that handler. */
      readonly token: ConnectionGrant;
      /** The key epoch in force, which the member is sent. */
      readonly epoch: number | undefined;
      readonly reconnect: boolean;
    }
  | {
      readonly type: 'join-rejected';
      readonly participant: ParticipantId;
      readonly reason: 'no-capacity' | 'meeting-ended';
      readonly detail: RoutingError | undefined;
    }
  /** Tell a connected member to move its media session to another handler. */
  | {
      readonly type: 'move';
      readonly participant: ParticipantId;
      readonly handler: HandlerId;
      readonly token: ConnectionGrant;
    }
  /**
   * The plan has the member publish to a second handler besides its home (the meeting's hub,
   * which cascades its streams on: core/routing's planner), with a token for it; null: it no
   * longer does. The member keeps its home connection and sends each datagram to both.
   */
  | {
      readonly type: 'publish-also';
      readonly participant: ParticipantId;
      readonly handler: HandlerId | null;
      readonly token: ConnectionGrant | null;
    }
  /** Ask a member to encode a keyframe of these video streams of its own now. */
  | {
      readonly type: 'keyframe-request';
      readonly participant: ParticipantId;
      readonly kinds: readonly MediaKind[];
    }
  /** The answer to a token request: a token for the handler asked for, or why not. */
  | { readonly type: 'connection-token'; readonly token: ConnectionGrant }
  | {
      readonly type: 'token-refused';
      readonly participant: ParticipantId;
      readonly handler: HandlerId;
      readonly reason: 'not-a-member' | 'handler-unavailable';
    }
  /** Send a key epoch's key to each recipient (created fresh by the driver, or resent). */
  | {
      readonly type: 'key';
      readonly epoch: number;
      readonly recipients: readonly ParticipantId[];
      readonly resend: boolean;
    }
  /** Every member, and the controller, erases the epoch's key. */
  | { readonly type: 'erase-epoch'; readonly epoch: number }
  /** What the MLS delivery service has to send (with `mls`): core/mls/delivery's outputs. */
  | { readonly type: 'mls'; readonly output: MlsDeliveryOutput }
  /** A member's MLS input was refused (an empty key package or commit): nothing changed. */
  | {
      readonly type: 'mls-refused';
      readonly participant: ParticipantId;
      readonly error: MlsDeliveryError;
    }
  /** A route command to one handler; resent with the same id until acknowledged. */
  | {
      readonly type: 'route-command';
      readonly id: number;
      readonly meeting: MeetingId;
      readonly handler: HandlerId;
      readonly steps: readonly PlanStep[];
      readonly resend: boolean;
    }
  | { readonly type: 'session-write'; readonly participant: ParticipantId; readonly ttlMs: number }
  | { readonly type: 'session-delete'; readonly participant: ParticipantId }
  /** A member's session expired: it has left. */
  | { readonly type: 'member-expired'; readonly participant: ParticipantId }
  /** A new plan is in force (for invariant checks and logs). */
  | { readonly type: 'planned'; readonly input: RoutingInput; readonly plan: RoutingPlan }
  | { readonly type: 'plan-failed'; readonly error: RoutingError }
  /** A transition from `from` to the plan in force started (for invariant checks and logs). */
  | {
      readonly type: 'transition';
      readonly from: RoutingPlan | null;
      readonly steps: readonly PlanStep[];
      readonly demandBefore: readonly StreamDemand[];
      readonly demandAfter: readonly StreamDemand[];
    }
  /** Every handler acknowledged the last transition. */
  | { readonly type: 'transition-done' }
  /**
   * The meeting ended: tell each of these handlers to drop its legs and sessions, tell each
   * member the meeting ended and close its signaling, and erase the meeting's stored state
   * (its sessions are deleted by the `session-delete` outputs before this one).
   */
  | {
      readonly type: 'meeting-ended';
      readonly meeting: MeetingId;
      readonly handlers: readonly HandlerId[];
      /** The members when it ended, in join order. */
      readonly members: readonly ParticipantId[];
    };

/** What a plan was made from besides its demand (see `planInputsChange`). */
interface PlanningInputs {
  readonly members: readonly ParticipantId[];
  readonly awayAt: readonly (HandlerId | undefined)[];
  readonly healthVersion: number;
}

interface PendingCommand {
  readonly id: number;
  readonly handler: HandlerId;
  readonly steps: readonly PlanStep[];
  retryAt: number;
}

interface PendingKey {
  readonly epoch: number;
  sends: number;
  retryAt: number;
}

/** The machine's own state that a snapshot carries (see `durableState`). */
export interface DurableMeetingState {
  readonly nextJoinOrder: number;
  readonly nextCommandId: number;
  /** When each member was last heard (ms), in roster order. */
  readonly lastSeen: readonly (readonly [ParticipantId, number])[];
  /** Every leg the handlers may hold for the meeting. */
  readonly legs: readonly Route[];
  /** The number the next media-key epoch takes (above every epoch used). */
  readonly nextKeyEpoch: number;
  /** The MLS delivery service's state (with `mls`); null without. */
  readonly mls: MlsDeliveryState | null;
}

/** One meeting's machine. */
export class MeetingMachine {
  readonly roster: MeetingRoster = emptyRoster();
  private nextJoinOrder = 0;
  private readonly keys: MediaKeyEpochs;
  /** The MLS group's delivery service, with `mls`. */
  private readonly mls: MlsDelivery | undefined;
  private readonly outputs = new OutputQueue<MeetingOutput>();

  /** The plan in force (the latest made), and the demand it serves. */
  plan: RoutingPlan | null = null;
  demand: readonly StreamDemand[] = [];
  private plannedFrom: PlanningInputs | undefined;
  /** The plan the handlers are being moved to (or hold): the last transition's target. */
  appliedPlan: RoutingPlan | null = null;
  appliedDemand: readonly StreamDemand[] = [];
  /** The phase the transition in flight is in; commands of that phase not yet acknowledged. */
  private phase: 'idle' | 'first' | 'second' = 'idle';
  private secondPhase: PlanStep[] = [];
  /** An addition of the transition in flight went to a handler that was lost unacknowledged. */
  private additionLost = false;
  /**
   * Removals of a transition whose additions did not all reach their handlers: kept off the
   * handlers then (removing the old legs would cut pairs the lost additions were to carry) and
   * sent with the next transition, less the legs its plan keeps.
   */
  private deferredRemovals: PlanStep[] = [];
  private readonly pending = new Map<number, PendingCommand>();
  private nextCommandId = 1;
  private readonly pendingKeys = new Map<ParticipantId, PendingKey>();
  /** Members whose media session was lost and who have not connected anywhere since. */
  private readonly lostMedia = new Set<ParticipantId>();
  private readonly lastSeen = new Map<ParticipantId, number>();
  /** The second handler each member was last told to publish to (see `publish-also`). */
  private readonly publishingAlso = new Map<ParticipantId, HandlerId>();
  /** When each member was last asked for a keyframe (see `keyframe-request`). */
  private readonly keyframeAskedAt = new Map<ParticipantId, number>();
  /** Keyframe requests held until the publisher's interval ends: the streams asked for. */
  private readonly keyframeHeld = new Map<ParticipantId, Set<MediaKind>>();
  /**
   * No retransmission (command or key) is due before this, nor a session expiry before
   * `nextExpiryAt`. Both may be early (an acknowledgement or a heartbeat only makes the true
   * time later): an early wake-up recomputes them.
   */
  private nextRetryAt: number | null = null;
  /** The key epochs' next deadline (rotation or erasure), read after each key event. */
  private keyDeadline: number | null = null;
  private nextExpiryAt: number | null = null;
  private ended = false;

  constructor(
    readonly config: MeetingConfig,
    private handlers: HandlerView,
  ) {
    this.keys = new MediaKeyEpochs(config.keyPolicy);
    this.mls = config.mls === undefined ? undefined : new MlsDelivery(config.mls);
  }

  get id(): MeetingId {
    return this.config.meeting;
  }

  get memberCount(): number {
    return this.roster.members.size;
  }

  /** Whether a transition's route commands are still being acknowledged. */
  get transitionInFlight(): boolean {
    return this.phase !== 'idle';
  }

  /** The key epoch in force, if any (with `mls`: the MLS group's epoch). */
  currentEpoch(): number | undefined {
    return this.mls === undefined ? this.keys.currentEpoch() : this.mls.epoch;
  }

  /** Epochs whose keys the controller has not erased yet (with `mls` it makes and holds none). */
  liveEpochs(): number[] {
    return this.keys.liveEpochs();
  }

  /** The MLS group's members in its current epoch, in order of joining (with `mls`). */
  mlsMembers(): ParticipantId[] {
    return this.mls?.groupMembers() ?? [];
  }

  /**
   * Whether the meeting's plan in force uses `handler`, or a route command to it awaits its
   * acknowledgement (the removals of a handler the new plan left).
   */
  uses(handler: HandlerId): boolean {
    for (const command of this.pending.values()) if (command.handler === handler) return true;
    for (const plan of [this.plan, this.appliedPlan]) {
      for (const load of plan?.loads ?? []) if (load.handler === handler) return true;
    }
    return false;
  }

  handle(input: MeetingInput, now: number): void {
    if (this.ended) {
      if (input.type === 'join') this.reject(input.participant, 'meeting-ended', undefined);
      return;
    }
    switch (input.type) {
      case 'join':
        return this.join(input.participant, input.region, input.layout, now, input.keyPackage);
      case 'leave':
        return this.leave(input.participant, now);
      case 'layout':
        return this.changeMember(input.participant, now, (m) => {
          m.layout = input.layout;
        });
      case 'publish':
        return this.changeMember(input.participant, now, (m) => {
          if (!m.publishes.includes(input.kind)) m.publishes = [...m.publishes, input.kind];
        });
      case 'unpublish':
        return this.changeMember(input.participant, now, (m) => {
          m.publishes = m.publishes.filter((k) => k !== input.kind);
        });
      case 'screen-share':
        return this.changeMember(input.participant, now, (m) => {
          const others = m.publishes.filter((k) => k !== 'screen');
          m.publishes = input.sharing ? ['screen', ...others] : others;
        });
      case 'speaker': {
        if (!this.roster.members.has(input.participant)) return;
        // Already the latest speaker: the history, and so every layout, stays as it is.
        if (this.roster.activeSpeakers[0] === input.participant) return;
        this.roster.activeSpeakers = [
          input.participant,
          ...this.roster.activeSpeakers.filter((p) => p !== input.participant),
        ].slice(0, 8);
        this.replan(now);
        return;
      }
      case 'connected': {
        const member = this.roster.members.get(input.participant);
        if (member === undefined || member.connectedHandler === input.handler) return;
        // It was connected somewhere (else nothing changed): undefined says it lost that.
        const lost = input.handler === undefined;
        member.connectedHandler = input.handler;
        if (lost) this.lostMedia.add(member.id);
        else this.lostMedia.delete(member.id);
        if (member.movingTo === input.handler) member.movingTo = undefined;
        this.seen(input.participant, now);
        if (lost && this.config.mutations?.noReplanOnHandlerLoss === true) return;
        this.replan(now);
        // Told nowhere else by that plan: back to its home with a fresh token (its own network
        // may have failed, not the handler; if the handler is gone, the plan without it moves
        // the member again).
        if (lost && member.movingTo === undefined) this.sendHome(member, now);
        return;
      }
      case 'heartbeat':
        if (this.roster.members.has(input.participant)) this.seen(input.participant, now);
        return;
      case 'token-request':
        return this.tokenRequest(input.participant, input.handler, now);
      case 'route-ack':
        return this.acknowledged(input.command, now);
      case 'key-ack': {
        const pending = this.pendingKeys.get(input.participant);
        if (pending !== undefined && pending.epoch === input.epoch)
          this.pendingKeys.delete(input.participant);
        if (this.pendingKeys.size === 0 && this.pending.size === 0) this.nextRetryAt = null;
        return;
      }
      case 'mls-commit':
        if (!this.roster.members.has(input.participant)) return;
        this.seen(input.participant, now);
        return this.toMls(input.participant, now, {
          type: 'commit',
          from: input.participant,
          request: input.request,
          epoch: input.epoch,
          commit: input.commit,
          welcome: input.welcome,
        });
      case 'mls-processed':
        if (!this.roster.members.has(input.participant)) return;
        this.seen(input.participant, now);
        return this.toMls(input.participant, now, {
          type: 'processed',
          participant: input.participant,
          epoch: input.epoch,
        });
      case 'rotate-keys':
        if (!this.roster.members.has(input.participant)) return;
        this.seen(input.participant, now);
        if (this.mls === undefined) return this.keyEvent({ type: 'rotate' }, now);
        return this.toMls(input.participant, now, { type: 'rotate' });
      case 'keyframe-request':
        return this.keyframeRequest(input.participant, input.publisher, now);
      case 'handler-lost':
        return this.handlerLost(input.handler, now);
      case 'handler-draining':
        this.replan(now);
        return;
    }
  }

  handleTimeout(now: number): void {
    if (this.ended) return;
    // The delivery machine acts only on its own deadlines, so it may be woken early.
    if (this.mls !== undefined) {
      this.mls.handleTimeout(now);
      this.drainMls();
    }
    if (this.keyDeadline !== null && this.keyDeadline <= now) this.keyEvent({ type: 'tick' }, now);
    if (this.nextRetryAt !== null && this.nextRetryAt <= now) this.retransmit(now);
    if (this.nextExpiryAt !== null && this.nextExpiryAt <= now) this.expireSessions(now);
    if (this.keyframeHeld.size > 0) this.askForKeyframes(now);
  }

  /** Resends the commands and keys whose acknowledgement is overdue. */
  private retransmit(now: number): void {
    let next: number | null = null;
    for (const command of this.pending.values()) {
      if (command.retryAt <= now) {
        command.retryAt = now + this.config.commandRetryMs;
        this.emitCommand(command, true);
      }
      if (next === null || command.retryAt < next) next = command.retryAt;
    }
    for (const [participant, key] of this.pendingKeys) {
      if (key.retryAt <= now) {
        if (this.keys.currentEpoch() !== key.epoch) {
          this.pendingKeys.delete(participant);
          continue;
        }
        key.sends++;
        key.retryAt = now + this.keyRetryAfter(key.sends);
        this.outputs.push({
          type: 'key',
          epoch: key.epoch,
          recipients: [participant],
          resend: true,
        });
      }
      if (next === null || key.retryAt < next) next = key.retryAt;
    }
    this.nextRetryAt = next;
  }

  /** How long after its `sends`-th send an unacknowledged key is sent again. */
  private keyRetryAfter(sends: number): number {
    return backoffCeiling(sends, {
      baseMs: this.config.keyRetryMs,
      factor: 2,
      capMs: this.config.keyRetryCapMs,
      deadlineMs: this.config.sessionTtlMs,
    });
  }

  /** Members silent for the session TTL have left. */
  private expireSessions(now: number): void {
    const expired: ParticipantId[] = [];
    let next: number | null = null;
    for (const [participant, at] of this.lastSeen) {
      const expiry = at + this.config.sessionTtlMs;
      if (expiry <= now) expired.push(participant);
      else if (next === null || expiry < next) next = expiry;
    }
    this.nextExpiryAt = next;
    for (const participant of expired) {
      this.outputs.push({ type: 'member-expired', participant });
      this.leave(participant, now);
    }
  }

  /** Files a retransmission due at `at`. */
  private retryBy(at: number): void {
    if (this.nextRetryAt === null || at < this.nextRetryAt) this.nextRetryAt = at;
  }

  pollOutput(): MeetingOutput | null {
    return this.outputs.poll();
  }

  /** Whether `pollOutput` has something to give. */
  get hasOutput(): boolean {
    return this.outputs.waiting;
  }

  pollTimeout(): number | null {
    if (this.ended) return null;
    let next = this.keyDeadline;
    if (this.nextRetryAt !== null && (next === null || this.nextRetryAt < next))
      next = this.nextRetryAt;
    if (this.nextExpiryAt !== null && (next === null || this.nextExpiryAt < next))
      next = this.nextExpiryAt;
    const mls = this.mls?.pollTimeout() ?? null;
    if (mls !== null && (next === null || mls < next)) next = mls;
    const keyframe = this.keyframeHeld.size === 0 ? null : this.keyframeDeadline();
    if (keyframe !== null && (next === null || keyframe < next)) next = keyframe;
    return next;
  }

  /**
   * Another controller takes the meeting over (its state came from the shared store after its
   * controller failed): the plan in force now counts on the new controller's view of the
   * handlers, outputs the failed controller never sent are dropped, and every command and key
   * it left unacknowledged is resent at once (handlers apply a command id at most once).
   */
  adoptedBy(handlers: HandlerView, now: number): void {
    this.handlers = handlers;
    handlers.plannedChanged([], this.plan?.loads ?? []);
    this.plannedFrom = undefined;
    this.outputs.clear();
    for (const command of this.pending.values()) command.retryAt = now;
    for (const key of this.pendingKeys.values()) key.retryAt = now;
    if (this.pending.size > 0 || this.pendingKeys.size > 0) this.nextRetryAt = now;
  }

  // ---------------------------------------------------------------- persistence

  /**
   * What `core/mc/snapshot.ts` persists of the machine beyond its roster: the counters, when
   * each member was last heard, and every leg the handlers may hold for the meeting (the plans
   * in force and being moved to, removals not yet acknowledged or deferred, and the steps of
   * commands awaiting acknowledgement).
   */
  durableState(): DurableMeetingState {
    const legs = new Map<string, Route>();
    const keep = (route: Route) => legs.set(routeKey(route), route);
    for (const plan of [this.appliedPlan, this.plan])
      if (plan !== null) for (const route of routesOfPlan(plan)) keep(route);
    for (const step of this.secondPhase) keep(step.route);
    for (const step of this.deferredRemovals) keep(step.route);
    for (const command of this.pending.values()) for (const step of command.steps) keep(step.route);
    return {
      nextJoinOrder: this.nextJoinOrder,
      nextCommandId: this.nextCommandId,
      lastSeen: [...this.lastSeen],
      legs: [...legs.values()],
      nextKeyEpoch: this.keys.nextEpoch(),
      mls: this.mls?.durableState() ?? null,
    };
  }

  /**
   * Takes restored state into a machine that has handled nothing yet (`core/mc/snapshot.ts`
   * checked it): its members must already be in the roster. Nothing is planned here; the next
   * plan is made with the adopting controller's view of the handlers, and its transition adds
   * every leg it needs (handlers ignore legs they hold) before removing each restored leg it
   * does not keep, make-before-break as ever.
   */
  restoreDurableState(state: DurableMeetingState, now: number): void {
    this.nextJoinOrder = state.nextJoinOrder;
    this.nextCommandId = state.nextCommandId;
    this.lastSeen.clear();
    let expiry: number | null = null;
    for (const [participant, at] of state.lastSeen) {
      this.lastSeen.set(participant, at);
      const due = at + this.config.sessionTtlMs;
      if (expiry === null || due < expiry) expiry = due;
    }
    this.nextExpiryAt = expiry;
    this.deferredRemovals = state.legs.map((route) => ({ op: 'remove', route }));
    // Controller-made keys (without `mls`): a new key epoch for the restored members, numbered
    // after the meeting's last; its key is sent as soon as the adopting controller runs the
    // meeting (`adoptedBy` resends it). With `mls` the controller makes no keys.
    if (this.mls === undefined) {
      const members = [...this.roster.members.keys()];
      this.keyEvents(this.keys.resume(members, state.nextKeyEpoch, now), now);
    }
    // The MLS group goes on where the failed controller left it: same group, epoch and members;
    // group members whose sessions ran out meanwhile are removed by the next commit.
    if (this.mls !== undefined && state.mls !== null) {
      const inGroup = [...state.mls.members, ...state.mls.joining.map((a) => a.participant)];
      const gone = inGroup.filter((participant) => !this.roster.members.has(participant));
      this.mls.restore(state.mls, gone, now);
    }
  }

  /**
   * The meeting ends: every handler it used or was commanding is told to drop it, every
   * member's session is deleted and the member told, and nothing more is planned or sent; a
   * join is rejected (`meeting-ended`).
   */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const members = [...this.roster.members.keys()];
    for (const participant of members) this.outputs.push({ type: 'session-delete', participant });
    const handlers = new Set<HandlerId>();
    for (const plan of [this.plan, this.appliedPlan])
      for (const load of plan?.loads ?? []) handlers.add(load.handler);
    for (const command of this.pending.values()) handlers.add(command.handler);
    for (const step of this.deferredRemovals)
      for (const handler of handlersOf(step.route)) handlers.add(handler);
    this.outputs.push({
      type: 'meeting-ended',
      meeting: this.config.meeting,
      handlers: [...handlers].filter((h) => this.handlers.isHealthy(h)).sort(),
      members,
    });
    this.handlers.plannedChanged(this.plan?.loads ?? [], []);
    this.plan = null;
    this.pending.clear();
    this.pendingKeys.clear();
    this.lastSeen.clear();
    this.nextRetryAt = null;
    this.nextExpiryAt = null;
  }

  // ---------------------------------------------------------------- members

  private join(
    participant: ParticipantId,
    region: RegionId,
    layout: LayoutRequest,
    now: number,
    keyPackage: Uint8Array | undefined,
  ) {
    const members = this.roster.members;
    const existing = members.get(participant);
    if (existing === undefined) {
      members.set(participant, {
        id: participant,
        region,
        joinOrder: this.nextJoinOrder++,
        publishes: [...this.config.defaultPublishes],
        layout,
        connectedHandler: undefined,
        movingTo: undefined,
      });
      const failure = this.replan(now);
      if (failure !== undefined) {
        members.delete(participant);
        this.nextJoinOrder--;
        return this.reject(participant, 'no-capacity', failure);
      }
      if (this.config.mutations?.noKeyRotationOnJoin !== true && this.mls === undefined)
        this.keyEvent({ type: 'join', participant }, now);
    } else {
      existing.layout = layout;
      const failure = this.replan(now);
      if (failure !== undefined) return this.reject(participant, 'no-capacity', failure);
    }
    const home = homeIn(this.plan, participant);
    if (home === undefined) return this.reject(participant, 'no-capacity', undefined);
    this.seen(participant, now);
    this.outputs.push({
      type: 'join-accepted',
      participant,
      handler: home,
      token: this.grant(participant, home, now),
      epoch: this.currentEpoch(),
      reconnect: existing !== undefined,
    });
    // A member joining again has a new connection: told again where else it publishes.
    const also = this.publishingAlso.get(participant);
    if (existing !== undefined && also !== undefined) this.tellPublishAlso(participant, also, now);
    // After the answer: the member hears it was admitted before it is asked to create the group.
    // A key package on a reconnect means the member's MLS state was lost: its old leaf goes,
    // the new one comes in, in one commit.
    if (keyPackage !== undefined)
      this.toMls(participant, now, { type: 'join', participant, keyPackage });
  }

  /** A connection token's claims for `participant` on `handler`, valid from `now`. */
  private grant(participant: ParticipantId, handler: HandlerId, now: number): ConnectionGrant {
    return {
      meeting: this.config.meeting,
      participant,
      handler,
      issuedAtMs: now,
      expiresAtMs: now + this.config.connectionTokenTtlMs,
    };
  }

  /**
   * A member redirected by a handler asks for a token for the handler it was sent to: granted
   * while the controller believes that handler healthy (the plan follows where it connects).
   */
  private tokenRequest(participant: ParticipantId, handler: HandlerId, now: number): void {
    if (!this.roster.members.has(participant)) {
      this.outputs.push({ type: 'token-refused', participant, handler, reason: 'not-a-member' });
      return;
    }
    this.seen(participant, now);
    if (!this.handlers.isHealthy(handler)) {
      this.outputs.push({
        type: 'token-refused',
        participant,
        handler,
        reason: 'handler-unavailable',
      });
      return;
    }
    this.outputs.push({ type: 'connection-token', token: this.grant(participant, handler, now) });
  }

  private reject(
    participant: ParticipantId,
    reason: 'no-capacity' | 'meeting-ended',
    detail: RoutingError | undefined,
  ): void {
    this.outputs.push({ type: 'join-rejected', participant, reason, detail });
  }

  private leave(participant: ParticipantId, now: number): void {
    if (!this.roster.members.delete(participant)) return;
    this.roster.departed.push(participant);
    this.lastSeen.delete(participant);
    this.pendingKeys.delete(participant);
    this.lostMedia.delete(participant);
    this.publishingAlso.delete(participant);
    this.keyframeAskedAt.delete(participant);
    this.keyframeHeld.delete(participant);
    this.outputs.push({ type: 'session-delete', participant });
    if (this.mls === undefined) this.keyEvent({ type: 'leave', participant }, now);
    else if (this.config.mutations?.keepLeaversInMlsGroup !== true)
      this.toMls(participant, now, { type: 'leave', participant });
    this.replan(now);
  }

  /**
   * Asks for a keyframe each publisher whose video (not audio: every audio frame decodes on
   * its own) the plan in force delivers to `participant`, or only `publisher` when named; a
   * publisher asked within the interval is not asked again.
   */
  private keyframeRequest(
    participant: ParticipantId,
    publisher: ParticipantId | undefined,
    now: number,
  ): void {
    if (!this.roster.members.has(participant)) return;
    this.seen(participant, now);
    const kinds = new Map<ParticipantId, MediaKind[]>();
    for (const route of this.plan?.deliveries ?? []) {
      if (route.subscriber !== participant || route.kind === 'audio') continue;
      if (publisher !== undefined && route.publisher !== publisher) continue;
      if (route.publisher === participant || !this.roster.members.has(route.publisher)) continue;
      const list = kinds.get(route.publisher) ?? [];
      if (!list.includes(route.kind)) list.push(route.kind);
      kinds.set(route.publisher, list);
    }
    for (const [asked, streams] of kinds) {
      const held = this.keyframeHeld.get(asked) ?? new Set<MediaKind>();
      for (const kind of streams) held.add(kind);
      this.keyframeHeld.set(asked, held);
    }
    this.askForKeyframes(now);
  }

  private get keyframeInterval(): number {
    return this.config.keyframeRequestIntervalMs ?? KEYFRAME_REQUEST_INTERVAL_MS;
  }

  /** Sends each held keyframe request whose publisher's interval has ended. */
  private askForKeyframes(now: number): void {
    for (const [asked, held] of this.keyframeHeld) {
      const last = this.keyframeAskedAt.get(asked);
      if (last !== undefined && now - last < this.keyframeInterval) continue;
      this.keyframeHeld.delete(asked);
      this.keyframeAskedAt.set(asked, now);
      this.outputs.push({ type: 'keyframe-request', participant: asked, kinds: [...held].sort() });
    }
  }

  /** When the earliest held keyframe request is due. */
  private keyframeDeadline(): number | null {
    let next: number | null = null;
    for (const asked of this.keyframeHeld.keys()) {
      const at = (this.keyframeAskedAt.get(asked) ?? 0) + this.keyframeInterval;
      if (next === null || at < next) next = at;
    }
    return next;
  }

  private changeMember(participant: ParticipantId, now: number, change: (m: Member) => void) {
    const member = this.roster.members.get(participant);
    if (member === undefined) return;
    change(member);
    this.seen(participant, now);
    this.replan(now);
  }

  private seen(participant: ParticipantId, now: number): void {
    const before = this.lastSeen.get(participant);
    this.lastSeen.set(participant, now);
    const expiry = now + this.config.sessionTtlMs;
    if (this.nextExpiryAt === null || expiry < this.nextExpiryAt) this.nextExpiryAt = expiry;
    // Redis takes a refresh at most every tenth of the TTL.
    if (before === undefined || now - before >= this.config.sessionTtlMs / 10)
      this.outputs.push({ type: 'session-write', participant, ttlMs: this.config.sessionTtlMs });
  }

  // ---------------------------------------------------------------- planning

  /**
   * Recomputes the members' layouts and, when the demand or what the plan was made from
   * changed, the routing plan; starts moving the handlers to it. Returns the planner's error
   * when it found no room (the plan in force stays).
   */
  private replan(now: number): RoutingError | undefined {
    const layoutDemand = meetingDemand(this.roster);
    const demand =
      this.config.forwardAudio === true
        ? withAudioDemand(this.roster.members, layoutDemand)
        : layoutDemand;
    const change = this.plan === null ? 'other' : this.planInputsChange();
    if (change === 'none' && sameDemand(this.demand, demand)) return undefined;
    const input = this.routingInput(demand);
    // Nobody joined, left, moved or lost a handler: only what is shown where changed, and the
    // members stay on their homes while those hold the new legs (no client moves on a new
    // speaker or layout). Members only joined: the others stay on their homes and only the
    // joiners are placed. Either way, a full planning when that finds no plan.
    const planned =
      (change === 'none'
        ? planKeepingHomes(input)
        : change === 'joined'
          ? planJoining(input)
          : undefined) ?? planRouting(input);
    if (!planned.ok) {
      this.outputs.push({ type: 'plan-failed', error: planned.error });
      return planned.error;
    }
    const plan = planned.value;
    this.handlers.plannedChanged(this.plan?.loads ?? [], plan.loads);
    this.plan = plan;
    // Where members are away from the homes this plan gives them.
    this.plannedFrom = this.planningInputs();
    this.demand = demand;
    this.outputs.push({ type: 'planned', input, plan });
    this.startTransition(now);
    this.moveClients(plan, now);
    this.secondPublishes(plan, now);
    return undefined;
  }

  /**
   * Members the plan has publish to a handler besides their home are told so (with a token),
   * and those it no longer has are told to stop; each once per change.
   */
  private secondPublishes(plan: RoutingPlan, now: number): void {
    const wanted = secondPublishTargets(plan);
    for (const [participant, handler] of this.publishingAlso) {
      if (wanted.get(participant) === handler) continue;
      this.publishingAlso.delete(participant);
      if (!wanted.has(participant) && this.roster.members.has(participant))
        this.outputs.push({ type: 'publish-also', participant, handler: null, token: null });
    }
    for (const [participant, handler] of wanted) {
      if (this.publishingAlso.get(participant) === handler) continue;
      this.publishingAlso.set(participant, handler);
      this.tellPublishAlso(participant, handler, now);
    }
  }

  private tellPublishAlso(participant: ParticipantId, handler: HandlerId, now: number): void {
    this.outputs.push({
      type: 'publish-also',
      participant,
      handler,
      token: this.grant(participant, handler, now),
    });
  }

  private planningInputs(): PlanningInputs {
    const members: ParticipantId[] = [];
    const awayAt: (HandlerId | undefined)[] = [];
    for (const member of this.roster.members.values()) {
      members.push(member.id);
      awayAt.push(this.awayFromHome(member));
    }
    return { members, awayAt, healthVersion: this.handlers.healthVersion };
  }

  /**
   * How the members, where each is connected when that is not its home, and the handlers'
   * health differ from what the plan in force was made from: `none`; `joined` when members were
   * only added after the others (the others and the health as they were); else `other`. Not
   * connected and connected at home are the same to the planner (either earns the
   * existing-connection preference).
   */
  private planInputsChange(): 'none' | 'joined' | 'other' {
    const planned = this.plannedFrom;
    if (planned === undefined || planned.healthVersion !== this.handlers.healthVersion)
      return 'other';
    if (planned.members.length > this.roster.members.size) return 'other';
    let index = 0;
    for (const member of this.roster.members.values()) {
      if (index === planned.members.length) return 'joined';
      if (planned.members[index] !== member.id) return 'other';
      // A member now at its home confirms the plan, wherever it was when the plan was made (a
      // member once connected stays connected somewhere: only `connected` sets the handler).
      const away = this.awayFromHome(member);
      if (away !== undefined && planned.awayAt[index] !== away) return 'other';
      index++;
    }
    return 'none';
  }

  private awayFromHome(member: Member): HandlerId | undefined {
    const connected = member.connectedHandler;
    return connected === undefined || connected === homeIn(this.plan, member.id)
      ? undefined
      : connected;
  }

  private routingInput(demand: readonly StreamDemand[]): RoutingInput {
    const regions = new Set<RegionId>([this.config.region]);
    if (this.config.crossRegion !== 'single-region')
      for (const member of this.roster.members.values()) regions.add(member.region);
    const thisMeeting = new Map<HandlerId, number>();
    for (const load of this.plan?.loads ?? []) thisMeeting.set(load.handler, load.meetingBps);
    const handlers: RoutingHandler[] = [];
    for (const region of regions) this.handlers.routingHandlers(region, thisMeeting, handlers);
    return {
      meeting: this.config.meeting,
      participants: routingParticipants(this.roster.members.values()),
      handlers,
      demand,
      latencyMs: this.config.latencyMs,
      streamBitrateBps: this.config.streamBitrateBps,
      ...(this.plan === null ? {} : { previous: this.plan }),
    };
  }

  /**
   * Members connected away from their home in `plan` are told to move, once per new home (a
   * member already told to move there is not told again while it moves).
   */
  private moveClients(plan: RoutingPlan, now: number): void {
    for (const home of plan.homes) {
      const member = this.roster.members.get(home.participant);
      if (member === undefined) continue;
      const connected = member.connectedHandler;
      // Not connected yet: its join answer names its home. Lost its session: it waits for one.
      if (
        (connected === undefined && !this.lostMedia.has(member.id)) ||
        connected === home.handler
      ) {
        member.movingTo = undefined;
        continue;
      }
      if (member.movingTo !== home.handler) this.moveTo(member, home.handler, now);
    }
  }

  /** Tells a member that lost its media session to connect to its home in the plan in force. */
  private sendHome(member: Member, now: number): void {
    const home = homeIn(this.plan, member.id);
    if (home !== undefined) this.moveTo(member, home, now);
  }

  /** Tells a member to take its media to `handler`, with a token for it. */
  private moveTo(member: Member, handler: HandlerId, now: number): void {
    member.movingTo = handler;
    this.outputs.push({
      type: 'move',
      participant: member.id,
      handler,
      token: this.grant(member.id, handler, now),
    });
  }

  // ---------------------------------------------------------------- transitions

  private startTransition(now: number): void {
    if (this.phase !== 'idle' || this.plan === null || this.plan === this.appliedPlan) return;
    const from = this.appliedPlan;
    const to = this.plan;
    const steps = planTransition(from, to);
    if (this.deferredRemovals.length > 0) {
      const removed = new Set(steps.filter((s) => s.op === 'remove').map((s) => routeKey(s.route)));
      for (const step of this.deferredRemovals) {
        const key = routeKey(step.route);
        if (removed.has(key) || canonicalPlanHas(to, step.route) === true) continue;
        removed.add(key);
        steps.push(step);
      }
      this.deferredRemovals = [];
    }
    this.outputs.push({
      type: 'transition',
      from,
      steps,
      demandBefore: this.appliedDemand,
      demandAfter: this.demand,
    });
    this.appliedPlan = to;
    this.appliedDemand = this.demand;
    const adds: PlanStep[] = [];
    const removes: PlanStep[] = [];
    for (const step of steps) (step.op === 'add' ? adds : removes).push(step);
    const [first, second] =
      this.config.mutations?.removeBeforeAdd === true ? [removes, adds] : [adds, removes];
    this.secondPhase = second;
    this.phase = 'first';
    this.sendPhase(first, now);
  }

  /** One command per handler for `steps`; moves on at once when no handler is left to ask. */
  private sendPhase(steps: readonly PlanStep[], now: number): void {
    const byHandler = new Map<HandlerId, PlanStep[]>();
    for (const step of steps) {
      const route = step.route;
      // A cascade is installed at both ends: the sender forwards, the receiver accepts.
      for (const handler of handlersOf(route)) this.stepTo(byHandler, handler, step);
    }
    for (const [handler, list] of byHandler) {
      const command: PendingCommand = {
        id: this.nextCommandId++,
        handler,
        steps: list,
        retryAt: now + this.config.commandRetryMs,
      };
      if (this.config.mutations?.noRetransmit !== true) {
        this.pending.set(command.id, command);
        this.retryBy(command.retryAt);
      }
      this.emitCommand(command, false);
    }
    if (this.pending.size === 0) this.phaseDone(now);
  }

  private stepTo(byHandler: Map<HandlerId, PlanStep[]>, handler: HandlerId, step: PlanStep) {
    if (!this.handlers.isHealthy(handler)) {
      // A lost handler's legs are gone; an addition it cannot take leaves the old legs needed.
      if (this.phase === 'first' && step.op === 'add') this.additionLost = true;
      return;
    }
    const list = byHandler.get(handler);
    if (list === undefined) byHandler.set(handler, [step]);
    else list.push(step);
  }

  private emitCommand(command: PendingCommand, resend: boolean): void {
    this.outputs.push({
      type: 'route-command',
      id: command.id,
      meeting: this.config.meeting,
      handler: command.handler,
      steps: command.steps,
      resend,
    });
  }

  private acknowledged(command: number, now: number): void {
    if (!this.pending.delete(command)) return;
    if (this.pending.size > 0) return;
    if (this.pendingKeys.size === 0) this.nextRetryAt = null;
    this.phaseDone(now);
  }

  private phaseDone(now: number): void {
    if (this.phase === 'first') {
      this.phase = 'second';
      let second = this.secondPhase;
      this.secondPhase = [];
      // The removals wait while the plan being moved to cannot be whole: an addition went to a
      // lost handler, or the plan still routes through one (its legs there are gone).
      if (this.additionLost || this.routesThroughLostHandler(this.appliedPlan)) {
        this.deferredRemovals.push(...second);
        second = [];
      }
      this.additionLost = false;
      return this.sendPhase(second, now);
    }
    if (this.phase !== 'second') return;
    this.phase = 'idle';
    this.outputs.push({ type: 'transition-done' });
    this.startTransition(now);
  }

  private routesThroughLostHandler(plan: RoutingPlan | null): boolean {
    for (const load of plan?.loads ?? []) if (!this.handlers.isHealthy(load.handler)) return true;
    return false;
  }

  private handlerLost(handler: HandlerId, now: number): void {
    let dropped = false;
    for (const command of this.pending.values()) {
      if (command.handler !== handler) continue;
      this.pending.delete(command.id);
      dropped = true;
      if (this.phase === 'first' && command.steps.some((step) => step.op === 'add'))
        this.additionLost = true;
    }
    // Replan first, so that the transition this loss completes is followed by one to a plan
    // without the lost handler rather than to the plan made before the loss.
    if (this.config.mutations?.noReplanOnHandlerLoss !== true) this.replan(now);
    if (dropped && this.pending.size === 0) this.phaseDone(now);
  }

  // ---------------------------------------------------------------- keys

  /** Hands an input to the MLS delivery service and queues what it says. */
  private toMls(
    participant: ParticipantId,
    now: number,
    input: Parameters<MlsDelivery['handle']>[0],
  ): void {
    const mls = this.mls;
    if (mls === undefined) return;
    const error = mls.handle(input, now);
    if (error !== undefined) this.outputs.push({ type: 'mls-refused', participant, error });
    this.drainMls();
  }

  private drainMls(): void {
    const mls = this.mls;
    if (mls === undefined) return;
    for (let output = mls.pollOutput(); output !== null; output = mls.pollOutput())
      this.outputs.push({ type: 'mls', output });
  }

  private keyEvent(event: MediaKeyEvent, now: number): void {
    this.keyEvents(this.keys.handle(event, now), now);
  }

  private keyEvents(effects: readonly MediaKeyEffect[], now: number): void {
    this.keyDeadline = this.keys.nextDeadline() ?? null;
    for (const effect of effects) {
      if (effect.type === 'delete_epoch') {
        this.outputs.push({ type: 'erase-epoch', epoch: effect.epoch });
        continue;
      }
      for (const recipient of effect.recipients) {
        this.pendingKeys.set(recipient, {
          epoch: effect.epoch,
          sends: 1,
          retryAt: now + this.config.keyRetryMs,
        });
      }
      if (effect.recipients.length > 0) this.retryBy(now + this.config.keyRetryMs);
      this.outputs.push({
        type: 'key',
        epoch: effect.epoch,
        recipients: effect.recipients,
        resend: false,
      });
    }
  }
}

/** The handlers that hold `route`: both ends of a cascade, the one handler of any other leg. */
export function handlersOf(route: Route): readonly HandlerId[] {
  return route.type === 'cascade' ? [route.from, route.to] : [route.handler];
}

/** Whether `handler` holds `route` (a cascade is held by both its ends). */
export function holds(handler: HandlerId, route: Route): boolean {
  return route.type === 'cascade'
    ? route.from === handler || route.to === handler
    : route.handler === handler;
}

/** The members as the planner reads them (a connected member names its handler). */
function routingParticipants(members: Iterable<Member>): RoutingParticipant[] {
  const participants: RoutingParticipant[] = [];
  for (const member of members) {
    const { id, region, joinOrder, connectedHandler } = member;
    // A member's id, region and join order never change: its last one serves while it is
    // connected where it was.
    let participant = asPlanned.get(member);
    if (participant === undefined || participant.currentHandler !== connectedHandler) {
      participant =
        connectedHandler === undefined
          ? { id, region, joinOrder }
          : { id, region, joinOrder, currentHandler: connectedHandler };
      asPlanned.set(member, participant);
    }
    participants.push(participant);
  }
  return participants;
}

/** Each member as the planner last read it. */
const asPlanned = new WeakMap<Member, RoutingParticipant>();

/** A participant's home handler in `plan`, if the plan homes it. */
export function homeIn(
  plan: RoutingPlan | null,
  participant: ParticipantId,
): HandlerId | undefined {
  return plan === null ? undefined : homesOf(plan).get(participant);
}

/**
 * Each participant the plan has publish to a handler besides its home: that handler (the
 * planner sends a publisher's stream to its home and, when it is shown away from there, to the
 * hub; one such handler per participant).
 */
export function secondPublishTargets(plan: RoutingPlan): Map<ParticipantId, HandlerId> {
  const homes = new Map<ParticipantId, HandlerId>();
  for (const home of plan.homes) homes.set(home.participant, home.handler);
  const targets = new Map<ParticipantId, HandlerId>();
  for (const route of plan.publishes) {
    const home = homes.get(route.publisher);
    if (home === undefined || route.handler === home) continue;
    const known = targets.get(route.publisher);
    // Ties between handlers (never more than the hub in practice) go to the lowest id.
    if (known === undefined || route.handler < known) targets.set(route.publisher, route.handler);
  }
  return targets;
}

/** Whether two demand lists name the same pairs in the same order. */
export function sameDemand(a: readonly StreamDemand[], b: readonly StreamDemand[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as StreamDemand;
    const y = b[i] as StreamDemand;
    if (x.subscriber !== y.subscriber || x.publisher !== y.publisher || x.kind !== y.kind)
      return false;
  }
  return true;
}
