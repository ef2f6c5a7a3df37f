import {
  type ControllerId,
  type HandlerId,
  type ParticipantId,
  type RegionId,
} from '../../core/ids.ts';
import type { LayoutRequest } from '../../core/layout/types.ts';
import { type ControllerRegistry } from '../../core/placement/index.ts';
import { type PlacementOptions } from '../../core/gc/placement.ts';
import type { ControllerEndpoint } from '../../core/mc/endpoint.ts';
import { DEFAULT_HANDLER_VIEW_POLICY } from '../../core/mc/handlers.ts';
import { type MeetingMutations } from '../../core/mc/meeting.ts';
import type { Timer } from '../engine/simulation.ts';
import type { SimRandom } from '../engine/random.ts';
import { ms, seconds, type Micros } from '../engine/time.ts';
import { type NetworkNode } from '../net/network.ts';
import type { AuthController, TokenValidator } from './auth.ts';
import { type SimToken } from './auth.ts';
import type { MediaHandler } from './media-handler.ts';
import type { MeetingState } from './meeting.ts';

/**
 * The world's nodes as the simulator keeps them (controllers, regions, clients), its timing
 * constants and the test-only breakages of core's machines.
 */

export const REQUEST_TIMEOUT = seconds(2);
/** A signaling segment the network lost arrives again after TCP's minimum retransmission timeout. */
export const SIGNALING_RETRANSMIT = ms(200);
export const MAX_ATTEMPTS = 3;
export const HEARTBEAT_INTERVAL = seconds(1);
export const LOAD_REPORT_INTERVAL = seconds(1);
export const UTILISATION_SAMPLE_INTERVAL = seconds(1);
/** A client notices a dead signaling connection after this long without keep-alives. */
export const SIGNALING_KEEPALIVE_TIMEOUT = seconds(6);
/**
 * Controllers notice a failed handler when its load reports stop (core/mc's handler view), or
 * sooner when enough of its members report their media sessions lost.
 */
export const FAILURE_DETECTION = ms(DEFAULT_HANDLER_VIEW_POLICY.detectionMs);
/**
 * A client sends on its media session at least this often (an audio frame, or receiver
 * feedback when it publishes nothing): after its handler's process dies, the client's next
 * packet draws the host's reset, and the session closes one round trip after that packet.
 */
export const MEDIA_PACKET_INTERVAL = ms(20);
/** A client whose controller failed is back on a live controller within this (keep-alive, rejoin). */
export const FAILOVER_BOUND = SIGNALING_KEEPALIVE_TIMEOUT + seconds(4);
export const REQUEST_BYTES = 600;
export const MEDIA_KEY_GRACE_MS = 30_000;
/** With MLS: how long a committer has to answer before the controller asks the next (ms). */
export const MLS_COMMIT_TIMEOUT_MS = 5_000;
export const PACKET_BYTES = 1200;

export interface ControllerNode {
  readonly id: ControllerId;
  readonly region: RegionId;
  readonly node: NetworkNode;
  readonly validator: TokenValidator;
  /** The controller's machine (core/mc), driven by the world while the controller is up. */
  readonly endpoint: ControllerEndpoint;
  /** The timer armed for the endpoint's deadline, and when it fires. */
  timer: Timer | undefined;
  timerAt: Micros;
  /**
   * With `serviceTimes.moveTokenMs`: until when the controller is signing the connection tokens
   * of the moves it sent (one after another), sim time.
   */
  signingUntil: Micros;
  healthy: boolean;
  /** When the machine last said it lost each handler (its `handler-lost` output), sim time. */
  readonly handlersLostAt: Map<HandlerId, Micros>;
}

/** Deliberate breakages of core's machines, for tests that the simulator notices each. */
export interface WorldMutations {
  readonly meeting?: MeetingMutations;
  readonly placement?: PlacementOptions;
}

export interface RegionServices {
  readonly name: RegionId;
  readonly ac: AuthController;
  readonly gcNode: NetworkNode;
  readonly gcValidator: TokenValidator;
  registry: ControllerRegistry;
  readonly controllers: ControllerNode[];
  readonly handlers: MediaHandler[];
  /** Handlers ordered by the autoscaler and not yet taking traffic. */
  provisioning: number;
  lastScaledAtMs: number | null;
}

export type ClientState = 'idle' | 'joining' | 'connected' | 'left';

export interface Client {
  readonly id: ParticipantId;
  readonly entity: string;
  readonly meeting: MeetingState;
  readonly region: RegionId;
  readonly node: NetworkNode;
  readonly random: SimRandom;
  layout: LayoutRequest;
  state: ClientState;
  token: SimToken | undefined;
  controller: ControllerNode | undefined;
  handler: MediaHandler | undefined;
  joinStartedAt: Micros;
  /**
   * When the current join finished each stage before the first frame (spec 003 "Distributed
   * Tracing"): token, meeting info, join at the controller, media session; undefined for a
   * stage it has not finished or skipped (a reconnect keeps its token and controller).
   */
  readonly joinStages: (Micros | undefined)[];
  awaitingFirstMedia: boolean;
  /** Bumped on every disconnect so stale callbacks of an earlier attempt do nothing. */
  generation: number;
  /** Whether the client has been admitted once (reconnects are not new admissions). */
  admitted: boolean;
  /**
   * Media-key epochs the client received, less the erasures it has applied: read it through
   * `heldEpochs`, which applies the erasures the controller ordered since.
   */
  readonly epochs: Set<number>;
  /** How many of its meeting's `erasedEpochs` the client has applied to `epochs`. */
  erasuresApplied: number;
  /** Key deliveries sent to the client and not yet received. */
  pendingKeys: number;
  /** With MLS: the group epoch the client's state is in (undefined outside the group). */
  mlsEpoch: number | undefined;
  /** With MLS: commits received ahead of the client's epoch, by the epoch they start. */
  readonly mlsAhead: Set<number>;
  /** The client's controller failed and the client has not rejoined another yet. */
  signalingLost: boolean;
  /** The client's last join attempt failed (not refused for capacity, nor left of its own accord). */
  gaveUp: boolean;
  /** The handler the client last told its controller it is connected to. */
  reportedHandler: HandlerId | undefined;
  /** This join already went back to the Global Controller after its controller did not answer. */
  lookedUpAgain: boolean;
}
