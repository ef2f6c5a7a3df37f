/**
 * Validation and normalisation of a routing input: everything the planner reads is checked
 * once here and put in a canonical order, so the plan never depends on the caller's ordering.
 * The context also numbers participants and handlers, so the planner's inner loops work on
 * array indexes and precomputed latencies instead of looking ids up in maps.
 */
import type { HandlerId, MediaKind, ParticipantId } from '../ids.ts';
import { err, ok, type Result } from '../result.ts';
import { compareText } from './keys.ts';
import { homesOf } from './loads.ts';
import { latencyBetween, spreadRanks } from './rank.ts';
import {
  DEFAULT_STREAM_BITRATE_BPS,
  type LatencyTable,
  type RoutingError,
  type RoutingHandler,
  type RoutingInput,
  type RoutingParticipant,
  type RoutingPlan,
  type StreamDemand,
  type StreamRef,
} from './types.ts';

/** A demanded stream and everyone who shows it, subscribers sorted by id. */
export interface DemandedStream {
  readonly stream: StreamRef;
  readonly subscribers: readonly ParticipantId[];
  /** The publisher's position in {@link PlanningContext.participants}. */
  readonly publisherIndex: number;
  /** Each subscriber's position in {@link PlanningContext.participants}, in subscriber order. */
  readonly subscriberIndexes: readonly number[];
}

/** A validated input in canonical order. */
export interface PlanningContext {
  readonly input: RoutingInput;
  /** Participants in join order (ties by id); "participant index" means a position here. */
  readonly participants: readonly RoutingParticipant[];
  /** Participant indexes in id order. */
  readonly participantsById: readonly number[];
  /** All handlers by id, healthy or not. */
  readonly handlersById: ReadonlyMap<HandlerId, RoutingHandler>;
  /**
   * Healthy handlers sorted by id; "handler index" means a position here, so comparing two
   * handler indexes compares the handlers' ids.
   */
  readonly healthy: readonly RoutingHandler[];
  /** Demanded streams sorted by key, each with its subscribers once. */
  readonly streams: readonly DemandedStream[];
  readonly bitrateBps: number;
  readonly latencyMs: LatencyTable;
  /** Each participant's home in the previous plan. */
  readonly previousHomes: ReadonlyMap<ParticipantId, HandlerId>;
  /**
   * Latency in ms from each participant to each healthy handler's region: the entry of
   * participant `p` and handler `h` is at `p * healthy.length + h`.
   */
  readonly latency: Float64Array;
  /** Each healthy handler's tie-break rank for this meeting (rank.ts's {@link spreadRanks}). */
  readonly spread: Uint32Array;
}

/**
 * Media kinds in the order their names sort (`audio` < `camera` < `screen`), so a stream's
 * position in the canonical order is its publisher's id rank times three plus its kind's rank.
 */
const KIND_RANK: Readonly<Record<MediaKind, number>> = { audio: 0, camera: 1, screen: 2 };
const KINDS_BY_RANK: readonly MediaKind[] = ['audio', 'camera', 'screen'];

const NO_HOMES: ReadonlyMap<ParticipantId, HandlerId> = new Map();

/** Checks the input and puts it in canonical order. */
export function preparePlanning(input: RoutingInput): Result<PlanningContext, RoutingError> {
  const bitrateBps = input.streamBitrateBps ?? DEFAULT_STREAM_BITRATE_BPS;
  if (!Number.isFinite(bitrateBps) || bitrateBps <= 0) {
    return err({ kind: 'invalid-bitrate', bitrateBps });
  }
  const participantIds = new Set<ParticipantId>();
  for (const p of input.participants) {
    if (participantIds.has(p.id)) return err({ kind: 'duplicate-participant', participant: p.id });
    participantIds.add(p.id);
  }
  const handlersById = new Map<HandlerId, RoutingHandler>();
  for (const h of input.handlers) {
    if (handlersById.has(h.id)) return err({ kind: 'duplicate-handler', handler: h.id });
    const problem = handlerProblem(h);
    if (problem !== undefined)
      return err({ kind: 'invalid-handler', handler: h.id, reason: problem });
    handlersById.set(h.id, h);
  }
  const participants = sortedCopy(input.participants, compareJoinOrder);
  const participantsById = idOrder(participants);
  const streams = groupByStream(input.demand, participants, participantsById);
  if (!streams.ok) return streams;
  const healthy = sortedCopy(
    [...handlersById.values()].filter((h) => h.healthy),
    compareHandlerIds,
  );
  if (healthy.length === 0 && input.participants.length > 0) {
    return err({ kind: 'no-healthy-handler' });
  }
  const previousHomes = input.previous === undefined ? NO_HOMES : homesOf(input.previous);
  const earlier = input.previous === undefined ? undefined : derivedFrom.get(input.previous);
  const sameHandlers = earlier !== undefined && sameHandlerPlaces(earlier, input, healthy);
  return ok({
    input,
    participants,
    participantsById,
    handlersById,
    healthy,
    streams: streams.value,
    bitrateBps,
    latencyMs: input.latencyMs,
    previousHomes,
    latency:
      sameHandlers && sameRegions(earlier.participants, participants)
        ? earlier.latency
        : latencyMatrix(input.latencyMs, participants, healthy),
    spread:
      sameHandlers && earlier.meeting === input.meeting
        ? earlier.spread
        : spreadRanks(input.meeting, healthy),
  });
}

