/**
 * The layout engine: turns the roster and one subscriber's layout request into slot
 * assignments, keeping the previous assignment's slots where it can.
 */
import type { ParticipantId } from '../ids.ts';
import { ok, type Result } from '../result.ts';
import {
  placeInPlace,
  placeStably,
  readPrevious,
  showsExactly,
  toAssignment,
  type Entry,
} from './placement.ts';
import { checkRequest, type CheckedRequest } from './request.ts';
import { indexRoster, type RosterIndex } from './roster.ts';
import type { LayoutAssignment, LayoutError, LayoutRequest, Roster, SourceRef } from './types.ts';

export interface AssignLayoutInput {
  /**
   * The meeting, raw or indexed. Index it once per roster change (`indexRoster`) when many
   * subscribers share it: each assignment then costs about its slot count.
   */
  readonly roster: Roster | RosterIndex;
  /** Who the layout is for. */
  readonly subscriber: ParticipantId;
  readonly request: LayoutRequest;
  /** This subscriber's previous assignment, to keep visible participants where they are. */
  readonly previous?: LayoutAssignment;
}

/**
 * Assigns one subscriber's layout slots.
 *
 * Who is visible depends only on the roster and the request: eligible participants (present,
 * publishing something, not excluded, not the subscriber unless `includeSelf`) ranked pinned
 * first (in the order given), then screen shares, then active speakers (most recent first), then
 * everyone else in join order, with `preferVideoOverAudio` moving audio-only participants after
 * the video ones; each participant gets one tile (screen, else camera, else audio). A grid shows
 * the first rows x columns of them. Speaker view shows the current active speaker in slot 0 (this
 * slot follows the speaker) and the next ones in the thumbnail strip.
 *
 * Where they appear depends on `previous`: see `placeStably`. Without it, slots fill in priority
 * order. Slots equal to `previous`'s (stream id, source and reason) are `previous`'s own slot
 * objects, and an assignment equal to `previous` is `previous` itself, so a caller can tell an
 * unchanged assignment by identity. Cost: O(slots + pinned + excluded) on an indexed roster, plus
 * `indexRoster` otherwise.
 */
export function assignLayout(input: AssignLayoutInput): Result<LayoutAssignment, LayoutError> {
  if (isIndexed(input.roster)) return assignIndexed(input.roster, input);
  const roster = indexRoster(input.roster);
  return roster.ok ? assignIndexed(roster.value, input) : roster;
}

function assignIndexed(
  roster: RosterIndex,
  input: AssignLayoutInput,
): Result<LayoutAssignment, LayoutError> {
  const checked = checkRequest(input.request, input.subscriber, roster);
  if (!checked.ok) return checked;
  const request = checked.value;
  const { previous } = input;
  const main = request.mainStreamId === null ? null : currentSpeaker(roster, request);
  const count = rankEntries(roster, request, main?.participant ?? null);
  try {
    if (previous === undefined || !placeInPlace(request, ranked, count, previous, placed)) {
      placeStably(request, ranked, count, readPrevious(previous), placed);
    }
    if (previous !== undefined && showsExactly(request, main, placed, previous)) {
      return ok(previous);
    }
    return ok(toAssignment(request, main, placed, previous));
  } finally {
    ranked.fill(null, 0, count);
    placed.fill(null, 0, request.placedStreamIds.length);
  }
}

/**
 * The sources `assignLayout` shows for the same input, in source order (participant id, then
 * kind), without placing them in slots: speaker view's main entry and the ranked entries for the
 * placed slots. Placement decides where each goes, never whether it is shown (there are never
 * more ranked entries than placed slots), so this needs no previous assignment. For a caller that
 * needs who is visible and not where: the controller's routing demand. Cost: O(slots + pinned +
 * excluded) on an indexed roster.
 */
export function shownSources(
  input: Omit<AssignLayoutInput, 'previous'>,
): Result<SourceRef[], LayoutError> {
  if (isIndexed(input.roster)) return shownIndexed(input.roster, input);
  const roster = indexRoster(input.roster);
  return roster.ok ? shownIndexed(roster.value, input) : roster;
}

