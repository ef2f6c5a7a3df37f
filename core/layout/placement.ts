/**
 * Stable placement: puts the entries that should be visible into slots so that whoever was
 * already visible keeps their stream id, and newcomers take the fewest slots possible.
 */
import type { ParticipantId } from '../ids.ts';
import { positionOf, type CheckedRequest } from './request.ts';
import type { LayoutAssignment, Slot, SlotReason, SourceRef, StreamId } from './types.ts';

/** Something to show, and why. */
export interface Entry extends SourceRef {
  readonly reason: SlotReason;
}

/** Where the previous assignment showed whom. */
export interface PreviousPlacement {
  readonly streamIdOf: ReadonlyMap<ParticipantId, StreamId>;
  readonly occupied: ReadonlySet<StreamId>;
}

/** Reads a previous assignment; the first slot wins if it shows someone twice. */
export function readPrevious(previous: LayoutAssignment | undefined): PreviousPlacement {
  const streamIdOf = new Map<ParticipantId, StreamId>();
  const occupied = new Set<StreamId>();
  for (const slot of previous?.slots ?? []) {
    if (slot.shows === null) continue;
    occupied.add(slot.streamId);
    if (!streamIdOf.has(slot.shows.participant)) {
      streamIdOf.set(slot.shows.participant, slot.streamId);
    }
  }
  return { streamIdOf, occupied };
}

/**
 * Places `entries` (at most one per slot, in priority order) into the request's placed slots
 * (the grid, or the thumbnail strip). An entry whose participant previously had one of these
 * stream ids keeps it, even if the kind shown changes (a camera tile becoming a screen share).
 * The others, in priority order, take first the slots vacated since the previous assignment, then
 * the slots that were empty, each group in slot order. So, for unchanged stream ids, the number
 * of slots whose content changes is the larger of the number of entries (participant, kind) that
 * entered and the number that left: the number that entered whenever the visible set does not
 * shrink.
 */
export function placeStably(
  request: CheckedRequest,
  entries: readonly Entry[],
  previous: PreviousPlacement,
): Slot[] {
  const streamIds = request.placedStreamIds;
  const placed: (Entry | null)[] = streamIds.map(() => null);
  const newcomers: Entry[] = [];
  for (const entry of entries) {
    const previousStreamId = previous.streamIdOf.get(entry.participant);
    const slot = previousStreamId === undefined ? -1 : positionOf(request, previousStreamId);
    if (slot >= 0 && placed[slot] === null) placed[slot] = entry;
    else newcomers.push(entry);
  }
  const free = freeSlots(streamIds, placed, previous.occupied);
  for (const [position, entry] of newcomers.entries()) {
    const slot = free[position];
    if (slot !== undefined) placed[slot] = entry;
  }
  return streamIds.map((streamId, index) => toSlot(streamId, placed[index] ?? null));
}

function freeSlots(
  streamIds: readonly StreamId[],
  placed: readonly (Entry | null)[],
  previouslyOccupied: ReadonlySet<StreamId>,
): number[] {
  const vacated: number[] = [];
  const empty: number[] = [];
  for (const [index, streamId] of streamIds.entries()) {
    if (placed[index] !== null) continue;
    if (previouslyOccupied.has(streamId)) vacated.push(index);
    else empty.push(index);
  }
  return [...vacated, ...empty];
}

/** A slot showing `entry`, or an empty slot. */
export function toSlot(streamId: StreamId, entry: Entry | null): Slot {
  if (entry === null) return { streamId, shows: null };
  return {
    streamId,
    shows: { participant: entry.participant, kind: entry.kind },
    reason: entry.reason,
  };
}
