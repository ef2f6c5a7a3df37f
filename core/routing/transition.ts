/**
 * Make-before-break rerouting (spec 003, "Dynamic Rerouting"): the steps from one plan to the
 * next, ordered so that no subscriber loses a stream it shows in both plans, plus the tools to
 * replay steps and to find the pairs a step list would drop.
 */
import type { MediaKind, ParticipantId } from '../ids.ts';
import {
  RouteGraph,
  deliveredHops,
  planGraph,
  subscriberHops,
  type ReadonlyRouteGraph,
  type StreamPaths,
} from './graph.ts';
import {
  compareSameTypeRoutes,
  compareStreams,
  compareText,
  describeStream,
  routeKey,
  sortByKey,
} from './keys.ts';
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

/**
 * The steps that turn `from` (null: nothing routed yet) into `to`, make-before-break: every
 * new leg is added before any old leg is removed, additions upstream first (publishes, then
 * cascades, then deliveries) and removals downstream first, each type in route-key order. While
 * the steps run a subscriber may briefly receive a stream twice, never zero times.
 */
export function planTransition(from: RoutingPlan | null, to: RoutingPlan): PlanStep[] {
  const steps: PlanStep[] = [];
  const { added, removed } =
    from !== null && inPlanOrder(from) && inPlanOrder(to)
      ? mergeDiff(from, to)
      : {
          added: routesMissingFrom(to, from === null ? undefined : planGraph(from)),
          removed: from === null ? undefined : routesMissingFrom(from, planGraph(to)),
        };
  appendSorted(steps, 'add', added.publishes);
  appendSorted(steps, 'add', added.cascades);
  appendSorted(steps, 'add', added.deliveries);
  if (removed === undefined) return steps;
  appendSorted(steps, 'remove', removed.deliveries);
  appendSorted(steps, 'remove', removed.cascades);
  appendSorted(steps, 'remove', removed.publishes);
  return steps;
}

interface RoutesByType {
  readonly publishes: Route[];
  readonly cascades: Route[];
  readonly deliveries: Route[];
}

/**
 * Orders two routes of one type as a canonical plan lists them ({@link RoutingPlan}): by
 * stream, then handler (publishes), source then target (cascades), or subscriber then handler
 * (deliveries).
 */
function compareInPlanOrder(a: Route, b: Route): number {
  if (a.type === 'deliver' && b.type === 'deliver') {
    return (
      compareStreams(a, b) ||
      compareText(a.subscriber, b.subscriber) ||
      compareText(a.handler, b.handler)
    );
  }
  return compareSameTypeRoutes(a, b);
}

/** Whether each plan's lists are strictly in plan order, worked out once per plan. */
const planOrdered = new WeakMap<RoutingPlan, boolean>();

function inPlanOrder(plan: RoutingPlan): boolean {
  let ordered = planOrdered.get(plan);
  if (ordered === undefined) {
    ordered =
      strictlyOrdered(plan.publishes) &&
      strictlyOrdered(plan.cascades) &&
      strictlyOrdered(plan.deliveries);
    planOrdered.set(plan, ordered);
  }
  return ordered;
}

function strictlyOrdered(routes: readonly Route[]): boolean {
  for (let i = 1; i < routes.length; i++) {
    if (compareInPlanOrder(routes[i - 1] as Route, routes[i] as Route) >= 0) return false;
  }
  return true;
}

/**
 * The legs only `to` has and those only `from` has, by one merge of each pair of lists (both
 * strictly in plan order). A leg the two plans share as one object is passed over without a
 * comparison: the planner reuses the route objects of every stream a reroute leaves alone.
 */
function mergeDiff(
  from: RoutingPlan,
  to: RoutingPlan,
): { added: RoutesByType; removed: RoutesByType } {
  const added: RoutesByType = { publishes: [], cascades: [], deliveries: [] };
  const removed: RoutesByType = { publishes: [], cascades: [], deliveries: [] };
  mergeLists(from.publishes, to.publishes, added.publishes, removed.publishes);
  mergeLists(from.cascades, to.cascades, added.cascades, removed.cascades);
  mergeLists(from.deliveries, to.deliveries, added.deliveries, removed.deliveries);
  return { added, removed };
}

