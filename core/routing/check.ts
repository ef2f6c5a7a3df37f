/**
 * The plan checker: every rule a routing plan must keep, as typed violations whose messages
 * name the participants, streams and handlers involved. The simulator runs it as an invariant.
 */
import type { HandlerId, ParticipantId } from '../ids.ts';
import { findCascadeLoop, planGraph, subscriberHops, type ReadonlyRouteGraph } from './graph.ts';
import { changedDemandStreams, TouchedStreams } from './demand-change.ts';
import { demandKey, describeStream } from './keys.ts';
import { diffCanonicalPlans } from './transition.ts';
import { addStreamCounts, loadsOfCounts, streamCounts } from './loads.ts';
import { hardLimitBps } from './rank.ts';
import {
  DEFAULT_STREAM_BITRATE_BPS,
  MAX_CASCADE_HOPS,
  type RoutingHandler,
  type RoutingInput,
  type RoutingPlan,
  type StreamDemand,
  type StreamRef,
} from './types.ts';

/** One broken rule; `message` names the entities involved. */
export type PlanViolation = { readonly message: string } & (
  | { readonly kind: 'undelivered'; readonly subscriber: ParticipantId; readonly stream: StreamRef }
  | {
      readonly kind: 'delivered-twice';
      readonly subscriber: ParticipantId;
      readonly stream: StreamRef;
      readonly handlers: readonly HandlerId[];
    }
  | { readonly kind: 'received-twice'; readonly handler: HandlerId; readonly stream: StreamRef }
  | { readonly kind: 'loop'; readonly handler: HandlerId; readonly stream: StreamRef }
  | {
      readonly kind: 'too-many-hops';
      readonly subscriber: ParticipantId;
      readonly stream: StreamRef;
      readonly hops: number;
    }
  | {
      readonly kind: 'over-hard-limit';
      readonly handler: HandlerId;
      readonly plannedBps: number;
      readonly hardLimitBps: number;
      /** A healthy handler that still had room for a stream. */
      readonly roomOn: HandlerId;
    }
  | { readonly kind: 'unhealthy-handler'; readonly handler: HandlerId }
  | { readonly kind: 'unknown-handler'; readonly handler: HandlerId }
  | {
      readonly kind: 'undemanded-delivery';
      readonly subscriber: ParticipantId;
      readonly stream: StreamRef;
    }
  | { readonly kind: 'missing-home'; readonly participant: ParticipantId }
);

/**
 * Checks a plan against its input: each demanded (subscriber, stream) pair delivered exactly
 * once within {@link MAX_CASCADE_HOPS} handler-to-handler hops, no handler receiving a stream
 * twice, no cascade loop, no delivery nobody asked for, only known healthy handlers, every
 * participant with a home, and no handler past its hard limit while another healthy handler
 * has room for a stream. An empty list means the plan is sound.
 *
 * When `input.previous` is a plan this checker found sound (against the input it was given
 * then), a plan that changes a few streams is first checked by its change alone (see
 * {@link soundAfterChange}); whenever that finds anything, or does not apply, the whole plan is
 * checked, so the result is always the whole check's. Plans and inputs are immutable values.
 */
export function checkPlan(input: RoutingInput, plan: RoutingPlan): PlanViolation[] {
  const earlier = input.previous === undefined ? undefined : soundPlans.get(input.previous);
  if (earlier !== undefined) {
    const counts = soundAfterChange(earlier, input, plan);
    if (counts !== undefined) {
      soundPlans.set(plan, soundPlan(input, counts));
      return [];
    }
  }
  const handlers = handlersById(input);
  // Every handler a leg uses, with the streams it carries.
  const counts = streamCounts(plan.publishes, plan.cascades, plan.deliveries);
  const graph = planGraph(plan);
  const demanded = new DemandedPairs();
  const unserved = demandViolations(input.demand, demanded, graph);
  const violations = [
    ...handlerViolations(counts.keys(), handlers),
    ...missingHomes(input, plan),
    ...unserved,
    ...streamViolations(graph),
    ...undemandedDeliveries(demanded, plan, graph),
    ...capacityViolations(counts, handlers, input.streamBitrateBps ?? DEFAULT_STREAM_BITRATE_BPS),
  ];
  if (violations.length === 0) soundPlans.set(plan, soundPlan(input, counts));
  return violations;
}

function soundPlan(input: RoutingInput, counts: ReadonlyMap<HandlerId, number>): SoundPlan {
  return { demand: input.demand, participantCount: input.participants.length, counts };
}

function handlersById(input: RoutingInput): Map<HandlerId, RoutingHandler> {
  return new Map(input.handlers.map((h) => [h.id, h]));
}

/**
 * A plan the checker found sound: what of the input it was checked against the next check
 * reads (not the input itself, whose previous plan would keep every earlier plan alive), and
 * its stream counts.
 */
interface SoundPlan {
  readonly demand: readonly StreamDemand[];
  readonly participantCount: number;
  readonly counts: ReadonlyMap<HandlerId, number>;
}

/** The plans found sound. Weak: a plan no longer referred to takes its entry with it. */
const soundPlans = new WeakMap<RoutingPlan, SoundPlan>();

