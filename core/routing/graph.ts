/**
 * A mutable index of routes grouped by stream, with the reachability questions the plan
 * checker and the transition checker ask: which handlers hold a stream and after how many
 * handler-to-handler hops, whether a subscriber gets it, whether the cascades loop.
 */
import type { HandlerId, ParticipantId } from '../ids.ts';
import type { CascadeRoute, Route, RoutingPlan, StreamRef } from './types.ts';

/**
 * All legs of one stream, and the hop counts they give. Only {@link RouteGraph} changes the
 * legs, through the methods below, so the hop counts are computed once per change of the
 * stream's sources (publishes and cascades) however often they are read: a plan's checks and
 * a meeting's convergence checks read them for every subscriber.
 */
export class StreamPaths {
  /**
   * Handlers the publisher sends the stream to, in the order they were added (an array, not a
   * set: a stream has one or two, and a graph is built for every plan).
   */
  readonly #publishedAt: HandlerId[] = [];
  /**
   * Handler-to-handler legs, by their two handlers; made with the first (most streams of a
   * plan have none, and a graph is built for every plan).
   */
  #cascades: Map<string, CascadeRoute> | undefined;
  /** Handlers each subscriber receives the stream from (usually one), in the order added. */
  readonly #deliveries = new Map<ParticipantId, HandlerId[]>();
  /** The hop counts of the current sources, computed on first read after a change. */
  #hops: ReadonlyMap<HandlerId, number> | undefined;

  constructor(readonly stream: StreamRef) {}

  get publishedAt(): readonly HandlerId[] {
    return this.#publishedAt;
  }

  get cascades(): ReadonlyMap<string, CascadeRoute> {
    return this.#cascades ?? NO_CASCADES;
  }

  get deliveries(): ReadonlyMap<ParticipantId, readonly HandlerId[]> {
    return this.#deliveries;
  }

  /**
   * The fewest handler-to-handler hops after which each handler holds the stream: 0 where the
   * publisher sends it, 1 one cascade further, and so on. Handlers that never get it are absent.
   */
  hops(): ReadonlyMap<HandlerId, number> {
    this.#hops ??= countHops(this.#publishedAt, this.cascades);
    return this.#hops;
  }

