import type {
  ControllerId,
  HandlerId,
  MeetingId,
  ParticipantId,
  RegionId,
} from '../../core/ids.ts';
import type { MeetingMachine } from '../../core/mc/meeting.ts';
import { RouteGraph } from '../../core/routing/graph.ts';
import type { Micros } from '../engine/time.ts';
import type { Timer } from '../engine/simulation.ts';
import { ConvergenceChecks } from '../invariants/convergence.ts';

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
  /** When the plan last changed; the convergence bound counts from here. */
  demandChangedAt: Micros = 0;
  /** Installed forwarding entries across every handler. */
  readonly installed = new RouteGraph();
  /** Bits per second the installed entries put on each handler (flow-level media). */
  readonly handlerLoads = new Map<HandlerId, number>();
  ended = false;
  /** Epochs the controller ordered its members to erase, in the order it did. */
  readonly erasedEpochs: number[] = [];
  /** Participants who left, with the last epoch that was current while they were members. */
  readonly removed = new Map<ParticipantId, number>();
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

  isMember(participant: ParticipantId): boolean {
    return this.machine?.roster.members.has(participant) === true;
  }
}