/**
 * What a plan's context worked out from its participants' regions and its healthy handlers
 * alone: the next planning of the meeting (the plan given as `previous`) takes the latencies
 * and tie-break ranks over when those are the same, instead of working them out again. Both
 * arrays are only read. Weak: a plan no longer in force takes its entry with it.
 */
interface Derived {
  readonly meeting: string;
  readonly latencyMs: LatencyTable;
  readonly participants: readonly RoutingParticipant[];
  readonly healthy: readonly RoutingHandler[];
  readonly latency: Float64Array;
  readonly spread: Uint32Array;
}

const derivedFrom = new WeakMap<RoutingPlan, Derived>();

/** Records what `plan`'s context worked out, for the plan made next from it. */
export function rememberContext(plan: RoutingPlan, ctx: PlanningContext): void {
  derivedFrom.set(plan, {
    meeting: ctx.input.meeting,
    latencyMs: ctx.latencyMs,
    participants: ctx.participants,
    healthy: ctx.healthy,
    latency: ctx.latency,
    spread: ctx.spread,
  });
}

/** Whether the healthy handlers are, in order, those of `earlier`, in the same regions. */
function sameHandlerPlaces(
  earlier: Derived,
  input: RoutingInput,
  healthy: readonly RoutingHandler[],
): boolean {
  if (earlier.latencyMs !== input.latencyMs || earlier.healthy.length !== healthy.length)
    return false;
  for (let h = 0; h < healthy.length; h++) {
    const before = earlier.healthy[h] as RoutingHandler;
    const now = healthy[h] as RoutingHandler;
    if (before.id !== now.id || before.region !== now.region) return false;
  }
  return true;
}

/** Whether the participants, in order, are in the regions of `before`'s, one for one. */
function sameRegions(
  before: readonly RoutingParticipant[],
  now: readonly RoutingParticipant[],
): boolean {
  if (before.length !== now.length) return false;
  for (let p = 0; p < now.length; p++) {
    if ((before[p] as RoutingParticipant).region !== (now[p] as RoutingParticipant).region)
      return false;
  }
  return true;
}

function compareJoinOrder(a: RoutingParticipant, b: RoutingParticipant): number {
  return a.joinOrder - b.joinOrder || compareText(a.id, b.id);
}

function compareHandlerIds(a: RoutingHandler, b: RoutingHandler): number {
  return compareText(a.id, b.id);
}

/**
 * `items` sorted by `compare`, as a new array: a copy without a sort when they are in order
 * already (callers mostly list participants in join order and handlers by id).
 */
function sortedCopy<T>(items: readonly T[], compare: (a: T, b: T) => number): T[] {
  for (let i = 1; i < items.length; i++) {
    if (compare(items[i - 1] as T, items[i] as T) > 0) return [...items].sort(compare);
  }
  return [...items];
}

function handlerProblem(h: RoutingHandler): string | undefined {
  if (!Number.isFinite(h.capacityBps) || h.capacityBps <= 0) return 'capacity must be positive';
  if (!Number.isFinite(h.loadBps) || h.loadBps < 0) return 'load must not be negative';
  if (!Number.isFinite(h.quality)) return 'quality must be a number';
  return undefined;
}

/** Participant indexes (positions in `participants`) in id order. */
function idOrder(participants: readonly RoutingParticipant[]): number[] {
  const order = participants.map((_, index) => index);
  const idAt = (index: number) => (participants[index] as RoutingParticipant).id;
  return order.sort((a, b) => compareText(idAt(a), idAt(b)));
}

