import type {
  ControllerId,
  HandlerId,
  MeetingId,
  ParticipantId,
  RegionId,
} from '../../core/ids.ts';
import type { MeetingMachine } from '../../core/mc/meeting.ts';
import { RouteGraph } from '../../core/routing/graph.ts';
import { routeKey } from '../../core/routing/keys.ts';
import type { Route } from '../../core/routing/types.ts';
import type { Micros } from '../engine/time.ts';
import type { Timer } from '../engine/simulation.ts';
import { ConvergenceChecks } from '../invariants/convergence.ts';
import type { Client } from './nodes.ts';

/**
 * A meeting as the world sees it: the controller's machine (core/mc) as the shared meeting
 * store holds it, the data plane (the forwarding entries the handlers have actually installed,
 * across every handler) and what the invariant checks keep. The world decides nothing about the
 * meeting: its controller does.
 */
export class MeetingState {
  /**
   * The meeting's machine in the shared store (Redis in production), once a controller has
   * created it, and the controller running it now.
   */
  machine: MeetingMachine | undefined;
  owner: ControllerId | undefined;
  /** Whether core's plan checker found that the machine's plan delivers its demand. */
  planDeliversDemand = false;
  /** The convergence checks of this meeting, and what the last one found. */
  readonly convergence = new ConvergenceChecks();
  /**
   * Since when the meeting has been stranded: its plan routes through a failed handler and the
   * controller's replan found no room elsewhere. Its pairs are not due while it is.
   */
  strandedSince: Micros | undefined;
  /**
   * Handlers this meeting used that failed, with when each failed: its convergence bound counts
   * from when its controller took each for lost (at the latest the detection time after).
   */
  readonly failedHandlers = new Map<HandlerId, Micros>();
  /** When the plan last changed; the convergence bound counts from here. */
  demandChangedAt: Micros = 0;
  /** Installed forwarding entries across every handler. */
  readonly installed = new RouteGraph();
  /** The handlers holding each cascade leg, by route key (it carries once both ends do). */
  private readonly cascadeHolders = new Map<string, { route: Route; ends: Set<HandlerId> }>();
  /** Bits per second the installed entries put on each handler (flow-level media). */
  readonly handlerLoads = new Map<HandlerId, number>();
  ended = false;
  /** Epochs the controller ordered its members to erase, in the order it did. */
  readonly erasedEpochs: number[] = [];
  /** Participants who left, with the last epoch that was current while they were members. */
  readonly removed = new Map<ParticipantId, number>();
  /**
   * The world's clients of this meeting by id, in the order they were created (a small map
   * to look a member's client up in, where the world's holds every client).
   */
  readonly clients = new Map<ParticipantId, Client>();
  /** The pending convergence check of the latest routing change, if any. */
  convergenceCheck: Timer | undefined;
  /** The pending settle check of the latest media-key epoch, if any. */
  keySettleCheck: Timer | undefined;

  constructor(
    readonly id: MeetingId,
    readonly region: RegionId,
    readonly packetSampled: boolean,
  ) {}

  /** The members as the controller holds them (none before the first join). */
  memberIds(): IterableIterator<ParticipantId> {
    return (this.machine?.roster.members ?? new Map<ParticipantId, never>()).keys();
  }

  /** `handler` holds cascade leg `route`; whether both its ends now do. */
  holdCascade(route: Route, handler: HandlerId): boolean {
    const key = routeKey(route);
    let held = this.cascadeHolders.get(key);
    if (held === undefined) {
      held = { route, ends: new Set() };
      this.cascadeHolders.set(key, held);
    }
    held.ends.add(handler);
    return held.ends.size >= 2;
  }

  /** `handler` no longer holds cascade leg `route`. */
  releaseCascade(route: Route, handler: HandlerId): void {
    const key = routeKey(route);
    const held = this.cascadeHolders.get(key);
    if (held?.ends.delete(handler) === true && held.ends.size === 0)
      this.cascadeHolders.delete(key);
  }

  /** A failed handler holds no cascade leg any more. */
  releaseCascadesOf(handler: HandlerId): void {
    for (const [key, held] of this.cascadeHolders)
      if (held.ends.delete(handler) && held.ends.size === 0) this.cascadeHolders.delete(key);
  }

  /** The cascade legs `handler` holds, whether or not the other end does yet. */
  *cascadesHeldBy(handler: HandlerId): IterableIterator<Route> {
    for (const held of this.cascadeHolders.values()) if (held.ends.has(handler)) yield held.route;
  }

  isMember(participant: ParticipantId): boolean {
    return this.machine?.roster.members.has(participant) === true;
  }
}
