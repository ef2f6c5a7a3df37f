/**
 * What changed between two demand lists, by stream: the planner and the plan checker each work
 * on the streams a change of speaker or layout touches instead of the whole meeting.
 */
import type { MediaKind, ParticipantId } from '../ids.ts';
import { compareStreams } from './keys.ts';
import type { Route, StreamDemand, StreamRef } from './types.ts';

/** A few streams, by publisher, then kind (a change touches a handful). */
export class TouchedStreams {
  private readonly kinds = new Map<ParticipantId, MediaKind[]>();

  get empty(): boolean {
    return this.kinds.size === 0;
  }

  add(stream: StreamRef): void {
    const kinds = this.kinds.get(stream.publisher);
    if (kinds === undefined) this.kinds.set(stream.publisher, [stream.kind]);
    else if (!kinds.includes(stream.kind)) kinds.push(stream.kind);
  }

  has(stream: StreamRef): boolean {
    return this.kinds.get(stream.publisher)?.includes(stream.kind) === true;
  }

  /** The streams in key order (publisher, then kind). */
  sorted(): StreamRef[] {
    const streams: StreamRef[] = [];
    for (const [publisher, kinds] of this.kinds) {
      for (const kind of kinds) streams.push({ publisher, kind });
    }
    return streams.sort(compareStreams);
  }

  /**
   * The routes of `list` (in canonical order: each stream's routes together, streams in key
   * order) whose stream is one of these, in list order: each stream's are found by a binary
   * search.
   */
  legsIn<T extends Route>(list: readonly T[]): T[] {
    const legs: T[] = [];
    for (const stream of this.sorted()) {
      let low = 0;
      let high = list.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (compareStreams(list[middle] as T, stream) < 0) low = middle + 1;
        else high = middle;
      }
      for (let at = low; at < list.length && compareStreams(list[at] as T, stream) === 0; at++)
        legs.push(list[at] as T);
    }
    return legs;
  }
}

/**
 * Adds to `touched` the stream of every pair in one demand list and not the other (as
 * multisets): false when the lists cannot be compared
 * so, because they do not list the same subscribers in the same runs (one subscriber's
 * consecutive pairs). A demand list holds each subscriber's pairs together (the controller
 * lists its members' demands one after the other), and a change of speaker or layout changes a
 * few members' pairs, keeping the others' pair objects: the lists are walked together while
 * they hold the same objects (no pair is read), and where they differ, the rest of the run
 * there is compared pair by pair by value in both lists (the same subscriber's pairs, so by
 * publisher and kind). After a run compared so, both lists are at the start of a run: the next
 * runs must be the same subscriber's.
 */
export function changedDemandStreams(
  before: readonly StreamDemand[],
  after: readonly StreamDemand[],
  touched: TouchedStreams,
): boolean {
  if (before === after) return true;
  let i = 0;
  let j = 0;
  /** Whether the last step passed over a pair both lists hold (the same object). */
  let matchedLast = false;
  for (;;) {
    if (i < before.length && j < after.length && before[i] === after[j]) {
      i++;
      j++;
      matchedLast = true;
      continue;
    }
    if (i === before.length && j === after.length) return true;
    // After a pair both held, the run it is in may go on in either list or both.
    let subscriber = matchedLast ? (before[i - 1] as StreamDemand).subscriber : undefined;
    let runBefore = subscriber === undefined ? i : runEnd(before, i, subscriber);
    let runAfter = subscriber === undefined ? j : runEnd(after, j, subscriber);
    if (runBefore === i && runAfter === j) {
      // Both lists start a run here: the same subscriber's.
      if (i === before.length || j === after.length) return false;
      subscriber = (before[i] as StreamDemand).subscriber;
      if ((after[j] as StreamDemand).subscriber !== subscriber) return false;
      runBefore = runEnd(before, i, subscriber);
      runAfter = runEnd(after, j, subscriber);
    }
    touchDifference(before.slice(i, runBefore), after.slice(j, runAfter), touched);
    i = runBefore;
    j = runAfter;
    matchedLast = false;
  }
}

/** Where the run of `subscriber`'s pairs that `list[from]` would be in ends. */
function runEnd(list: readonly StreamDemand[], from: number, subscriber: ParticipantId): number {
  let end = from;
  while (end < list.length && (list[end] as StreamDemand).subscriber === subscriber) end++;
  return end;
}

/** Touches the stream of each pair of one run not matched by an equal pair of the other. */
function touchDifference(
  before: readonly StreamDemand[],
  after: readonly StreamDemand[],
  touched: TouchedStreams,
): void {
  const matched = new Uint8Array(before.length);
  for (const pair of after) {
    let found = -1;
    for (let k = 0; k < before.length; k++) {
      if (matched[k] === 1) continue;
      const other = before[k] as StreamDemand;
      if (other.publisher === pair.publisher && other.kind === pair.kind) {
        found = k;
        break;
      }
    }
    if (found === -1) touched.add(pair);
    else matched[found] = 1;
  }
  before.forEach((pair, k) => {
    if (matched[k] === 0) touched.add(pair);
  });
}
