/**
 * The layout engine: turns the roster and one subscriber's layout request into slot
 * assignments, keeping the previous assignment's slots where it can.
 */
import type { ParticipantId } from '../ids.ts';
import { ok, type Result } from '../result.ts';
import { placeStably, readPrevious, toSlot, type Entry } from './placement.ts';
import { checkRequest, type CheckedRequest } from './request.ts';
import { indexRoster, type RosterIndex } from './roster.ts';
import type { LayoutAssignment, LayoutError, LayoutRequest, Roster } from './types.ts';

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
 * order. Cost: O(slots + pinned + excluded) on an indexed roster, plus `indexRoster` otherwise.
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
  const previous = readPrevious(input.previous);
  const limit = request.placedStreamIds.length;
  if (request.mainStreamId === null) {
    const visible = rankEntries(roster, request, limit, null);
    return ok({ type: 'grid', slots: placeStably(request, visible, previous) });
  }
  const main = currentSpeaker(roster, request);
  const thumbnails = rankEntries(roster, request, limit, main?.participant ?? null);
  return ok({
    type: 'speaker',
    slots: [toSlot(request.mainStreamId, main), ...placeStably(request, thumbnails, previous)],
  });
}

function isIndexed(roster: Roster | RosterIndex): roster is RosterIndex {
  return 'type' in roster && roster.type === 'roster-index';
}

/** The first `limit` eligible entries in priority order, leaving out `skip`. */
function rankEntries(
  roster: RosterIndex,
  request: CheckedRequest,
  limit: number,
  skip: ParticipantId | null,
): Entry[] {
  const ranked: Entry[] = [];
  for (const participant of request.pinned) {
    if (ranked.length >= limit) return ranked;
    const kind = roster.tiles.get(participant);
    if (kind === undefined || kind === null || participant === skip) continue;
    ranked.push({ participant, kind, reason: 'pinned' });
  }
  const order = request.preferVideoOverAudio ? roster.videoFirstOrder : roster.mixedOrder;
  for (const candidate of order) {
    if (ranked.length >= limit) return ranked;
    const { participant } = candidate;
    if (request.hiddenOrPinned.has(participant) || participant === skip) continue;
    ranked.push(candidate);
  }
  return ranked;
}

/** Speaker view's main entry: the latest speaker who may be shown, else the top of the grid. */
function currentSpeaker(roster: RosterIndex, request: CheckedRequest): Entry | null {
  for (const speaker of roster.speakers) {
    if (!request.hidden.has(speaker.participant)) return speaker;
  }
  return rankEntries(roster, request, 1, null)[0] ?? null;
}
