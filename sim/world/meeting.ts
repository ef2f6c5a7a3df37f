import type { MediaKind, MeetingId, ParticipantId, RegionId, HandlerId } from '../../core/ids.ts';
import type { LayoutAssignment, LayoutRequest } from '../../core/layout/types.ts';
import type { RoutingPlan, StreamDemand } from '../../core/routing/types.ts';
import { RouteGraph } from '../../core/routing/graph.ts';
import { MediaKeyEpochs, type MediaKeyPolicy } from '../../core/keys/media-epochs.ts';
import type { Micros } from '../engine/time.ts';
import type { Timer } from '../engine/simulation.ts';
import type { MeetingLayouts } from './layouts.ts';
import { ConvergenceChecks } from '../invariants/convergence.ts';

/** One member of a meeting as its Meeting Controller holds it. */
export interface Member {
  readonly id: ParticipantId;
  readonly region: RegionId;
  readonly joinOrder: number;
  publishes: MediaKind[];
  layout: LayoutRequest;
  assignment: LayoutAssignment | undefined;
  /** The handler the client is connected to, once it is. */
  connectedHandler: HandlerId | undefined;
}

/**
 * What a meeting's plan was made from besides its demand: the members in order, where each was
 * connected if not at its home in the plan then in force, and the handlers that were down.
 */
export interface PlanningInputs {
  readonly members: readonly ParticipantId[];
  readonly awayAt: readonly (HandlerId | undefined)[];
  /** Ids of the handlers that were down, space-separated. */
  readonly unhealthyHandlers: string;
}

/**
 * A meeting's live state: the controller's view (members, speakers, layouts, the plan in
 * force) and the data plane (the forwarding entries the handlers have actually installed).
 */
export class MeetingState {
  readonly members = new Map<ParticipantId, Member>();
  readonly departed: ParticipantId[] = [];
  activeSpeakers: ParticipantId[] = [];
  /** The roster index of the last layout computation, and what each member's came from. */
  roster: MeetingLayouts | undefined;
  plan: RoutingPlan | null = null;
  /** Whether core's plan checker found that `plan` delivers every pair of `demand`. */
  planDeliversDemand = false;
  /** The convergence checks of this meeting, and what the last one found. */
  readonly convergence = new ConvergenceChecks();
  /** The planning inputs (besides demand) the current plan was made from. */
  plannedFrom: PlanningInputs | undefined;
  demand: readonly StreamDemand[] = [];
  /** When the demand or the plan last changed; the convergence bound counts from here. */
  demandChangedAt: Micros = 0;
  /** Installed forwarding entries across every handler. */
  readonly installed = new RouteGraph();
  /** The plan the handlers are being moved to (or hold): the last transition's target. */
  appliedPlan: RoutingPlan | null = null;
  /** The demand that `appliedPlan` serves. */
  appliedDemand: readonly StreamDemand[] = [];
  /** Whether a transition's route commands are still being acknowledged. */
  transitionInFlight = false;
  nextJoinOrder = 0;
  ended = false;
  /** Core's media-key epoch state machine for this meeting. */
  readonly keys: MediaKeyEpochs;
  /** Epochs the controller ordered its members to erase, in the order it did. */
  readonly erasedEpochs: number[] = [];
  /** Participants who left, with the last epoch that was current while they were members. */
  readonly removed = new Map<ParticipantId, number>();
  /** The instant (virtual) of the media-key tick already scheduled, if any. */
  keyTickAt: Micros | undefined;
  /** The media-key tick already scheduled, if any. */
  keyTick: Timer | undefined;
  /** The pending convergence check of the latest routing change, if any. */
  convergenceCheck: Timer | undefined;
  /** The pending settle check of the latest media-key epoch, if any. */
  keySettleCheck: Timer | undefined;

  constructor(
    readonly id: MeetingId,
    readonly region: RegionId,
    readonly packetSampled: boolean,
    keyPolicy: MediaKeyPolicy,
  ) {
    this.keys = new MediaKeyEpochs(keyPolicy);
  }
}
