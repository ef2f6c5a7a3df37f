/**
 * Validation of a subscriber's layout request against the roster, producing the request in the
 * form the engine works with (defaults applied, lists turned into sets and maps).
 */
import type { ParticipantId } from '../ids.ts';
import { err, ok, type Result } from '../result.ts';
import type { RosterIndex } from './roster.ts';
import {
  MAX_GRID_DIMENSION,
  MAX_SPEAKER_THUMBNAILS,
  type LayoutRequest,
  type RequestError,
  type StreamId,
} from './types.ts';

/** A request that passed validation, in the form the engine reads. */
export interface CheckedRequest {
  readonly type: LayoutRequest['type'];
  /** Speaker view's main slot; null for a grid. */
  readonly mainStreamId: StreamId | null;
  /** The slots stable placement fills: the grid's, or speaker view's thumbnail strip. */
  readonly placedStreamIds: readonly StreamId[];
  /** Each of `placedStreamIds` to its index, when there are too many to scan (`positionOf`). */
  readonly positions: ReadonlyMap<StreamId, number> | null;
  readonly pinned: readonly ParticipantId[];
  /** Who may not be shown: the excluded users, plus the subscriber unless self is included. */
  readonly hidden: Membership;
  /** The hidden and the pinned users: those the non-pinned priority order leaves out. */
  readonly hiddenOrPinned: Membership;
  readonly preferVideoOverAudio: boolean;
}

/**
 * Collections of up to this many stream ids or participants are scanned rather than hashed: a
 * scan of a handful of entries costs less than a hash lookup, and reads less memory.
 */
const SCAN_LIMIT = 16;

/** The index of `streamId` among the request's placed stream ids, or -1 if it is not one. */
export function positionOf(request: CheckedRequest, streamId: StreamId): number {
  if (request.positions === null) return request.placedStreamIds.indexOf(streamId);
  return request.positions.get(streamId) ?? -1;
}

/** Whether a participant belongs to a set of them. */
export interface Membership {
  has(participant: ParticipantId): boolean;
}

/** A few participants, found by scanning. */
class ParticipantList implements Membership {
  constructor(private readonly participants: readonly ParticipantId[]) {}

  has(participant: ParticipantId): boolean {
    return this.participants.includes(participant);
  }
}

function membershipOf(participants: Iterable<ParticipantId>): Membership {
  const distinct = new Set(participants);
  return distinct.size <= SCAN_LIMIT ? new ParticipantList([...distinct]) : distinct;
}

/**
 * Checks a request for `subscriber` against the roster: slot dimensions, one valid and distinct
 * stream id per slot, and a pinned list without repeats, unknown users or contradictions with
 * the exclusions.
 */
export function checkRequest(
  request: LayoutRequest,
  subscriber: ParticipantId,
  roster: RosterIndex,
): Result<CheckedRequest, RequestError> {
  const shape = shapeOf(request);
  if (!shape.ok) return shape;
  const { checked, excluded, includeSelf } = shape.value;
  const { pinned } = checked;
  if (pinned.length > 0) {
    const pinnedError = findPinnedError(pinned, excluded.users, subscriber, includeSelf, roster);
    if (pinnedError !== null) return err(pinnedError);
  }
  const hidden = includeSelf ? excluded.membership : withSubscriber(excluded, subscriber);
  return ok({
    type: checked.type,
    mainStreamId: checked.mainStreamId,
    placedStreamIds: checked.placedStreamIds,
    positions: checked.positions,
    pinned,
    hidden,
    hiddenOrPinned:
      pinned.length === 0
        ? hidden
        : membershipOf([...excluded.users, ...(includeSelf ? [] : [subscriber]), ...pinned]),
    preferVideoOverAudio: checked.preferVideoOverAudio,
  });
}

/**
 * What a request's check does not owe to the subscriber or the roster: its slots, its stream
 * ids and its lists, or the first problem with the slots or stream ids.
 */
interface RequestShape {
  readonly checked: Omit<CheckedRequest, 'hidden' | 'hiddenOrPinned'>;
  readonly excluded: {
    readonly users: ReadonlySet<ParticipantId>;
    readonly membership: Membership;
  };
  readonly includeSelf: boolean;
}

/**
 * Each request's shape, worked out on first use. Requests are immutable values, and a meeting's
 * members often share one, so the shape is worked out once for all of them. Weak keys: the
 * cache never keeps a request alive.
 */
const shapes = new WeakMap<LayoutRequest, Result<RequestShape, RequestError>>();

