/**
 * Canonical string keys and orderings for streams and routes, so maps, sets and sorted lists
 * never depend on the order the caller listed things in.
 */
import type { Route, StreamDemand, StreamRef } from './types.ts';

/** Plain code-unit string comparison, independent of locale. */
export function compareText(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

/** Numeric comparison that treats equal infinities as equal. */
export function compareNumbers(a: number, b: number): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** A stream's key, e.g. `alice\u0000camera`. */
export function streamKey(stream: StreamRef): string {
  return `${stream.publisher}\u0000${stream.kind}`;
}

/**
 * Orders streams as their stream keys order (publisher, then kind; ids never hold the keys'
 * separator, U+0000), without building the keys.
 */
export function compareStreams(a: StreamRef, b: StreamRef): number {
  return compareText(a.publisher, b.publisher) || compareText(a.kind, b.kind);
}

/** A demanded (subscriber, stream) pair's key. */
export function demandKey(demand: StreamDemand): string {
  return `${demand.subscriber}\u0000${demand.publisher}\u0000${demand.kind}`;
}

/** A route's key: two routes with the same key are the same leg. */
export function routeKey(route: Route): string {
  switch (route.type) {
    // One template each (the stream key spelled out), so each key is built in one go.
    case 'publish':
      return `publish\u0000${route.publisher}\u0000${route.kind}\u0000${route.handler}`;
    case 'cascade':
      return `cascade\u0000${route.publisher}\u0000${route.kind}\u0000${route.from}\u0000${route.to}`;
    case 'deliver':
      return `deliver\u0000${route.publisher}\u0000${route.kind}\u0000${route.handler}\u0000${route.subscriber}`;
  }
}

/**
 * Orders two routes of the same type as their route keys order (ids never hold the keys'
 * separator, U+0000, so comparing the keys' parts one by one is comparing the keys), without
 * building the keys.
 */
export function compareSameTypeRoutes(a: Route, b: Route): number {
  const byStream = compareStreams(a, b);
  if (byStream !== 0) return byStream;
  if (a.type === 'cascade' && b.type === 'cascade')
    return compareText(a.from, b.from) || compareText(a.to, b.to);
  if (a.type === 'deliver' && b.type === 'deliver')
    return compareText(a.handler, b.handler) || compareText(a.subscriber, b.subscriber);
  if (a.type === 'publish' && b.type === 'publish') return compareText(a.handler, b.handler);
  return compareText(a.type, b.type);
}

/** Human-readable stream name for messages, e.g. `alice/camera`. */
export function describeStream(stream: StreamRef): string {
  return `${stream.publisher}/${stream.kind}`;
}

/** Sorts a copy of `items` by their keys. */
export function sortByKey<T>(items: readonly T[], key: (item: T) => string): T[] {
  return items
    .map((item) => ({ item, k: key(item) }))
    .sort((a, b) => compareText(a.k, b.k))
    .map(({ item }) => item);
}