/**
 * The demanded streams sorted by stream key (publisher, then kind), each with its subscribers
 * sorted by id and listed once; or the first pair naming an unknown participant, a participant
 * subscribing to itself, or an unknown kind. A stream's place in that order is a number
 * (publisher id rank times three plus kind rank), so the streams are bucketed by it instead of
 * sorted, and each bucket collects subscriber id ranks, which sort as numbers.
 */
function groupByStream(
  demand: readonly StreamDemand[],
  participants: readonly RoutingParticipant[],
  participantsById: readonly number[],
): Result<DemandedStream[], RoutingError> {
  const rankOf = new Map<ParticipantId, number>();
  for (let rank = 0; rank < participantsById.length; rank++) {
    rankOf.set((participants[participantsById[rank] as number] as RoutingParticipant).id, rank);
  }
  const buckets: (number[] | undefined)[] = new Array(participants.length * 3);
  // A demand list mostly holds each subscriber's pairs together: its rank is looked up once.
  let lastSubscriber: ParticipantId | undefined;
  let lastRank: number | undefined;
  for (const d of demand) {
    if (d.subscriber !== lastSubscriber) {
      lastSubscriber = d.subscriber;
      lastRank = rankOf.get(d.subscriber);
    }
    const subscriberRank = lastRank;
    if (subscriberRank === undefined)
      return err({ kind: 'unknown-participant', participant: d.subscriber });
    const publisherRank = rankOf.get(d.publisher);
    if (publisherRank === undefined)
      return err({ kind: 'unknown-participant', participant: d.publisher });
    if (subscriberRank === publisherRank)
      return err({ kind: 'self-subscription', participant: d.subscriber });
    const kindRank = KIND_RANK[d.kind];
    if (kindRank === undefined)
      return err({
        kind: 'unknown-media-kind',
        participant: d.publisher,
        mediaKind: String(d.kind),
      });
    const slot = publisherRank * 3 + kindRank;
    const bucket = buckets[slot];
    if (bucket === undefined) buckets[slot] = [subscriberRank];
    else bucket.push(subscriberRank);
  }
  const streams: DemandedStream[] = [];
  for (let slot = 0; slot < buckets.length; slot++) {
    const bucket = buckets[slot];
    if (bucket === undefined) continue;
    sortDistinct(bucket);
    const subscriberIndexes: number[] = new Array(bucket.length);
    const subscribers: ParticipantId[] = new Array(bucket.length);
    for (let i = 0; i < bucket.length; i++) {
      const index = participantsById[bucket[i] as number] as number;
      subscriberIndexes[i] = index;
      subscribers[i] = (participants[index] as RoutingParticipant).id;
    }
    const publisherIndex = participantsById[(slot - (slot % 3)) / 3] as number;
    streams.push({
      stream: {
        publisher: (participants[publisherIndex] as RoutingParticipant).id,
        kind: KINDS_BY_RANK[slot % 3] as MediaKind,
      },
      subscribers,
      publisherIndex,
      subscriberIndexes,
    });
  }
  return ok(streams);
}

/**
 * Sorts a short list of numbers ascending in place and drops repeats (an insertion sort:
 * a stream has a handful of subscribers, usually already in order).
 */
function sortDistinct(values: number[]): void {
  let kept = 0;
  for (const value of values) {
    let at = kept;
    while (at > 0 && (values[at - 1] as number) > value) at--;
    if (at > 0 && values[at - 1] === value) continue;
    for (let i = kept; i > at; i--) values[i] = values[i - 1] as number;
    values[at] = value;
    kept++;
  }
  values.length = kept;
}

function latencyMatrix(
  table: LatencyTable,
  participants: readonly RoutingParticipant[],
  healthy: readonly RoutingHandler[],
): Float64Array {
  const latency = new Float64Array(participants.length * healthy.length);
  // Participants share a handful of regions: each region's row is looked up once.
  const rowOf = new Map<string, number>();
  participants.forEach((p, i) => {
    const row = i * healthy.length;
    const same = rowOf.get(p.region);
    if (same !== undefined) {
      latency.copyWithin(row, same, same + healthy.length);
      return;
    }
    rowOf.set(p.region, row);
    healthy.forEach((h, j) => (latency[row + j] = latencyBetween(table, p.region, h.region)));
  });
  return latency;
}