function mergeLists(
  from: readonly Route[],
  to: readonly Route[],
  added: Route[],
  removed: Route[],
): void {
  let i = 0;
  let j = 0;
  while (i < from.length && j < to.length) {
    const before = from[i] as Route;
    const after = to[j] as Route;
    const order = before === after ? 0 : compareInPlanOrder(before, after);
    if (order <= 0) i++;
    if (order >= 0) j++;
    if (order < 0) removed.push(before);
    else if (order > 0) added.push(after);
  }
  for (; i < from.length; i++) removed.push(from[i] as Route);
  for (; j < to.length; j++) added.push(to[j] as Route);
}

/**
 * The legs only `to` has and those only `from` has, when both plans are in canonical order
 * (as the planner makes them): one merge of each pair of lists, passing over shared route
 * objects without a comparison. Undefined for a plan out of that order.
 */
export function diffCanonicalPlans(
  from: RoutingPlan,
  to: RoutingPlan,
): { readonly added: readonly Route[]; readonly removed: readonly Route[] } | undefined {
  if (!inPlanOrder(from) || !inPlanOrder(to)) return undefined;
  const { added, removed } = mergeDiff(from, to);
  return {
    added: [...added.publishes, ...added.cascades, ...added.deliveries],
    removed: [...removed.publishes, ...removed.cascades, ...removed.deliveries],
  };
}

/**
 * Whether a plan in canonical order has the leg (by value), by a binary search of the list of
 * its type. Undefined for a plan out of that order.
 */
export function canonicalPlanHas(plan: RoutingPlan, route: Route): boolean | undefined {
  if (!inPlanOrder(plan)) return undefined;
  const list: readonly Route[] =
    route.type === 'publish'
      ? plan.publishes
      : route.type === 'cascade'
        ? plan.cascades
        : plan.deliveries;
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const order = compareInPlanOrder(list[middle] as Route, route);
    if (order === 0) return true;
    if (order < 0) low = middle + 1;
    else high = middle;
  }
  return false;
}

/** The legs of `plan` that `other` lacks (all of them without `other`), by route type. */
function routesMissingFrom(plan: RoutingPlan, other: ReadonlyRouteGraph | undefined): RoutesByType {
  const missing: RoutesByType = { publishes: [], cascades: [], deliveries: [] };
  const collect = (routes: readonly Route[]): void => {
    for (const route of routes) {
      if (other?.has(route) === true) continue;
      if (route.type === 'publish') missing.publishes.push(route);
      else if (route.type === 'cascade') missing.cascades.push(route);
      else missing.deliveries.push(route);
    }
  };
  collect(plan.publishes);
  collect(plan.cascades);
  collect(plan.deliveries);
  return missing;
}

/**
 * Appends `op` steps for routes of one type in route-key order, each key once (a repeated
 * route keeps its last copy, as a map keyed by route key would).
 */
