/**
 * Make-before-break rerouting (spec 003, "Dynamic Rerouting"): the steps from one plan to the
 * next, ordered so that no subscriber loses a stream it shows in both plans, plus the tools to
 * replay steps and to find the pairs a step list would drop.
 */
import type { MediaKind, ParticipantId } from '../ids.ts';
import { RouteGraph, deliveredHops, hopsToHandlers } from './graph.ts';
import { compareText, demandKey, describeStream, routeKey, sortByKey, streamKey } from './keys.ts';
import {
  MAX_CASCADE_HOPS,
  type Route,
  type RoutingPlan,
  type StreamDemand,
  type StreamRef,
} from './types.ts';

/** One change to the routes in force: set up or tear down a leg. */
export interface PlanStep {
  readonly op: 'add' | 'remove';
  readonly route: Route;
}

/** A demanded pair that went undelivered once the step at `afterStep` (0-based) was applied. */
export interface TransitionGap {
  readonly subscriber: ParticipantId;
  readonly stream: StreamRef;
  readonly afterStep: number;
  readonly message: string;
}

const ADD_ORDER: readonly Route['type'][] = ['publish', 'cascade', 'deliver'];
const REMOVE_ORDER: readonly Route['type'][] = ['deliver', 'cascade', 'publish'];

/**
 * The steps that turn `from` (null: nothing routed yet) into `to`, make-before-break: every
 * new leg is added before any old leg is removed, additions upstream first (publishes, then
 * cascades, then deliveries) and removals downstream first. While the steps run a subscriber
 * may briefly receive a stream twice, never zero times.
 */
export function planTransition(from: RoutingPlan | null, to: RoutingPlan): PlanStep[] {
  const before: ReadonlyMap<string, Route> = from === null ? new Map() : keyedRoutes(from);
  const after = keyedRoutes(to);
  const added: KeyedRoute[] = [];
  for (const [key, route] of after) if (!before.has(key)) added.push({ key, route });
  const removed: KeyedRoute[] = [];
  for (const [key, route] of before) if (!after.has(key)) removed.push({ key, route });
  const steps: PlanStep[] = [];
  appendInTypeOrder(steps, 'add', added, ADD_ORDER);
  appendInTypeOrder(steps, 'remove', removed, REMOVE_ORDER);
  return steps;
}

interface KeyedRoute {
  readonly key: string;
  readonly route: Route;
}

/**
 * Keyed routes of plans seen recently. Plans are immutable values and a plan is usually the
 * target of one transition and the origin of the next, so its keys are built once. Weak keys:
 * the cache never keeps a plan alive.
 */
const keyedRoutesOfPlan = new WeakMap<RoutingPlan, ReadonlyMap<string, Route>>();

/** A plan's routes by route key (a repeated key keeps its last route, as a Map built from them). */
function keyedRoutes(plan: RoutingPlan): ReadonlyMap<string, Route> {
  const known = keyedRoutesOfPlan.get(plan);
  if (known !== undefined) return known;
  const keyed = new Map<string, Route>();
  for (const route of plan.publishes) keyed.set(routeKey(route), route);
  for (const route of plan.cascades) keyed.set(routeKey(route), route);
  for (const route of plan.deliveries) keyed.set(routeKey(route), route);
  keyedRoutesOfPlan.set(plan, keyed);
  return keyed;
}

/** Appends `op` steps for `routes`, type by type in `order`, each type sorted by route key. */
function appendInTypeOrder(
  steps: PlanStep[],
  op: PlanStep['op'],
  routes: readonly KeyedRoute[],
  order: readonly Route['type'][],
): void {
  for (const type of order) {
    const ofType = routes.filter((r) => r.route.type === type);
    ofType.sort((a, b) => compareText(a.key, b.key));
    for (const { route } of ofType) steps.push({ op, route });
  }
}

/** The routes in force after applying `steps` in order, sorted canonically. */
export function applySteps(routes: readonly Route[], steps: readonly PlanStep[]): Route[] {
  const state = new Map(routes.map((r) => [routeKey(r), r]));
  for (const { op, route } of steps) {
    if (op === 'add') state.set(routeKey(route), route);
    else state.delete(routeKey(route));
  }
  return sortByKey([...state.values()], routeKey);
}

