/**
 * A mutable index of routes grouped by stream, with the reachability questions the plan
 * checker and the transition checker ask: which handlers hold a stream and after how many
 * handler-to-handler hops, whether a subscriber gets it, whether the cascades loop.
 */
import type { HandlerId, ParticipantId } from '../ids.ts';
import { routeKey, streamKey } from './keys.ts';
import type { CascadeRoute, Route, StreamRef } from './types.ts';

/** All legs of one stream. */
export interface StreamPaths {
  readonly stream: StreamRef;
  /** Handlers the publisher sends the stream to. */
  readonly publishedAt: Set<HandlerId>;
  /** Handler-to-handler legs, by route key. */
  readonly cascades: Map<string, CascadeRoute>;
  /** Handlers each subscriber receives the stream from. */
  readonly deliveries: Map<ParticipantId, Set<HandlerId>>;
}

/**
 * Routes indexed by stream; add and remove keep the index current. A route's presence is read
 * from its stream's legs (publish handlers, cascades by key, delivery handlers per subscriber),
 * so no route key is built for publishes and deliveries.
 */
export class RouteGraph {
  private readonly byStream = new Map<string, StreamPaths>();

  constructor(routes: Iterable<Route> = []) {
    for (const route of routes) this.add(route);
  }

  /** Adds a route; returns false when it was already there. */
  add(route: Route): boolean {
    const paths = this.pathsFor(route);
    if (route.type === 'publish') {
      if (paths.publishedAt.has(route.handler)) return false;
      paths.publishedAt.add(route.handler);
    } else if (route.type === 'cascade') {
      const key = routeKey(route);
      if (paths.cascades.has(key)) return false;
      paths.cascades.set(key, route);
    } else {
      const from = paths.deliveries.get(route.subscriber);
      if (from === undefined) paths.deliveries.set(route.subscriber, new Set([route.handler]));
      else if (from.has(route.handler)) return false;
      else from.add(route.handler);
    }
    return true;
  }

  /** Removes a route; returns false when it was not there. */
  remove(route: Route): boolean {
    const paths = this.byStream.get(streamKey(route));
    if (paths === undefined) return false;
    if (route.type === 'publish') return paths.publishedAt.delete(route.handler);
    if (route.type === 'cascade') return paths.cascades.delete(routeKey(route));
    const from = paths.deliveries.get(route.subscriber);
    if (from === undefined || !from.delete(route.handler)) return false;
    if (from.size === 0) paths.deliveries.delete(route.subscriber);
    return true;
  }

  /** The legs of one stream, if it has any. */
  paths(stream: StreamRef): StreamPaths | undefined {
    return this.byStream.get(streamKey(stream));
  }

  /** Every stream with at least one leg ever added. */
  allPaths(): Iterable<StreamPaths> {
    return this.byStream.values();
  }

  private pathsFor(stream: StreamRef): StreamPaths {
    const key = streamKey(stream);
    let paths = this.byStream.get(key);
    if (paths === undefined) {
      paths = {
        stream: { publisher: stream.publisher, kind: stream.kind },
        publishedAt: new Set(),
        cascades: new Map(),
        deliveries: new Map(),
      };
      this.byStream.set(key, paths);
    }
    return paths;
  }
}

/**
 * The fewest handler-to-handler hops after which each handler holds the stream: 0 where the
 * publisher sends it, 1 one cascade further, and so on. Handlers that never get it are absent.
 */
export function hopsToHandlers(paths: StreamPaths): Map<HandlerId, number> {
  const hops = new Map<HandlerId, number>();
  for (const handler of paths.publishedAt) hops.set(handler, 0);
  if (paths.cascades.size === 0) return hops;
  let frontier = [...paths.publishedAt];
  const next = adjacency(paths);
  for (let depth = 1; frontier.length > 0; depth++) {
    const reached: HandlerId[] = [];
    for (const handler of frontier) {
      for (const to of next.get(handler) ?? []) {
        if (hops.has(to)) continue;
        hops.set(to, depth);
        reached.push(to);
      }
    }
    frontier = reached;
  }
  return hops;
}

/**
 * How many handler-to-handler hops the subscriber's copy of the stream takes (the shortest
 * of its deliveries), or undefined when no delivery is fed.
 */
export function deliveredHops(
  paths: StreamPaths | undefined,
  subscriber: ParticipantId,
  hops: ReadonlyMap<HandlerId, number>,
): number | undefined {
  let best: number | undefined;
  for (const handler of paths?.deliveries.get(subscriber) ?? []) {
    const h = hops.get(handler);
    if (h !== undefined && (best === undefined || h < best)) best = h;
  }
  return best;
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