function appendSorted(steps: PlanStep[], op: PlanStep['op'], routes: Route[]): void {
  routes.sort(compareSameTypeRoutes);
  for (let index = 0; index < routes.length; index++) {
    const route = routes[index] as Route;
    const next = routes[index + 1];
    if (next !== undefined && compareSameTypeRoutes(route, next) === 0) continue;
    steps.push({ op, route });
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

/**
 * The pairs demanded both before and after a change: those a reroute must not drop. Pairs are
 * matched by publisher, kind and subscriber, without building keys.
 */
export function keptDemand(
  before: readonly StreamDemand[],
  after: readonly StreamDemand[],
): StreamDemand[] {
  const earlier = new Map<ParticipantId, Map<MediaKind, Set<ParticipantId>>>();
  for (const d of before) {
    let kinds = earlier.get(d.publisher);
    if (kinds === undefined) {
      kinds = new Map();
      earlier.set(d.publisher, kinds);
    }
    const subscribers = kinds.get(d.kind);
    if (subscribers === undefined) kinds.set(d.kind, new Set([d.subscriber]));
    else subscribers.add(d.subscriber);
  }
  return after.filter((d) => earlier.get(d.publisher)?.get(d.kind)?.has(d.subscriber) === true);
}

/**
 * Replays `steps` from `routes` and reports every pair of `pairs` that is delivered (within
 * the hop limit) at the start but undelivered after some step, once, at the first such step.
 * Only removals can drop a pair, and only the pairs they reach (see {@link RemovalReach}) are
 * examined; the work is proportional to the steps plus the pairs reached and the legs of their
 * streams. `reach` is the steps' {@link RemovalReach}, for a caller that worked it out already.
 */
export function findTransitionGaps(
  routes: readonly Route[],
  steps: readonly PlanStep[],
  pairs: readonly StreamDemand[],
  reach: RemovalReach = RemovalReach.of(steps),
): TransitionGap[] {
  if (reach.empty) return [];
  const reached = pairs.filter((pair) => reach.reaches(pair));
  if (reached.length === 0) return [];
  const touched = (stream: StreamRef): boolean => reach.touches(stream);
  const graph = new RouteGraph(routes.filter(touched));
  const tracked = trackDeliveredPairs(graph, reached);
  const gaps: TransitionGap[] = [];
  for (let index = 0; index < steps.length; index++) {
    const { op, route } = steps[index] as PlanStep;
    if (!touched(route)) continue;
    if (op === 'add') {
      graph.add(route);
      continue;
    }
    if (!graph.remove(route)) continue;
    // The stream keeps its (possibly emptied) legs in the graph, so it is still found.
    const paths = graph.paths(route);
    const streamPairs = paths === undefined ? undefined : tracked.get(paths);
    if (paths === undefined || streamPairs === undefined) continue;
    const candidates: StreamDemand[] = [];
    if (route.type !== 'deliver') candidates.push(...streamPairs.values());
    else {
      const pair = streamPairs.get(route.subscriber);
      if (pair !== undefined) candidates.push(pair);
    }
    if (candidates.length === 0) continue;
    for (const pair of candidates) {
      const h = deliveredHops(paths, pair.subscriber);
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

/**
 * The pairs a step list's removals can leave undelivered. A step changes the legs of its own
 * stream alone, and an addition only inserts a leg (a publish handler, a cascade edge or a
 * delivery handler), so after it every handler keeps a path from a publish handler at most as
 * long as before (shortest paths over a superset of edges) and every subscriber keeps each
 * delivery it had: no pair's delivered hop count can rise or become undefined. A removed publish
 * or cascade leg may lie on the path of any subscriber of its stream; a removed delivery leg lies
 * on its own subscriber's path only (a subscriber's hop count reads the stream's sources and that
 * subscriber's deliveries). So the pairs reached are every pair of a stream that loses a publish
 * or cascade leg, and the pair of each subscriber that loses a delivery of a stream.
 */
export class RemovalReach {
  /** By publisher and kind: the whole stream, or the subscribers that lose a delivery of it. */
  private readonly streams = new Map<
    ParticipantId,
    Map<MediaKind, WholeStream | Set<ParticipantId>>
  >();

  private constructor() {}

  static of(steps: readonly PlanStep[]): RemovalReach {
    const reach = new RemovalReach();
    for (const { op, route } of steps) if (op === 'remove') reach.add(route);
    return reach;
  }

  /** Whether no step removes anything. */
  get empty(): boolean {
    return this.streams.size === 0;
  }

  /** Whether some step removes a leg of the stream. */
  touches(stream: StreamRef): boolean {
    return this.streams.get(stream.publisher)?.has(stream.kind) === true;
  }

  /** Whether some removal can leave the pair undelivered. */
  reaches(pair: StreamDemand): boolean {
    const reached = this.streams.get(pair.publisher)?.get(pair.kind);
    return reached === WHOLE_STREAM || reached?.has(pair.subscriber) === true;
  }

  private add(route: Route): void {
    let kinds = this.streams.get(route.publisher);
    if (kinds === undefined) {
      kinds = new Map();
      this.streams.set(route.publisher, kinds);
    }
    const reached = kinds.get(route.kind);
    if (route.type !== 'deliver') kinds.set(route.kind, WHOLE_STREAM);
    else if (reached === undefined) kinds.set(route.kind, new Set([route.subscriber]));
    else if (reached !== WHOLE_STREAM) reached.add(route.subscriber);
  }
}

const WHOLE_STREAM = 'whole-stream';
type WholeStream = typeof WHOLE_STREAM;

/** Pairs delivered at the start, by their stream's legs in `graph`, then by subscriber. */
function trackDeliveredPairs(
  graph: RouteGraph,
  pairs: readonly StreamDemand[],
): Map<StreamPaths, Map<ParticipantId, StreamDemand>> {
  const tracked = new Map<StreamPaths, Map<ParticipantId, StreamDemand>>();
  for (const pair of pairs) {
    const paths = graph.paths(pair);
    if (paths === undefined) continue;
    const h = subscriberHops(paths, pair.subscriber);
    if (h === undefined || h > MAX_CASCADE_HOPS) continue;
    const byStream = tracked.get(paths) ?? new Map<ParticipantId, StreamDemand>();
    byStream.set(pair.subscriber, pair);
    tracked.set(paths, byStream);
  }
  return tracked;
}
