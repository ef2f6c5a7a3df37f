/**
 * Validation of a subscriber's layout request against the roster, producing the request in the
 * form the engine works with (defaults applied, lists turned into sets).
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

/** The slots of a request that passed validation. */
export type CheckedSlots =
  | { readonly type: 'grid'; readonly streamIds: readonly StreamId[] }
  | {
      readonly type: 'speaker';
      readonly mainStreamId: StreamId;
      readonly thumbnailStreamIds: readonly StreamId[];
    };

/** A request that passed validation. */
export interface CheckedRequest {
  readonly slots: CheckedSlots;
  readonly pinned: readonly ParticipantId[];
  /** Who may not be shown: the excluded users, plus the subscriber unless self is included. */
  readonly hidden: ReadonlySet<ParticipantId>;
  readonly preferVideoOverAudio: boolean;
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
  // Only pinned users are checked against the roster: without them the verdict depends on the
  // request and the subscriber alone, and is kept with the (immutable) request.
  if ((request.pinnedUsers ?? []).length > 0) return checkAgainst(request, subscriber, roster);
  const known = checkedWithoutPins.get(request);
  if (known?.subscriber === subscriber) return known.checked;
  const checked = checkAgainst(request, subscriber, roster);
  checkedWithoutPins.set(request, { subscriber, checked });
  return checked;
}

/**
 * Verdicts on requests without pinned users, by request, for the subscriber last asked about.
 * Weak keys: the cache never keeps a request alive.
 */
const checkedWithoutPins = new WeakMap<
  LayoutRequest,
  { readonly subscriber: ParticipantId; readonly checked: Result<CheckedRequest, RequestError> }
>();

function checkAgainst(
  request: LayoutRequest,
  subscriber: ParticipantId,
  roster: RosterIndex,
): Result<CheckedRequest, RequestError> {
  const slotCount = countSlots(request);
  if (!slotCount.ok) return slotCount;
  const streamIds = checkStreamIds(request, slotCount.value);
  if (!streamIds.ok) return streamIds;
  const includeSelf = request.includeSelf ?? false;
  const excluded = new Set(request.excludedUsers ?? []);
  const pinned = request.pinnedUsers ?? [];
  const pinnedError = findPinnedError(pinned, excluded, subscriber, includeSelf, roster);
  if (pinnedError !== null) return err(pinnedError);
  const hidden = includeSelf ? excluded : new Set([...excluded, subscriber]);
  return ok({
    slots: streamIds.value,
    pinned,
    hidden,
    preferVideoOverAudio: request.preferVideoOverAudio ?? true,
  });
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

function checkStreamIds(
  request: LayoutRequest,
  slotCount: number,
): Result<CheckedSlots, RequestError> {
  const { streamIds } = request;
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
  if (request.type === 'grid') return ok({ type: 'grid', streamIds });
  const [mainStreamId, ...thumbnailStreamIds] = streamIds;
  if (mainStreamId === undefined) {
    return err({ kind: 'stream-id-count-mismatch', expected: slotCount, actual: 0 });
  }
  return ok({ type: 'speaker', mainStreamId, thumbnailStreamIds });
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
