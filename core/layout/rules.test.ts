import { describe, expect, it } from 'vitest';
import { participantId, type MediaKind } from '../ids.ts';
import { unwrap } from '../result.ts';
import {
  assignLayout,
  indexRoster,
  layoutDemand,
  type LayoutAssignment,
  type LayoutOptions,
  type Roster,
} from './index.ts';
import { ids, member, rendered, rosterOf } from './testing.ts';

const me = participantId('Me');
const camera: MediaKind[] = ['camera', 'audio'];
const sharing: MediaKind[] = ['camera', 'screen', 'audio'];
const audioOnly: MediaKind[] = ['audio'];

/** Members named in join order, all publishing camera and audio unless `media` says otherwise. */
function people(names: string[], media: Record<string, MediaKind[]> = {}) {
  return names.map((name, order) => member(name, order, media[name] ?? camera));
}

function grid(
  roster: Roster,
  slots: number,
  options: LayoutOptions = {},
  previous?: LayoutAssignment,
): LayoutAssignment {
  const streamIds = Array.from({ length: slots }, (_, index) => 100 + index);
  return unwrap(
    assignLayout({
      roster,
      subscriber: me,
      request: { type: 'grid', rows: 1, columns: slots, streamIds, ...options },
      previous,
    }),
  );
}

function speaker(
  roster: Roster,
  thumbnails: number,
  options: LayoutOptions = {},
  previous?: LayoutAssignment,
): LayoutAssignment {
  const streamIds = Array.from({ length: thumbnails + 1 }, (_, index) => 200 + index);
  return unwrap(
    assignLayout({
      roster,
      subscriber: me,
      request: { type: 'speaker', thumbnails, streamIds, ...options },
      previous,
    }),
  );
}

describe('priority tiers', () => {
  it('ranks pinned, then screen shares, then active speakers, then join order', () => {
    const roster = rosterOf(people(['Ann', 'Ben', 'Cat', 'Dan'], { Cat: sharing }), ['Ben']);
    const assignment = grid(roster, 4, { pinnedUsers: ids('Dan') });
    expect(rendered(assignment)).toEqual([
      'Dan (camera)',
      'Cat (screen)',
      'Ben (camera)',
      'Ann (camera)',
    ]);
    expect(assignment.slots.map((slot) => (slot.shows === null ? null : slot.reason))).toEqual([
      'pinned',
      'screen-share',
      'active-speaker',
      'join-order',
    ]);
  });

  it('keeps pinned users in the order given', () => {
    const roster = rosterOf(people(['Ann', 'Ben', 'Cat']));
    expect(rendered(grid(roster, 2, { pinnedUsers: ids('Cat', 'Ann') }))).toEqual([
      'Cat (camera)',
      'Ann (camera)',
    ]);
  });

  it('orders active speakers most recent first, ignoring repeats and absent speakers', () => {
    const roster = rosterOf(people(['Ann', 'Ben', 'Cat', 'Dan']), [
      'Cat',
      'Gone',
      'Ben',
      'Cat',
      'Dan',
    ]);
    expect(rendered(grid(roster, 4))).toEqual([
      'Cat (camera)',
      'Ben (camera)',
      'Dan (camera)',
      'Ann (camera)',
    ]);
  });

  it('orders screen shares and the rest by join order, ties broken by id', () => {
    const roster = rosterOf([
      member('Zed', 5, sharing),
      member('Bob', 2),
      member('Amy', 5, sharing),
      member('Cid', 2),
    ]);
    expect(rendered(grid(roster, 4))).toEqual([
      'Amy (screen)',
      'Zed (screen)',
      'Bob (camera)',
      'Cid (camera)',
    ]);
  });

  it('leaves unfilled slots empty', () => {
    const assignment = grid(rosterOf(people(['Ann'])), 3);
    expect(rendered(assignment)).toEqual(['Ann (camera)', null, null]);
    expect(assignment.slots.map((slot) => slot.streamId)).toEqual([100, 101, 102]);
  });
});