/** The pairs demanded both before and after a change: those a reroute must not drop. */
export function keptDemand(
  before: readonly StreamDemand[],
  after: readonly StreamDemand[],
): StreamDemand[] {
  const earlier = new Set(before.map(demandKey));
  return after.filter((d) => earlier.has(demandKey(d)));
}

/**
 * Replays `steps` from `routes` and reports every pair of `pairs` that is delivered (within
 * the hop limit) at the start but undelivered after some step, once, at the first such step.
 * Only removals can drop a pair, so only they are examined; the work is proportional to the
 * steps plus the pairs of the streams whose publish or cascade legs are removed.
 */
export function findTransitionGaps(
  routes: readonly Route[],
  steps: readonly PlanStep[],
  pairs: readonly StreamDemand[],
): TransitionGap[] {
  // Why only streams with a removal can show a gap: a step changes the legs of its own stream
  // alone, and an addition only inserts a leg (a publish handler, a cascade edge or a delivery
  // handler), so after it every handler keeps a path from a publish handler at most as long as
  // before (shortest paths over a superset of edges) and every subscriber keeps each delivery
  // it had: no pair's delivered hop count can rise or become undefined. An add-only step list
  // therefore returns no gap, and the replay tracks only the streams some step removes from.
  const affected = streamsWithRemovals(steps);
  if (affected.size === 0) return [];
  const isAffected = (stream: StreamRef): boolean =>
    affected.get(stream.publisher)?.has(stream.kind) === true;
  const graph = new RouteGraph(routes.filter(isAffected));
  const tracked = trackDeliveredPairs(graph, pairs.filter(isAffected));
  const gaps: TransitionGap[] = [];
  for (let index = 0; index < steps.length; index++) {
    const { op, route } = steps[index] as PlanStep;
    if (!isAffected(route)) continue;
    if (op === 'add') {
      graph.add(route);
      continue;
    }
    if (!graph.remove(route)) continue;
    const streamPairs = tracked.get(streamKey(route));
    if (streamPairs === undefined) continue;
    const paths = graph.paths(route);
    const hops = paths === undefined ? new Map() : hopsToHandlers(paths);
    const candidates =
      route.type === 'deliver'
        ? [streamPairs.get(route.subscriber)].filter((p) => p !== undefined)
        : [...streamPairs.values()];
    for (const pair of candidates) {
      const h = deliveredHops(paths, pair.subscriber, hops);
      if (h !== undefined && h <= MAX_CASCADE_HOPS) continue;
      streamPairs.delete(pair.subscriber);
      gaps.push({
        subscriber: pair.subscriber,
        stream: { publisher: pair.publisher, kind: pair.kind },
        afterStep: index,
        message: `subscriber ${pair.subscriber} loses ${describeStream(pair)} after step ${index} (${route.type} removed)`,
      });
    }
  }
  return gaps;
}

/** The streams that `steps` remove a leg of: the kinds of each publisher. */
function streamsWithRemovals(steps: readonly PlanStep[]): Map<ParticipantId, Set<MediaKind>> {
  const streams = new Map<ParticipantId, Set<MediaKind>>();
  for (const { op, route } of steps) {
    if (op !== 'remove') continue;
    const kinds = streams.get(route.publisher);
    if (kinds === undefined) streams.set(route.publisher, new Set([route.kind]));
    else kinds.add(route.kind);
  }
  return streams;
}

/** Pairs delivered at the start, by stream key, then by subscriber. */
function trackDeliveredPairs(
  graph: RouteGraph,
  pairs: readonly StreamDemand[],
): Map<string, Map<ParticipantId, StreamDemand>> {
  const tracked = new Map<string, Map<ParticipantId, StreamDemand>>();
  const hopsByStream = new Map<string, ReturnType<typeof hopsToHandlers>>();
  for (const pair of pairs) {
    const key = streamKey(pair);
    const paths = graph.paths(pair);
    if (paths === undefined) continue;
    let hops = hopsByStream.get(key);
    if (hops === undefined) {
      hops = hopsToHandlers(paths);
      hopsByStream.set(key, hops);
    }
    const h = deliveredHops(paths, pair.subscriber, hops);
    if (h === undefined || h > MAX_CASCADE_HOPS) continue;
    const byStream = tracked.get(key) ?? new Map<ParticipantId, StreamDemand>();
    byStream.set(pair.subscriber, pair);
    tracked.set(key, byStream);
  }
  return tracked;
}
