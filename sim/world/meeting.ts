import type { MediaKind, MeetingId, ParticipantId, RegionId, HandlerId } from '../../core/ids.ts';
import type { LayoutAssignment, LayoutRequest } from '../../core/layout/types.ts';
import type { RoutingPlan, StreamDemand } from '../../core/routing/types.ts';
import { RouteGraph } from '../../core/routing/graph.ts';
import type { Micros } from '../engine/time.ts';

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
 * A meeting's live state: the controller's view (members, speakers, layouts, the plan in
 * force) and the data plane (the forwarding entries the handlers have actually installed).
 */
export class MeetingState {
  readonly members = new Map<ParticipantId, Member>();
  readonly departed: ParticipantId[] = [];
  activeSpeakers: ParticipantId[] = [];
  plan: RoutingPlan | null = null;
  demand: StreamDemand[] = [];
  /** When the demand last changed; the convergence bound counts from here. */
  demandChangedAt: Micros = 0;
  /** Installed forwarding entries across every handler. */
  readonly installed = new RouteGraph();
  /** Route commands sent but not yet applied. */
  inFlightCommands = 0;
  nextJoinOrder = 0;
  ended = false;

  constructor(
    readonly id: MeetingId,
    readonly region: RegionId,
    readonly packetSampled: boolean,
  ) {}
}