function shapeOf(request: LayoutRequest): Result<RequestShape, RequestError> {
  let shape = shapes.get(request);
  if (shape === undefined) {
    shape = checkShape(request);
    shapes.set(request, shape);
  }
  return shape;
}

function checkShape(request: LayoutRequest): Result<RequestShape, RequestError> {
  const slotCount = countSlots(request);
  if (!slotCount.ok) return slotCount;
  const streamIdIndex = indexStreamIds(request.streamIds, slotCount.value);
  if (!streamIdIndex.ok) return streamIdIndex;
  const excluded = new Set(request.excludedUsers ?? []);
  const isGrid = request.type === 'grid';
  const placedStreamIds = isGrid ? request.streamIds : request.streamIds.slice(1);
  return ok({
    checked: {
      type: request.type,
      mainStreamId: isGrid ? null : (request.streamIds[0] as StreamId),
      placedStreamIds,
      positions:
        placedStreamIds.length <= SCAN_LIMIT
          ? null
          : isGrid
            ? streamIdIndex.value
            : new Map(placedStreamIds.map((streamId, index) => [streamId, index])),
      pinned: request.pinnedUsers ?? [],
      preferVideoOverAudio: request.preferVideoOverAudio ?? true,
    },
    excluded: { users: excluded, membership: membershipOf(excluded) },
    includeSelf: request.includeSelf ?? false,
  });
}

/** The excluded users and the subscriber. */
function withSubscriber(excluded: RequestShape['excluded'], subscriber: ParticipantId): Membership {
  if (excluded.users.size === 0) return new OneParticipant(subscriber);
  return excluded.users.has(subscriber)
    ? excluded.membership
    : membershipOf([...excluded.users, subscriber]);
}

/** One participant. */
class OneParticipant implements Membership {
  constructor(private readonly participant: ParticipantId) {}

  has(participant: ParticipantId): boolean {
    return participant === this.participant;
  }
}

function countSlots(request: LayoutRequest): Result<number, RequestError> {
  if (request.type === 'speaker') {
    const thumbnails = checkDimension('thumbnails', request.thumbnails, 0, MAX_SPEAKER_THUMBNAILS);
    return thumbnails.ok ? ok(1 + thumbnails.value) : thumbnails;
  }
  const rows = checkDimension('rows', request.rows, 1, MAX_GRID_DIMENSION);
  if (!rows.ok) return rows;
  const columns = checkDimension('columns', request.columns, 1, MAX_GRID_DIMENSION);
  return columns.ok ? ok(rows.value * columns.value) : columns;
}

function checkDimension(
  field: 'rows' | 'columns' | 'thumbnails',
  value: number,
  min: number,
  max: number,
): Result<number, RequestError> {
  if (Number.isInteger(value) && value >= min && value <= max) return ok(value);
  return err({ kind: 'invalid-dimension', field, value, min, max });
}

/**
 * Each stream id to its index, or the first problem with them: a count other than the slots',
 * an invalid one or a repeat.
 */
function indexStreamIds(
  streamIds: readonly StreamId[],
  slotCount: number,
): Result<Map<StreamId, number>, RequestError> {
  if (streamIds.length !== slotCount) {
    return err({ kind: 'stream-id-count-mismatch', expected: slotCount, actual: streamIds.length });
  }
  const firstIndex = new Map<StreamId, number>();
  for (let index = 0; index < streamIds.length; index++) {
    const value = streamIds[index] as StreamId;
    if (!Number.isSafeInteger(value) || value < 0) {
      return err({ kind: 'invalid-stream-id', index, value });
    }
    const earlier = firstIndex.get(value);
    if (earlier !== undefined) {
      return err({ kind: 'duplicate-stream-id', streamId: value, firstIndex: earlier, index });
    }
    firstIndex.set(value, index);
  }
  return ok(firstIndex);
}

function findPinnedError(
  pinned: readonly ParticipantId[],
  excluded: ReadonlySet<ParticipantId>,
  subscriber: ParticipantId,
  includeSelf: boolean,
  roster: RosterIndex,
): RequestError | null {
  const seen = new Set<ParticipantId>();
  for (const participant of pinned) {
    if (seen.has(participant)) return { kind: 'duplicate-pinned-user', participant };
    seen.add(participant);
    if (excluded.has(participant)) return { kind: 'pinned-and-excluded', participant };
    if (participant === subscriber && !includeSelf) {
      return { kind: 'self-pinned-without-include-self', participant };
    }
    if (!roster.tiles.has(participant) && !roster.departed.has(participant)) {
      return { kind: 'unknown-pinned-user', participant };
    }
  }
  return null;
}
