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
  /** The stream id of the first previous slot that showed `participant`, if one did. */
  streamIdOf(participant: ParticipantId): StreamId | undefined;
  /** Whether a previous slot with this stream id showed someone. */
  wasOccupied(streamId: StreamId): boolean;
}

/**
 * Previous assignments up to this many slots are read by scanning their slots, which for a few
 * dozen slots costs less than building a map (and reads less memory); larger ones are indexed
 * once (`indexPrevious`), so that every answer costs O(1) whatever the size.
 */
const SCAN_LIMIT = 16;

/** Reads a previous assignment; the first slot wins if it shows someone twice. */
export function readPrevious(previous: LayoutAssignment | undefined): PreviousPlacement {
  if (previous === undefined || previous.slots.length === 0) return NOTHING_PREVIOUS;
  if (previous.slots.length <= SCAN_LIMIT) return new ScannedPrevious(previous.slots);
  return indexPrevious(previous.slots);
}

/** No previous assignment: nobody was shown anywhere. */
class NothingPrevious implements PreviousPlacement {
  streamIdOf(): StreamId | undefined {
    return undefined;
  }

  wasOccupied(): boolean {
    return false;
  }
}

const NOTHING_PREVIOUS = new NothingPrevious();

/** A previous assignment answered by scanning its slots, in slot order. */
export class ScannedPrevious implements PreviousPlacement {
  constructor(private readonly slots: readonly Slot[]) {}

  streamIdOf(participant: ParticipantId): StreamId | undefined {
    for (const slot of this.slots) {
      if (slot.shows !== null && slot.shows.participant === participant) return slot.streamId;
    }
    return undefined;
  }

  wasOccupied(streamId: StreamId): boolean {
    for (const slot of this.slots)
      if (slot.streamId === streamId && slot.shows !== null) return true;
    return false;
  }
}

/** A previous assignment indexed by participant and stream id: O(1) answers, for any size. */
export function indexPrevious(slots: readonly Slot[]): PreviousPlacement {
  return new IndexedPrevious(slots);
}

class IndexedPrevious implements PreviousPlacement {
  readonly #streamIdOf = new Map<ParticipantId, StreamId>();
  readonly #occupied = new Set<StreamId>();

  constructor(slots: readonly Slot[]) {
    for (const slot of slots) {
      if (slot.shows === null) continue;
      this.#occupied.add(slot.streamId);
      if (!this.#streamIdOf.has(slot.shows.participant)) {
        this.#streamIdOf.set(slot.shows.participant, slot.streamId);
      }
    }
  }

  streamIdOf(participant: ParticipantId): StreamId | undefined {
    return this.#streamIdOf.get(participant);
  }

  wasOccupied(streamId: StreamId): boolean {
    return this.#occupied.has(streamId);
  }
}

/**
 * Places `entries[0..count)` (at most one per slot, in priority order, each participant once)
 * into `placed[0..n)`, for the request's n placed slots (the grid, or the thumbnail strip): what
 * each slot shows, in slot order. An entry whose participant previously had one of these stream
 * ids keeps it, even if the kind shown changes (a camera tile becoming a screen share). The
 * others, in priority order, take first the slots vacated since the previous assignment, then the
 * slots that were empty, each group in slot order. So, for unchanged stream ids, the number of
 * slots whose content changes is the larger of the number of entries (participant, kind) that
 * entered and the number that left: the number that entered whenever the visible set does not
 * shrink. Entries that keep their slot are taken out of `entries` (set to null) on the way.
 */
export function placeStably(
  request: CheckedRequest,
  entries: (Entry | null)[],
  count: number,
  previous: PreviousPlacement,
  placed: (Entry | null)[],
): void {
  const streamIds = request.placedStreamIds;
  for (let slot = 0; slot < streamIds.length; slot++) placed[slot] = null;
  let newcomers = 0;
  for (let index = 0; index < count; index++) {
    const entry = entries[index] as Entry;
    const previousStreamId = previous.streamIdOf(entry.participant);
    const slot = previousStreamId === undefined ? -1 : positionOf(request, previousStreamId);
    if (slot >= 0 && placed[slot] === null) {
      placed[slot] = entry;
      entries[index] = null;
    } else {
      newcomers++;
    }
  }
  if (newcomers > 0) placeNewcomers(streamIds, placed, entries, count, previous);
}

/**
 * Gives each newcomer (the entries left in `entries[0..count)`), in order, the next free slot:
 * first the free slots whose stream id showed someone before (vacated), then those that were
 * empty, each group in slot order. The free slots are those no kept entry took; a newcomer only
 * ever takes a slot a cursor has passed.
 */
function placeNewcomers(
  streamIds: readonly StreamId[],
  placed: (Entry | null)[],
  entries: readonly (Entry | null)[],
  count: number,
  previous: PreviousPlacement,
): void {
  let vacated = 0;
  let empty = 0;
  for (let index = 0; index < count; index++) {
    const entry = entries[index];
    if (entry === null || entry === undefined) continue;
    vacated = nextFree(streamIds, placed, previous, vacated, true);
    if (vacated < streamIds.length) {
      placed[vacated++] = entry;
      continue;
    }
    empty = nextFree(streamIds, placed, previous, empty, false);
    if (empty >= streamIds.length) return;
    placed[empty++] = entry;
  }
}