function shownIndexed(
  roster: RosterIndex,
  input: Omit<AssignLayoutInput, 'previous'>,
): Result<SourceRef[], LayoutError> {
  const checked = checkRequest(input.request, input.subscriber, roster);
  if (!checked.ok) return checked;
  const request = checked.value;
  const main = request.mainStreamId === null ? null : currentSpeaker(roster, request);
  const count = rankEntries(roster, request, main?.participant ?? null);
  const sources: SourceRef[] = [];
  try {
    if (main !== null) sources.push(sourceOf(main));
    for (let index = 0; index < count; index++) {
      const entry = ranked[index] as Entry;
      // Insertion in source order: a layout has a few slots.
      let at = sources.length;
      while (at > 0 && compareSources(sources[at - 1] as SourceRef, entry) > 0) {
        sources[at] = sources[at - 1] as SourceRef;
        at--;
      }
      sources[at] = sourceOf(entry);
    }
  } finally {
    ranked.fill(null, 0, count);
  }
  return ok(sources);
}

/** The source an entry shows, without its reason. */
function sourceOf(entry: Entry): SourceRef {
  return { participant: entry.participant, kind: entry.kind };
}

/** Source order: by participant id, then by kind. */
function compareSources(a: SourceRef, b: SourceRef): number {
  return compareIds(a.participant, b.participant) || compareIds(a.kind, b.kind);
}

function compareIds(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

function isIndexed(roster: Roster | RosterIndex): roster is RosterIndex {
  return 'type' in roster && roster.type === 'roster-index';
}

/**
 * Working lists of the assignment in progress: the entries it ranks, in priority order, and what
 * stable placement puts in each slot. They are reused from one call to the next, which spares two
 * allocations per call: no assignment runs inside another, and each empties them before it
 * returns, so they hold nothing between calls.
 */
const ranked: (Entry | null)[] = [];
const placed: (Entry | null)[] = [];

/**
 * Ranks the eligible entries for the request's placed slots (the grid, or the thumbnail strip)
 * into `ranked`, in priority order and leaving out `skip`; returns how many.
 */
function rankEntries(
  roster: RosterIndex,
  request: CheckedRequest,
  skip: ParticipantId | null,
): number {
  const limit = request.placedStreamIds.length;
  let count = 0;
  for (const participant of request.pinned) {
    if (count >= limit) return count;
    const kind = roster.tiles.get(participant);
    if (kind === undefined || kind === null || participant === skip) continue;
    ranked[count++] = { participant, kind, reason: 'pinned' };
  }
  for (const candidate of nonPinnedOrder(roster, request)) {
    if (count >= limit) return count;
    const { participant } = candidate;
    if (request.hiddenOrPinned.has(participant) || participant === skip) continue;
    ranked[count++] = candidate;
  }
  return count;
}

function nonPinnedOrder(roster: RosterIndex, request: CheckedRequest): readonly Entry[] {
  return request.preferVideoOverAudio ? roster.videoFirstOrder : roster.mixedOrder;
}

/** Speaker view's main entry: the latest speaker who may be shown, else the top of the grid. */
function currentSpeaker(roster: RosterIndex, request: CheckedRequest): Entry | null {
  for (const speaker of roster.speakers) {
    if (!request.hidden.has(speaker.participant)) return speaker;
  }
  return firstRanked(roster, request);
}

/** The first entry in priority order, as a one-slot grid would show it. */
function firstRanked(roster: RosterIndex, request: CheckedRequest): Entry | null {
  for (const participant of request.pinned) {
    const kind = roster.tiles.get(participant);
    if (kind !== undefined && kind !== null) return { participant, kind, reason: 'pinned' };
  }
  for (const candidate of nonPinnedOrder(roster, request)) {
    if (!request.hiddenOrPinned.has(candidate.participant)) return candidate;
  }
  return null;
}