  /** Adds a leg of this stream; false when it was there already. */
  add(route: Route): boolean {
    if (route.type === 'publish') {
      if (this.#publishedAt.includes(route.handler)) return false;
      this.#publishedAt.push(route.handler);
      this.#hops = undefined;
    } else if (route.type === 'cascade') {
      const key = cascadeKey(route);
      this.#cascades ??= new Map();
      if (this.#cascades.has(key)) return false;
      this.#cascades.set(key, route);
      this.#hops = undefined;
    } else {
      const from = this.#deliveries.get(route.subscriber);
      if (from === undefined) this.#deliveries.set(route.subscriber, [route.handler]);
      else if (from.includes(route.handler)) return false;
      else from.push(route.handler);
    }
    return true;
  }

  /** Whether this stream has the leg. */
  has(route: Route): boolean {
    if (route.type === 'publish') return this.#publishedAt.includes(route.handler);
    if (route.type === 'cascade') return this.#cascades?.has(cascadeKey(route)) === true;
    return this.#deliveries.get(route.subscriber)?.includes(route.handler) === true;
  }

  /** Removes a leg of this stream; false when it was not there. */
  remove(route: Route): boolean {
    if (route.type === 'publish') {
      if (!removeFrom(this.#publishedAt, route.handler)) return false;
      this.#hops = undefined;
      return true;
    }
    if (route.type === 'cascade') {
      if (this.#cascades?.delete(cascadeKey(route)) !== true) return false;
      this.#hops = undefined;
      return true;
    }
    const from = this.#deliveries.get(route.subscriber);
    if (from === undefined || !removeFrom(from, route.handler)) return false;
    if (from.length === 0) this.#deliveries.delete(route.subscriber);
    return true;
  }
}

const NO_CASCADES: ReadonlyMap<string, CascadeRoute> = new Map();

/**
 * Routes indexed by stream; add and remove keep the index current. Streams are found by
 * publisher, then kind (a publisher has at most three streams), so no string key is built to
 * find one. A route's presence is read from its stream's legs (publish handlers, cascades by
 * handler pair, delivery handlers per subscriber).
 */
export class RouteGraph {
  /** Each publisher's streams, one per kind. */
  private readonly byPublisher = new Map<ParticipantId, StreamPaths[]>();
  /** Every stream, in the order its first leg was added. */
  private readonly streams: StreamPaths[] = [];
  /** The stream last found or added (streams are never dropped, so it stays valid). */
  private lastFound: StreamPaths | undefined;

  constructor(routes: Iterable<Route> = []) {
    for (const route of routes) this.add(route);
  }

  /** Adds a route; returns false when it was already there. */
  add(route: Route): boolean {
    return this.pathsFor(route).add(route);
  }

  /** Whether the route is there. */
  has(route: Route): boolean {
    return this.paths(route)?.has(route) === true;
  }

  /** Removes a route; returns false when it was not there. */
  remove(route: Route): boolean {
    return this.paths(route)?.remove(route) === true;
  }

  /** The legs of one stream, if it has any. */
  paths(stream: StreamRef): StreamPaths | undefined {
    // Plans list each stream's legs together: consecutive routes are mostly of one stream.
    const last = this.lastFound;
    if (last?.stream.publisher === stream.publisher && last.stream.kind === stream.kind) {
      return last;
    }
    for (const paths of this.byPublisher.get(stream.publisher) ?? []) {
      if (paths.stream.kind !== stream.kind) continue;
      this.lastFound = paths;
      return paths;
    }
    return undefined;
  }

  /** Every stream with at least one leg ever added, in the order the first was added. */
  allPaths(): Iterable<StreamPaths> {
    return this.streams;
  }

  /** The legs of one stream, made empty if it has none yet. */
  private pathsFor(stream: StreamRef): StreamPaths {
    return this.paths(stream) ?? this.addStream(stream);
  }

  private addStream(stream: StreamRef): StreamPaths {
    const paths = new StreamPaths({ publisher: stream.publisher, kind: stream.kind });
    const ofPublisher = this.byPublisher.get(stream.publisher);
    if (ofPublisher === undefined) this.byPublisher.set(stream.publisher, [paths]);
    else ofPublisher.push(paths);
    this.streams.push(paths);
    this.lastFound = paths;
    return paths;
  }
}

/** The questions a graph answers without changing it. */
export type ReadonlyRouteGraph = Pick<RouteGraph, 'has' | 'paths' | 'allPaths'>;

/**
 * The graph of every leg of a plan (publishes, then cascades, then deliveries), built afresh:
 * a plan's graph is read by its check and then not again (transitions between plans in
 * canonical order are a merge of their lists), so keeping it with the plan would only keep it
 * alive, and copied by the garbage collector, for as long as the plan is in force.
 */
export function planGraph(plan: RoutingPlan): ReadonlyRouteGraph {
  const graph = new RouteGraph();
  for (const route of plan.publishes) graph.add(route);
  for (const route of plan.cascades) graph.add(route);
  for (const route of plan.deliveries) graph.add(route);
  return graph;
}

/** A cascade's key within its stream: its two handlers. */
function cascadeKey(route: CascadeRoute): string {
  return `${route.from}\u0000${route.to}`;
}

/** Breadth-first hop counts from the publish handlers over the cascades. */
function countHops(
  publishedAt: readonly HandlerId[],
  cascades: ReadonlyMap<string, CascadeRoute>,
): Map<HandlerId, number> {
  const hops = new Map<HandlerId, number>();
  for (const handler of publishedAt) hops.set(handler, 0);
  if (cascades.size === 0) return hops;
  let frontier: HandlerId[] = [...publishedAt];
  for (let depth = 1; frontier.length > 0; depth++) {
    const reached: HandlerId[] = [];
    for (const { from, to } of cascades.values()) {
      if (hops.has(to) || !frontier.includes(from)) continue;
      hops.set(to, depth);
      reached.push(to);
    }
    frontier = reached;
  }
  return hops;
}

/**
 * How many handler-to-handler hops the subscriber's copy of the stream takes (the shortest
 * of its deliveries), or undefined when no delivery is fed.
 */
export function deliveredHops(paths: StreamPaths, subscriber: ParticipantId): number | undefined {
  let best: number | undefined;
  const hops = paths.hops();
  for (const handler of paths.deliveries.get(subscriber) ?? []) {
    const h = hops.get(handler);
    if (h !== undefined && (best === undefined || h < best)) best = h;
  }
  return best;
}

/**
 * {@link deliveredHops} for a subscriber of the stream. A stream without cascades needs no hop
 * counts: its handlers all hold it after zero hops, so a delivery is fed exactly when it leaves
 * a publish handler.
 */
export function subscriberHops(paths: StreamPaths, subscriber: ParticipantId): number | undefined {
  if (paths.cascades.size === 0) {
    for (const handler of paths.deliveries.get(subscriber) ?? []) {
      if (paths.publishedAt.includes(handler)) return 0;
    }
    return undefined;
  }
  return deliveredHops(paths, subscriber);
}

/** A handler on a cascade cycle of the stream, if there is one. */
export function findCascadeLoop(paths: StreamPaths): HandlerId | undefined {
  const next = adjacency(paths);
  const state = new Map<HandlerId, 'open' | 'done'>();
  const visit = (handler: HandlerId): HandlerId | undefined => {
    state.set(handler, 'open');
    for (const to of next.get(handler) ?? []) {
      const seen = state.get(to);
      if (seen === 'open') return to;
      if (seen === undefined) {
        const found = visit(to);
        if (found !== undefined) return found;
      }
    }
    state.set(handler, 'done');
    return undefined;
  };
  for (const handler of next.keys()) {
    if (state.has(handler)) continue;
    const found = visit(handler);
    if (found !== undefined) return found;
  }
  return undefined;
}

function adjacency(paths: StreamPaths): Map<HandlerId, HandlerId[]> {
  const next = new Map<HandlerId, HandlerId[]>();
  for (const { from, to } of paths.cascades.values()) {
    const targets = next.get(from);
    if (targets === undefined) next.set(from, [to]);
    else targets.push(to);
  }
  return next;
}

/** Removes one occurrence of `handler`, keeping the others in order; false when absent. */
function removeFrom(handlers: HandlerId[], handler: HandlerId): boolean {
  const at = handlers.indexOf(handler);
  if (at === -1) return false;
  handlers.splice(at, 1);
  return true;
}