/**
 * Whether `plan` is sound against `input`, checked by what changed since `earlier` (a sound
 * plan and its input): the stream counts of `plan` when it is, undefined when it may not be or
 * the change could not be worked out (the caller then checks the whole plan).
 *
 * Every rule but the handlers', homes' and capacity's is a rule about one stream: whether each
 * of its demanded pairs is delivered once within the hop limit, whether it loops or reaches a
 * handler twice, whether it is delivered to someone who did not demand it, all read from that
 * stream's legs and the set of its demanded pairs alone. A stream whose legs (by value) and
 * demanded pairs are those of the earlier plan and input keeps the earlier verdict, sound; so
 * only the streams with a leg added or removed (a merge of the two plans' lists, both in
 * canonical order: transition.ts's {@link diffCanonicalPlans}) or a demanded pair added or
 * removed (see {@link changedDemandStreams}) are checked, on their legs and pairs alone, by the
 * same rules. The handlers', homes' and capacity rules are checked in full, on the stream
 * counts (the earlier plan's, plus the added legs, less the removed ones).
 */
function soundAfterChange(
  earlier: SoundPlan,
  input: RoutingInput,
  plan: RoutingPlan,
): ReadonlyMap<HandlerId, number> | undefined {
  // A join or a leave changes most streams' pairs: the whole check costs less.
  if (input.participants.length !== earlier.participantCount) return undefined;
  const before = input.previous as RoutingPlan;
  const diff = diffCanonicalPlans(before, plan);
  if (diff === undefined) return undefined;
  const touched = new TouchedStreams();
  if (!changedDemandStreams(earlier.demand, input.demand, touched)) return undefined;
  for (const route of diff.added) touched.add(route);
  for (const route of diff.removed) touched.add(route);
  const counts = new Map(earlier.counts);
  addStreamCounts(counts, diff.added, 1);
  addStreamCounts(counts, diff.removed, -1);
  const handlers = handlersById(input);
  const bitrateBps = input.streamBitrateBps ?? DEFAULT_STREAM_BITRATE_BPS;
  if (
    handlerViolations(counts.keys(), handlers).length > 0 ||
    missingHomes(input, plan).length > 0 ||
    capacityViolations(counts, handlers, bitrateBps).length > 0
  )
    return undefined;
  if (touched.empty) return counts;
  const legs = {
    publishes: touched.legsIn(plan.publishes),
    cascades: touched.legsIn(plan.cascades),
    deliveries: touched.legsIn(plan.deliveries),
  };
  const graph = planGraph({ ...plan, ...legs });
  const demanded = new DemandedPairs();
  const pairs = input.demand.filter((pair) => touched.has(pair));
  const sound =
    demandViolations(pairs, demanded, graph).length === 0 &&
    streamViolations(graph).length === 0 &&
    undemandedDeliveries(demanded, legs, graph).length === 0;
  return sound ? counts : undefined;
}

/**
 * The demanded (subscriber, stream) pairs, recorded one by one. A pair the plan delivers is
 * known by its delivery's entry in the plan's graph (the subscriber's handler list of the
 * stream), so no key is built for it; the others (undelivered, which a sound plan has none of)
 * are keyed.
 */
class DemandedPairs {
  private readonly delivered = new Set<readonly HandlerId[]>();
  private readonly undelivered = new Set<string>();

  /** Records the pair, given its delivery entry if it has one; false when recorded already. */
  add(pair: StreamDemand, delivering: readonly HandlerId[] | undefined): boolean {
    if (delivering === undefined) {
      const key = demandKey(pair);
      if (this.undelivered.has(key)) return false;
      this.undelivered.add(key);
      return true;
    }
    if (this.delivered.has(delivering)) return false;
    this.delivered.add(delivering);
    return true;
  }

  /** Whether some demanded pair is delivered through this entry. */
  demands(delivering: readonly HandlerId[] | undefined): boolean {
    return delivering !== undefined && this.delivered.has(delivering);
  }

  /** How many delivered (stream, subscriber) pairs were demanded. */
  get deliveredCount(): number {
    return this.delivered.size;
  }
}

function handlerViolations(
  used: Iterable<HandlerId>,
  handlers: ReadonlyMap<HandlerId, RoutingHandler>,
): PlanViolation[] {
  const violations: PlanViolation[] = [];
  for (const handler of used) {
    const info = handlers.get(handler);
    if (info === undefined) {
      violations.push({
        kind: 'unknown-handler',
        handler,
        message: `handler ${handler} is not a candidate`,
      });
    } else if (!info.healthy) {
      violations.push({
        kind: 'unhealthy-handler',
        handler,
        message: `handler ${handler} is unhealthy but used`,
      });
    }
  }
  return violations;
}

function missingHomes(input: RoutingInput, plan: RoutingPlan): PlanViolation[] {
  const homed = new Set(plan.homes.map((h) => h.participant));
  return input.participants
    .filter((p) => !homed.has(p.id))
    .map((p) => ({
      kind: 'missing-home' as const,
      participant: p.id,
      message: `participant ${p.id} has no home handler`,
    }));
}