describe('who may be shown', () => {
  const roster = rosterOf(people(['Ann', 'Me', 'Ben']), ['Me']);

  it('leaves the subscriber out unless include_self is set', () => {
    expect(rendered(grid(roster, 3))).toEqual(['Ann (camera)', 'Ben (camera)', null]);
    expect(rendered(grid(roster, 3, { includeSelf: true }))).toEqual([
      'Me (camera)',
      'Ann (camera)',
      'Ben (camera)',
    ]);
  });

  it('never shows excluded users, even active speakers or screen sharers', () => {
    const busy = rosterOf(people(['Ann', 'Ben', 'Cat'], { Ben: sharing }), ['Ann']);
    expect(rendered(grid(busy, 3, { excludedUsers: ids('Ann', 'Ben', 'Nobody') }))).toEqual([
      'Cat (camera)',
      null,
      null,
    ]);
  });

  it('shows a participant once, by the screen while sharing', () => {
    const busy = rosterOf(people(['Ann', 'Ben'], { Ann: sharing }), ['Ann']);
    expect(rendered(grid(busy, 3, { pinnedUsers: ids('Ann') }))).toEqual([
      'Ann (screen)',
      'Ben (camera)',
      null,
    ]);
  });

  it('shows audio-only participants by their audio and skips those who publish nothing', () => {
    const quiet = rosterOf(people(['Ann', 'Ben', 'Cat'], { Ann: [], Ben: audioOnly }));
    expect(rendered(grid(quiet, 3, { pinnedUsers: ids('Ann') }))).toEqual([
      'Cat (camera)',
      'Ben (audio)',
      null,
    ]);
  });
});

describe('prefer_video_over_audio', () => {
  const roster = rosterOf(
    people(['Ann', 'Ben', 'Cat', 'Dan', 'Eve'], { Ann: audioOnly, Cat: audioOnly, Eve: audioOnly }),
    ['Cat', 'Dan'],
  );

  it('when true (the default) ranks audio-only participants after every video one', () => {
    const expected = ['Dan (camera)', 'Ben (camera)', 'Cat (audio)', 'Ann (audio)', 'Eve (audio)'];
    expect(rendered(grid(roster, 5))).toEqual(expected);
    expect(rendered(grid(roster, 5, { preferVideoOverAudio: true }))).toEqual(expected);
  });

  it('when false ranks audio-only participants like camera ones', () => {
    expect(rendered(grid(roster, 5, { preferVideoOverAudio: false }))).toEqual([
      'Cat (audio)',
      'Dan (camera)',
      'Ann (audio)',
      'Ben (camera)',
      'Eve (audio)',
    ]);
  });

  it('does not demote pinned audio-only participants', () => {
    expect(rendered(grid(roster, 2, { pinnedUsers: ids('Eve') }))).toEqual([
      'Eve (audio)',
      'Dan (camera)',
    ]);
  });
});

describe('speaker view', () => {
  const roster = rosterOf(people(['Ann', 'Ben', 'Cat', 'Me']), ['Cat', 'Me', 'Ben']);

  it('puts the current active speaker in the main slot and the next ones in the strip', () => {
    const assignment = speaker(roster, 2, { pinnedUsers: ids('Ann') });
    expect(rendered(assignment)).toEqual(['Cat (camera)', 'Ann (camera)', 'Ben (camera)']);
    expect(assignment.slots[0]).toMatchObject({ streamId: 200, reason: 'active-speaker' });
  });

  it('shows the subscriber, while speaking, the previous speaker', () => {
    const speaking = rosterOf(people(['Ann', 'Ben', 'Me']), ['Me', 'Ben']);
    expect(rendered(speaker(speaking, 0))).toEqual(['Ben (camera)']);
  });

  it('falls back to grid priority when nobody who may be shown has spoken', () => {
    const silent = rosterOf(people(['Ann', 'Ben', 'Cat'], { Cat: sharing }), ['Me']);
    expect(rendered(speaker(silent, 1))).toEqual(['Cat (screen)', 'Ann (camera)']);
    expect(rendered(speaker(rosterOf([]), 1))).toEqual([null, null]);
  });

  it('swaps the new speaker into the main slot and keeps the strip otherwise in place', () => {
    const before = speaker(roster, 2);
    expect(rendered(before)).toEqual(['Cat (camera)', 'Ben (camera)', 'Ann (camera)']);
    const benSpeaks = rosterOf(roster.participants, ['Ben', 'Cat', 'Me']);
    expect(rendered(speaker(benSpeaks, 2, {}, before))).toEqual([
      'Ben (camera)',
      'Cat (camera)',
      'Ann (camera)',
    ]);
  });
});

