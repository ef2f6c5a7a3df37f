import { describe, expect, it } from 'vitest';
import { participantId } from '../ids.ts';
import { assignLayout, indexRoster, MAX_GRID_DIMENSION, MAX_SPEAKER_THUMBNAILS } from './index.ts';
import type { GridRequest, LayoutError, Roster, SpeakerRequest } from './index.ts';
import { ids, member, rosterOf } from './testing.ts';

const me = participantId('Me');
const roster = rosterOf([member('Ann', 0), member('Ben', 1), member('Me', 2)], [], ['Gone']);

function gridError(request: Partial<GridRequest>, on: Roster = roster): LayoutError | null {
  const result = assignLayout({
    roster: on,
    subscriber: me,
    request: { type: 'grid', rows: 1, columns: 2, streamIds: [1, 2], ...request },
  });
  return result.ok ? null : result.error;
}

function speakerError(request: Partial<SpeakerRequest>): LayoutError | null {
  const result = assignLayout({
    roster,
    subscriber: me,
    request: { type: 'speaker', thumbnails: 1, streamIds: [1, 2], ...request },
  });
  return result.ok ? null : result.error;
}

describe('request errors', () => {
  it('accepts the valid baseline requests', () => {
    expect(gridError({})).toBeNull();
    expect(speakerError({})).toBeNull();
  });

  it.each([0, -1, MAX_GRID_DIMENSION + 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects %s as rows or as columns',
    (value) => {
      expect(gridError({ rows: value })).toEqual({
        kind: 'invalid-dimension',
        field: 'rows',
        value,
        min: 1,
        max: MAX_GRID_DIMENSION,
      });
      expect(gridError({ rows: 1, columns: value })).toMatchObject({
        kind: 'invalid-dimension',
        field: 'columns',
      });
    },
  );

  it('accepts the largest grid', () => {
    const streamIds = Array.from({ length: MAX_GRID_DIMENSION ** 2 }, (_, index) => index);
    expect(
      gridError({ rows: MAX_GRID_DIMENSION, columns: MAX_GRID_DIMENSION, streamIds }),
    ).toBeNull();
  });

  it.each([-1, MAX_SPEAKER_THUMBNAILS + 1, 0.5])('rejects %s thumbnails', (value) => {
    expect(speakerError({ thumbnails: value })).toMatchObject({
      kind: 'invalid-dimension',
      field: 'thumbnails',
      min: 0,
      max: MAX_SPEAKER_THUMBNAILS,
    });
  });

  it('rejects more or fewer stream ids than slots', () => {
    expect(gridError({ streamIds: [1] })).toEqual({
      kind: 'stream-id-count-mismatch',
      expected: 2,
      actual: 1,
    });
    expect(gridError({ streamIds: [1, 2, 3] })).toEqual({
      kind: 'stream-id-count-mismatch',
      expected: 2,
      actual: 3,
    });
    expect(speakerError({ thumbnails: 0, streamIds: [] })).toEqual({
      kind: 'stream-id-count-mismatch',
      expected: 1,
      actual: 0,
    });
  });

  it.each([-1, 0.5, Number.NaN, 2 ** 53])('rejects the stream id %s', (value) => {
    expect(gridError({ streamIds: [1, value] })).toEqual({
      kind: 'invalid-stream-id',
      index: 1,
      value,
    });
  });

  it('rejects duplicate stream ids', () => {
    expect(gridError({ columns: 3, streamIds: [4, 5, 4] })).toEqual({
      kind: 'duplicate-stream-id',
      streamId: 4,
      firstIndex: 0,
      index: 2,
    });
  });

  it('rejects a user pinned twice', () => {
    expect(gridError({ pinnedUsers: ids('Ann', 'Ann') })).toEqual({
      kind: 'duplicate-pinned-user',
      participant: 'Ann',
    });
  });

  it('rejects pinning a user the meeting never had, but not one who left', () => {
    expect(gridError({ pinnedUsers: ids('Ann', 'Stranger') })).toEqual({
      kind: 'unknown-pinned-user',
      participant: 'Stranger',
    });
    expect(gridError({ pinnedUsers: ids('Gone') })).toBeNull();
  });

  it('rejects a user both pinned and excluded', () => {
    expect(gridError({ pinnedUsers: ids('Ben'), excludedUsers: ids('Ben') })).toEqual({
      kind: 'pinned-and-excluded',
      participant: 'Ben',
    });
  });

  it('rejects pinning oneself without include_self', () => {
    expect(gridError({ pinnedUsers: ids('Me') })).toEqual({
      kind: 'self-pinned-without-include-self',
      participant: 'Me',
    });
    expect(gridError({ pinnedUsers: ids('Me'), includeSelf: true })).toBeNull();
  });
});

describe('roster errors', () => {
  it('rejects a participant listed twice', () => {
    const twice = rosterOf([member('Ann', 0), member('Ann', 1)]);
    expect(gridError({}, twice)).toEqual({ kind: 'duplicate-participant', participant: 'Ann' });
    expect(indexRoster(twice).ok).toBe(false);
  });

  it.each([Number.NaN, Number.NEGATIVE_INFINITY])('rejects the join order %s', (value) => {
    expect(gridError({}, rosterOf([member('Ann', value)]))).toEqual({
      kind: 'invalid-join-order',
      participant: 'Ann',
      value,
    });
  });
});

describe('one request object asked about again', () => {
  it('hides the subscriber it is checked for, whoever it was checked for before', () => {
    const request: GridRequest = { type: 'grid', rows: 1, columns: 3, streamIds: [1, 2, 3] };
    const forMe = assignLayout({ roster, subscriber: me, request });
    const forAnn = assignLayout({ roster, subscriber: participantId('Ann'), request });
    const shown = (result: typeof forMe) =>
      result.ok ? result.value.slots.map((s) => s.shows?.participant ?? null) : [];
    expect(shown(forMe)).toEqual(['Ann', 'Ben', null]);
    expect(shown(forAnn)).toEqual(['Ben', 'Me', null]);
    expect(shown(assignLayout({ roster, subscriber: me, request }))).toEqual(['Ann', 'Ben', null]);
  });

  it('keeps refusing a bad request and still checks pinned users against each roster', () => {
    const errorOf = (request: GridRequest, on: Roster = roster) => {
      const result = assignLayout({ roster: on, subscriber: me, request });
      return result.ok ? null : result.error.kind;
    };
    const bad: GridRequest = { type: 'grid', rows: 1, columns: 2, streamIds: [1, 1] };
    expect(errorOf(bad)).toBe('duplicate-stream-id');
    expect(errorOf(bad)).toBe('duplicate-stream-id');
    const pinning: GridRequest = {
      type: 'grid',
      rows: 1,
      columns: 2,
      streamIds: [1, 2],
      pinnedUsers: [participantId('Ben')],
    };
    expect(errorOf(pinning)).toBeNull();
    const withoutBen = rosterOf([member('Ann', 0), member('Me', 2)], [], []);
    expect(errorOf(pinning, withoutBen)).toBe('unknown-pinned-user');
  });
});
