/**
 * Validation and normalisation of a routing input: everything the planner reads is checked
 * once here and put in a canonical order, so the plan never depends on the caller's ordering.
 */
import type { HandlerId, ParticipantId } from '../ids.ts';
import { err, ok, type Result } from '../result.ts';
import { compareStreams, compareText } from './keys.ts';
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
}

/** A validated input in canonical order. */
export interface PlanningContext {
  readonly input: RoutingInput;
  /** Participants in join order (ties by id). */
  readonly participants: readonly RoutingParticipant[];
  /** All handlers by id, healthy or not. */
  readonly handlersById: ReadonlyMap<HandlerId, RoutingHandler>;
  /** Healthy handlers sorted by id. */
  readonly healthy: readonly RoutingHandler[];
  /** Demanded streams sorted by key, each with its subscribers once. */
  readonly streams: readonly DemandedStream[];
  readonly bitrateBps: number;
  readonly latencyMs: LatencyTable;
  /** Each participant's home in the previous plan. */
  readonly previousHomes: ReadonlyMap<ParticipantId, HandlerId>;
}

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
  const demandError = checkDemand(input.demand, participantIds);
  if (demandError !== undefined) return err(demandError);
  const healthy = [...handlersById.values()]
    .filter((h) => h.healthy)
    .sort((a, b) => compareText(a.id, b.id));
  if (healthy.length === 0 && input.participants.length > 0) {
    return err({ kind: 'no-healthy-handler' });
  }
  return ok({
    input,
    participants: [...input.participants].sort(
      (a, b) => a.joinOrder - b.joinOrder || compareText(a.id, b.id),
    ),
    handlersById,
    healthy,
    streams: groupByStream(input.demand),
    bitrateBps,
    latencyMs: input.latencyMs,
    previousHomes: new Map(
      (input.previous?.homes ?? []).map(({ participant, handler }) => [participant, handler]),
    ),
  });
}

function handlerProblem(h: RoutingHandler): string | undefined {
  if (!Number.isFinite(h.capacityBps) || h.capacityBps <= 0) return 'capacity must be positive';
  if (!Number.isFinite(h.loadBps) || h.loadBps < 0) return 'load must not be negative';
  if (!Number.isFinite(h.quality)) return 'quality must be a number';
  return undefined;
}

function checkDemand(
  demand: readonly StreamDemand[],
  known: ReadonlySet<ParticipantId>,
): RoutingError | undefined {
  for (const d of demand) {
    if (!known.has(d.subscriber)) return { kind: 'unknown-participant', participant: d.subscriber };
    if (!known.has(d.publisher)) return { kind: 'unknown-participant', participant: d.publisher };
    if (d.subscriber === d.publisher)
      return { kind: 'self-subscription', participant: d.subscriber };
  }
  return undefined;
}

interface StreamSubscribers {
  readonly stream: StreamRef;
  readonly subscribers: Set<ParticipantId>;
}

/**
 * The demanded streams sorted by stream key (publisher, then kind: each stream once, so the
 * order is total), each with its subscribers sorted. Streams are grouped by publisher, then
 * kind (at most three per publisher), so no key string is built.
 */
function groupByStream(demand: readonly StreamDemand[]): DemandedStream[] {
  const byPublisher = new Map<ParticipantId, StreamSubscribers[]>();
  const streams: StreamSubscribers[] = [];
  for (const d of demand) {
    let ofPublisher = byPublisher.get(d.publisher);
    if (ofPublisher === undefined) {
      ofPublisher = [];
      byPublisher.set(d.publisher, ofPublisher);
    }
    const entry = ofPublisher.find((s) => s.stream.kind === d.kind);
    if (entry !== undefined) {
      entry.subscribers.add(d.subscriber);
      continue;
    }
    const added = {
      stream: { publisher: d.publisher, kind: d.kind },
      subscribers: new Set([d.subscriber]),
    };
    ofPublisher.push(added);
    streams.push(added);
  }
  streams.sort((a, b) => compareStreams(a.stream, b.stream));
  return streams.map((s) => ({
    stream: s.stream,
    subscribers: [...s.subscribers].sort(compareText),
  }));
}
