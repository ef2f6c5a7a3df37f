/**
 * Validation and normalisation of a routing input: everything the planner reads is checked
 * once here and put in a canonical order, so the plan never depends on the caller's ordering.
 * The context also numbers participants and handlers, so the planner's inner loops work on
 * array indexes and precomputed latencies instead of looking ids up in maps.
 */
import type { HandlerId, MediaKind, ParticipantId } from '../ids.ts';
import { err, ok, type Result } from '../result.ts';
import { compareText } from './keys.ts';
import { latencyBetween, spreadRanks } from './rank.ts';
import {
  DEFAULT_STREAM_BITRATE_BPS,
  type LatencyTable,
  type RoutingError,
  type RoutingHandler,
  type RoutingInput,
  type RoutingParticipant,
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
  const participants = [...input.participants].sort(
    (a, b) => a.joinOrder - b.joinOrder || compareText(a.id, b.id),
  );
  const participantsById = idOrder(participants);
  const streams = groupByStream(input.demand, participants, participantsById);
  if (!streams.ok) return streams;
  const healthy = [...handlersById.values()]
    .filter((h) => h.healthy)
    .sort((a, b) => compareText(a.id, b.id));
  if (healthy.length === 0 && input.participants.length > 0) {
    return err({ kind: 'no-healthy-handler' });
  }
  const previousHomes = new Map<ParticipantId, HandlerId>();
  for (const { participant, handler } of input.previous?.homes ?? [])
    previousHomes.set(participant, handler);
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
    latency: latencyMatrix(input.latencyMs, participants, healthy),
    spread: spreadRanks(input.meeting, healthy),
  });
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
  for (const d of demand) {
    const subscriberRank = rankOf.get(d.subscriber);
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