/** Records every demanded pair in `demanded` and reports those the plan does not serve. */
function demandViolations(
  demand: readonly StreamDemand[],
  demanded: DemandedPairs,
  graph: ReadonlyRouteGraph,
): PlanViolation[] {
  const violations: PlanViolation[] = [];
  for (const d of demand) {
    const paths = graph.paths(d);
    const delivering = paths?.deliveries.get(d.subscriber);
    if (!demanded.add(d, delivering)) continue;
    if (delivering !== undefined && delivering.length > 1) {
      const from = [...delivering];
      violations.push({
        kind: 'delivered-twice',
        subscriber: d.subscriber,
        stream: streamOf(d),
        handlers: from,
        message: `subscriber ${d.subscriber} receives ${describeStream(d)} from ${from.join(', ')}`,
      });
    }
    const hops = paths === undefined ? undefined : subscriberHops(paths, d.subscriber);
    if (hops === undefined) {
      violations.push({
        kind: 'undelivered',
        subscriber: d.subscriber,
        stream: streamOf(d),
        message: `subscriber ${d.subscriber} does not receive ${describeStream(d)}`,
      });
    } else if (hops > MAX_CASCADE_HOPS) {
      violations.push({
        kind: 'too-many-hops',
        subscriber: d.subscriber,
        stream: streamOf(d),
        hops,
        message: `subscriber ${d.subscriber} receives ${describeStream(d)} after ${hops} handler-to-handler hops`,
      });
    }
  }
  return violations;
}

function streamOf(d: StreamDemand): StreamRef {
  return { publisher: d.publisher, kind: d.kind };
}

function streamViolations(graph: ReadonlyRouteGraph): PlanViolation[] {
  const violations: PlanViolation[] = [];
  for (const paths of graph.allPaths()) {
    // Without cascades a stream cannot loop, and its only sources are its distinct publish
    // handlers, each counted once.
    if (paths.cascades.size === 0) continue;
    const name = describeStream(paths.stream);
    const loopAt = findCascadeLoop(paths);
    if (loopAt !== undefined) {
      violations.push({
        kind: 'loop',
        handler: loopAt,
        stream: paths.stream,
        message: `${name} loops through handler ${loopAt}`,
      });
    }
    const sources = new Map<HandlerId, number>();
    const bump = (h: HandlerId) => sources.set(h, (sources.get(h) ?? 0) + 1);
    for (const h of paths.publishedAt) bump(h);
    for (const c of paths.cascades.values()) bump(c.to);
    for (const [handler, count] of sources) {
      if (count < 2) continue;
      violations.push({
        kind: 'received-twice',
        handler,
        stream: paths.stream,
        message: `handler ${handler} receives ${name} from ${count} sources`,
      });
    }
  }
  return violations;
}

/**
 * Deliveries to subscribers that did not demand their stream, in plan order. When the demanded
 * pairs the plan delivers are as many as the (stream, subscriber) pairs it delivers to, every
 * delivery is demanded and the deliveries are not read one by one.
 */
function undemandedDeliveries(
  demanded: DemandedPairs,
  plan: Pick<RoutingPlan, 'deliveries'>,
  graph: ReadonlyRouteGraph,
): PlanViolation[] {
  let deliveredPairs = 0;
  for (const paths of graph.allPaths()) deliveredPairs += paths.deliveries.size;
  if (deliveredPairs === demanded.deliveredCount) return [];
  return plan.deliveries
    .filter((d) => !demanded.demands(graph.paths(d)?.deliveries.get(d.subscriber)))
    .map((d) => ({
      kind: 'undemanded-delivery' as const,
      subscriber: d.subscriber,
      stream: { publisher: d.publisher, kind: d.kind },
      message: `subscriber ${d.subscriber} is sent ${describeStream(d)} without showing it`,
    }));
}

function capacityViolations(
  counts: ReadonlyMap<HandlerId, number>,
  handlers: ReadonlyMap<HandlerId, RoutingHandler>,
  bitrateBps: number,
): PlanViolation[] {
  const loads = loadsOfCounts(counts, handlers, bitrateBps);
  const over = loads.filter((l) => handlers.has(l.handler) && l.totalBps > l.hardLimitBps);
  // A sound plan has none over: the handlers with room are only looked for when one is.
  if (over.length === 0) return [];
  const totals = new Map(loads.map((l) => [l.handler, l.totalBps]));
  const withRoom = [...handlers.values()]
    .filter((h) => h.healthy)
    .filter((h) => (totals.get(h.id) ?? h.loadBps) + bitrateBps <= hardLimitBps(h))
    .map((h) => h.id)
    .sort();
  return over.flatMap((l) => {
    const roomOn = withRoom.find((h) => h !== l.handler);
    if (roomOn === undefined) return [];
    return [
      {
        kind: 'over-hard-limit' as const,
        handler: l.handler,
        plannedBps: l.totalBps,
        hardLimitBps: l.hardLimitBps,
        roomOn,
        message: `handler ${l.handler} would carry ${l.totalBps} bit/s, over its hard limit of ${l.hardLimitBps} bit/s, while ${roomOn} has room`,
      },
    ];
  });
}