/** The first slot from `from` on that is unfilled and was (or was not) occupied before. */
function nextFree(
  streamIds: readonly StreamId[],
  placed: readonly (Entry | null)[],
  previous: PreviousPlacement,
  from: number,
  occupiedBefore: boolean,
): number {
  let index = from;
  while (
    index < streamIds.length &&
    (placed[index] !== null ||
      previous.wasOccupied(streamIds[index] as StreamId) !== occupiedBefore)
  ) {
    index++;
  }
  return index;
}

/**
 * Stable placement in the common case where it moves nobody: when `previous` has the request's
 * placed slots at their positions (after the main slot in speaker view) and the first slot that
 * showed each entry's participant is one of them, every entry keeps that slot (its stream id sits
 * at the same position in the request) and none is a newcomer. Then this fills `placed` as
 * `placeStably` would, without building a reader of `previous`, and returns true; else it
 * returns false (and `placed` is to be filled by `placeStably`). It scans `previous` once per
 * entry, so it only takes previous assignments small enough to scan.
 */
export function placeInPlace(
  request: CheckedRequest,
  entries: readonly (Entry | null)[],
  count: number,
  previous: LayoutAssignment,
  placed: (Entry | null)[],
): boolean {
  const streamIds = request.placedStreamIds;
  const offset = request.mainStreamId === null ? 0 : 1;
  const { slots } = previous;
  if (slots.length > SCAN_LIMIT || slots.length !== offset + streamIds.length) return false;
  for (let index = 0; index < streamIds.length; index++) {
    if ((slots[offset + index] as Slot).streamId !== streamIds[index]) return false;
  }
  for (let slot = 0; slot < streamIds.length; slot++) placed[slot] = null;
  for (let index = 0; index < count; index++) {
    const entry = entries[index] as Entry;
    const at = firstSlotShowing(slots, entry.participant);
    if (at < offset) return false;
    placed[at - offset] = entry;
  }
  return true;
}

/**
 * Whether `previous` is exactly the assignment showing `placed` in the request's placed slots,
 * after speaker view's `main`: same type, stream ids, sources and reasons.
 */
export function showsExactly(
  request: CheckedRequest,
  main: Entry | null,
  placed: readonly (Entry | null)[],
  previous: LayoutAssignment,
): boolean {
  const streamIds = request.placedStreamIds;
  const offset = request.mainStreamId === null ? 0 : 1;
  const { slots } = previous;
  if (previous.type !== request.type || slots.length !== offset + streamIds.length) return false;
  if (request.mainStreamId !== null && !slotShows(slots[0], request.mainStreamId, main)) {
    return false;
  }
  for (let index = 0; index < streamIds.length; index++) {
    const streamId = streamIds[index] as StreamId;
    if (!slotShows(slots[offset + index], streamId, placed[index] ?? null)) return false;
  }
  return true;
}

/** The index of the first slot showing `participant`, or -1. */
function firstSlotShowing(slots: readonly Slot[], participant: ParticipantId): number {
  for (let index = 0; index < slots.length; index++) {
    const { shows } = slots[index] as Slot;
    if (shows !== null && shows.participant === participant) return index;
  }
  return -1;
}

/**
 * The assignment showing `placed` in the request's placed slots, after speaker view's `main`.
 * Slots that `previous` (of the same type) already has, with the same stream id, source and
 * reason, are `previous`'s own slot objects.
 */
export function toAssignment(
  request: CheckedRequest,
  main: Entry | null,
  placed: readonly (Entry | null)[],
  previous: LayoutAssignment | undefined,
): LayoutAssignment {
  const before = previous?.type === request.type ? previous.slots : [];
  const streamIds = request.placedStreamIds;
  const offset = request.mainStreamId === null ? 0 : 1;
  const slots = new Array<Slot>(offset + streamIds.length);
  if (request.mainStreamId !== null) slots[0] = reuseOrSlot(before[0], request.mainStreamId, main);
  for (let index = 0; index < streamIds.length; index++) {
    const at = offset + index;
    slots[at] = reuseOrSlot(before[at], streamIds[index] as StreamId, placed[index] ?? null);
  }
  return { type: request.type, slots };
}

/**
 * `previous` when it is already the slot showing `entry`, else a new slot (sharing `previous`'s
 * source object when only the reason changed).
 */
function reuseOrSlot(previous: Slot | undefined, streamId: StreamId, entry: Entry | null): Slot {
  if (previous === undefined || previous.streamId !== streamId) return toSlot(streamId, entry);
  if (previous.shows === null || entry === null) {
    return previous.shows === entry ? previous : toSlot(streamId, entry);
  }
  if (!sameSource(previous.shows, entry)) return toSlot(streamId, entry);
  if (previous.reason === entry.reason) return previous;
  return { streamId, shows: previous.shows, reason: entry.reason };
}

/** Whether `slot` has this stream id and shows `entry`: the same source, for the same reason. */
function slotShows(slot: Slot | undefined, streamId: StreamId, entry: Entry | null): boolean {
  if (slot === undefined || slot.streamId !== streamId) return false;
  if (slot.shows === null || entry === null) return slot.shows === entry;
  return showsEntry(slot, entry);
}

/** Whether `slot` shows `entry`'s source for `entry`'s reason. */
function showsEntry(slot: Slot, entry: Entry): boolean {
  return slot.shows !== null && sameSource(slot.shows, entry) && slot.reason === entry.reason;
}

function sameSource(a: SourceRef, b: SourceRef): boolean {
  return a.participant === b.participant && a.kind === b.kind;
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