describe('dynamic updates with the previous assignment', () => {
  const names = ['Ann', 'Ben', 'Cat', 'Dan', 'Eve'];
  const roster = rosterOf(people(names));

  it('fills a departed pinned user slot with the next in priority, in the same slot', () => {
    const before = grid(roster, 3, { pinnedUsers: ids('Eve') });
    expect(rendered(before)).toEqual(['Eve (camera)', 'Ann (camera)', 'Ben (camera)']);
    const eveLeft = rosterOf(people(['Ann', 'Ben', 'Cat', 'Dan']), [], ['Eve']);
    const after = grid(eveLeft, 3, { pinnedUsers: ids('Eve') }, before);
    expect(rendered(after)).toEqual(['Cat (camera)', 'Ann (camera)', 'Ben (camera)']);
  });

  it('lets a higher-priority newcomer displace only the lowest-priority visible entry', () => {
    const before = grid(roster, 3, {}, undefined);
    expect(rendered(before)).toEqual(['Ann (camera)', 'Ben (camera)', 'Cat (camera)']);
    const withSharer = rosterOf([...roster.participants, member('Zoe', 9, sharing)]);
    expect(rendered(grid(withSharer, 3, {}, before))).toEqual([
      'Ann (camera)',
      'Ben (camera)',
      'Zoe (screen)',
    ]);
  });

  it('lets a lower-priority newcomer change nothing', () => {
    const before = grid(roster, 3);
    const withLatecomer = rosterOf([...roster.participants, member('Zoe', 9)]);
    expect(grid(withLatecomer, 3, {}, before)).toEqual(before);
  });

  it('swaps a new active speaker in for the lowest-priority visible entry', () => {
    const before = grid(rosterOf(roster.participants, ['Ben']), 3);
    expect(rendered(before)).toEqual(['Ben (camera)', 'Ann (camera)', 'Cat (camera)']);
    const eveSpeaks = rosterOf(roster.participants, ['Eve', 'Ben']);
    expect(rendered(grid(eveSpeaks, 3, {}, before))).toEqual([
      'Ben (camera)',
      'Ann (camera)',
      'Eve (camera)',
    ]);
  });

  it('promotes a screen share: a visible sharer keeps the slot and shows the screen', () => {
    const before = grid(roster, 3);
    const benShares = rosterOf(people(names, { Ben: sharing }));
    const after = grid(benShares, 3, {}, before);
    expect(rendered(after)).toEqual(['Ann (camera)', 'Ben (screen)', 'Cat (camera)']);
    expect(layoutDemand(after)).toEqual([
      { participant: 'Ann', kind: 'camera' },
      { participant: 'Ben', kind: 'screen' },
      { participant: 'Cat', kind: 'camera' },
    ]);
  });

  it('promotes a screen share from outside the grid over the lowest-priority entry', () => {
    const before = grid(roster, 3);
    const eveShares = rosterOf(people(names, { Eve: sharing }));
    expect(rendered(grid(eveShares, 3, {}, before))).toEqual([
      'Ann (camera)',
      'Ben (camera)',
      'Eve (screen)',
    ]);
  });

  it('leaves a hole rather than moving anyone when a visible participant leaves', () => {
    const before = grid(roster, 6);
    const benLeft = rosterOf(people(['Ann', 'Cat', 'Dan', 'Eve']), [], ['Ben']);
    expect(rendered(grid(benLeft, 6, {}, before))).toEqual([
      'Ann (camera)',
      null,
      'Cat (camera)',
      'Dan (camera)',
      'Eve (camera)',
      null,
    ]);
  });

  it('keeps stream ids across a request with other dimensions', () => {
    const before = grid(roster, 2);
    const bigger = unwrap(
      assignLayout({
        roster,
        subscriber: me,
        request: { type: 'grid', rows: 2, columns: 2, streamIds: [7, 101, 100, 8] },
        previous: before,
      }),
    );
    expect(rendered(bigger)).toEqual([
      'Cat (camera)',
      'Ben (camera)',
      'Ann (camera)',
      'Dan (camera)',
    ]);
  });
});

describe('indexed rosters', () => {
  it('assign exactly as the raw roster does', () => {
    const roster = rosterOf(people(['Ann', 'Ben', 'Cat', 'Me'], { Ben: audioOnly, Cat: sharing }), [
      'Me',
      'Ann',
    ]);
    const index = unwrap(indexRoster(roster));
    const request = { type: 'grid', rows: 2, columns: 2, streamIds: [1, 2, 3, 4] } as const;
    expect(assignLayout({ roster: index, subscriber: me, request })).toEqual(
      assignLayout({ roster, subscriber: me, request }),
    );
  });
});
