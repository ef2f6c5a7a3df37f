import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { participantId, regionId, type MediaKind, type ParticipantId } from '../ids.ts';
import {
  assignLayout,
  layoutDemand,
  type LayoutAssignment,
  type LayoutRequest,
} from '../layout/index.ts';
import { unwrap } from '../result.ts';
import type { StreamDemand } from '../routing/types.ts';
import { meetingDemand } from './layouts.ts';
import { layoutRequestNamed } from '../layout/named.ts';
import { emptyRoster, type MeetingRoster, type Member } from './roster.ts';

/** A roster with the join counter the tests' joins draw from. */
type TestMeeting = MeetingRoster & { nextJoinOrder: number };

const newMeeting = (): TestMeeting => ({ ...emptyRoster(), nextJoinOrder: 0 });

const pool = Array.from({ length: 14 }, (_, index) => participantId(`p${index}`));
const layouts = ['grid', 'grid2x2', 'grid1x3', 'speaker'];

/** One change to a meeting's roster or to a member's layout request. */
type Change =
  | { readonly type: 'join'; readonly who: number }
  | { readonly type: 'leave'; readonly who: number }
  | { readonly type: 'speak'; readonly who: number }
  | { readonly type: 'share'; readonly who: number; readonly sharing: boolean }
  | { readonly type: 'layout'; readonly who: number; readonly layout: string }
  | { readonly type: 'replan' };

const who = fc.integer({ min: 0, max: pool.length - 1 });
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ type: fc.constant('join' as const), who }),
  fc.record({ type: fc.constant('leave' as const), who }),
  fc.record({ type: fc.constant('speak' as const), who }),
  fc.record({ type: fc.constant('share' as const), who, sharing: fc.boolean() }),
  fc.record({ type: fc.constant('layout' as const), who, layout: fc.constantFrom(...layouts) }),
  fc.constant({ type: 'replan' as const }),
);

function apply(meeting: TestMeeting, change: Change): void {
  if (change.type === 'replan') return;
  const id = pool[change.who] as ParticipantId;
  const member = meeting.members.get(id);
  switch (change.type) {
    case 'join':
      if (member !== undefined) return;
      meeting.members.set(id, {
        id,
        region: regionId('r1'),
        joinOrder: meeting.nextJoinOrder++,
        publishes: ['camera', 'audio'],
        layout: layoutRequestNamed(layouts[change.who % layouts.length] ?? 'grid'),
        connectedHandler: undefined,
        movingTo: undefined,
      });
      return;
    case 'leave':
      if (meeting.members.delete(id)) meeting.departed.push(id);
      return;
    case 'speak':
      meeting.activeSpeakers = [id, ...meeting.activeSpeakers.filter((p) => p !== id)].slice(0, 8);
      return;
    case 'share': {
      if (member === undefined) return;
      const others: MediaKind[] = member.publishes.filter((k) => k !== 'screen');
      member.publishes = change.sharing ? ['screen', ...others] : others;
      return;
    }
    case 'layout':
      if (member !== undefined) member.layout = layoutRequestNamed(change.layout);
  }
}

/** The meeting's roster as core's layout engine reads it, unindexed. */
function rosterOfMeeting(meeting: TestMeeting) {
  return {
    participants: [...meeting.members.values()].map((m) => ({
      id: m.id,
      joinOrder: m.joinOrder,
      publishes: m.publishes,
    })),
    departed: meeting.departed,
    activeSpeakers: meeting.activeSpeakers,
  };
}

/**
 * The demand core's layout engine gives when every member is assigned afresh (with no previous
 * assignment: placement decides where a source goes, never whether it is shown): in member
 * order, each member's pairs in source order.
 */
function referenceDemand(meeting: TestMeeting): StreamDemand[] {
  return [...referenceAssignments(meeting)].flatMap(([id, assignment]) =>
    pairsInSourceOrder(id, assignment),
  );
}

/** What a member's layout shows in its main slot, assigned afresh. */
function mainOf(meeting: TestMeeting, member: Member): ParticipantId | undefined {
  const roster = rosterOfMeeting(meeting);
  const assigned = unwrap(assignLayout({ roster, subscriber: member.id, request: member.layout }));
  return assigned.slots[0]?.shows?.participant;
}

/** A subscriber's pairs for what its assignment shows, by publisher id, then kind. */
function pairsInSourceOrder(
  subscriber: ParticipantId,
  assignment: LayoutAssignment,
): StreamDemand[] {
  return layoutDemand(assignment)
    .map((source) => ({ subscriber, publisher: source.participant, kind: source.kind }))
    .sort((a, b) => compareKey(a.publisher, b.publisher) || compareKey(a.kind, b.kind));
}

function sameValue(a: StreamDemand, b: StreamDemand): boolean {
  return a.subscriber === b.subscriber && a.publisher === b.publisher && a.kind === b.kind;
}

function compareKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

describe('meeting layouts', () => {
  it('equal what core assigns every member afresh, through any sequence of changes', () => {
    fc.assert(
      fc.property(fc.array(changeArb, { maxLength: 60 }), (changes) => {
        const meeting = newMeeting();
        for (const change of changes) {
          apply(meeting, change);
          const expected = referenceDemand(meeting);
          expect(meetingDemand(meeting)).toEqual(expected);
        }
      }),
    );
  });

  it('keep the roster index while the roster is equal, rebuild it when it changes', () => {
    const meeting = newMeeting();
    for (const who of [0, 1, 2]) apply(meeting, { type: 'join', who });
    apply(meeting, { type: 'speak', who: 1 });
    meetingDemand(meeting);
    const first = meeting.roster;
    apply(meeting, { type: 'speak', who: 1 });
    apply(meeting, { type: 'layout', who: 0, layout: 'speaker' });
    meetingDemand(meeting);
    expect(meeting.roster).toBe(first);
    for (const change of [
      { type: 'speak', who: 2 },
      { type: 'share', who: 0, sharing: true },
      { type: 'leave', who: 1 },
      { type: 'join', who: 1 },
    ] as const) {
      const before = meeting.roster;
      apply(meeting, change);
      meetingDemand(meeting);
      expect(meeting.roster).not.toBe(before);
    }
  });

  it('give the same demand list while no member shows anything new, a new one when one does', () => {
    const meeting = newMeeting();
    for (const who of [0, 1, 2]) apply(meeting, { type: 'join', who });
    const first = meetingDemand(meeting);
    // Grids that show everyone: a new speaker changes what nobody is shown.
    apply(meeting, { type: 'speak', who: 1 });
    expect(meetingDemand(meeting)).toBe(first);
    apply(meeting, { type: 'share', who: 0, sharing: true });
    const sharing = meetingDemand(meeting);
    expect(sharing).not.toBe(first);
    expect(sharing).not.toEqual(first);
  });

  it('give the same demand list when a speaker change only moves tiles', () => {
    const meeting = newMeeting();
    // Speaker view with room for everyone: the main slot and four thumbnails, four others.
    for (const who of [0, 1, 2, 3, 4]) apply(meeting, { type: 'join', who });
    const viewer = meeting.members.get(pool[0] as ParticipantId) as Member;
    viewer.layout = layoutRequestNamed('speaker');
    apply(meeting, { type: 'speak', who: 1 });
    const first = meetingDemand(meeting);
    expect(mainOf(meeting, viewer)).toBe(pool[1]);
    apply(meeting, { type: 'speak', who: 3 });
    expect(meetingDemand(meeting)).toBe(first);
    expect(mainOf(meeting, viewer)).toBe(pool[3]);
    // A member who was not shown at all is: a new list, keeping the pairs that stay.
    viewer.layout = { type: 'speaker', thumbnails: 2, streamIds: range(3) };
    const fewer = meetingDemand(meeting);
    apply(meeting, { type: 'speak', who: 4 });
    const changed = meetingDemand(meeting);
    expect(changed).not.toBe(fewer);
    expect(changed).toEqual(referenceDemand(meeting));
    // Every pair that stays is its earlier object.
    const stayed = changed.filter((pair) => fewer.some((before) => sameValue(before, pair)));
    expect(stayed.length).toBeGreaterThan(1);
    for (const pair of stayed) expect(fewer).toContain(pair);
  });

  it('rely on assignLayout returning its own output unchanged for the same roster and request', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...pool), { minLength: 1 }),
        fc.array(fc.constantFrom(...pool), { maxLength: 10 }),
        fc.constantFrom(...layouts),
        fc.array(fc.boolean(), { minLength: pool.length, maxLength: pool.length }),
        (present, activeSpeakers, layout, sharing) => {
          const roster = {
            participants: present.map((id, joinOrder) => ({
              id,
              joinOrder,
              publishes: (sharing[joinOrder] === true
                ? ['screen', 'audio']
                : ['camera', 'audio']) as MediaKind[],
            })),
            departed: [],
            activeSpeakers,
          };
          const subscriber = present[0] as ParticipantId;
          const request: LayoutRequest = layoutRequestNamed(layout);
          const first = unwrap(assignLayout({ roster, subscriber, request }));
          const again = unwrap(assignLayout({ roster, subscriber, request, previous: first }));
          expect(again).toEqual(first);
        },
      ),
    );
  });

  it('equal what core assigns afresh, for any requests and changes', () => {
    const requests: LayoutRequest[] = [
      ...layouts.map(layoutRequestNamed),
      { type: 'grid', rows: 4, columns: 4, streamIds: range(16), includeSelf: true },
      { type: 'grid', rows: 2, columns: 3, streamIds: range(6), includeSelf: true },
      { type: 'grid', rows: 2, columns: 2, streamIds: range(4), pinnedUsers: [pool[1]!] },
      { type: 'grid', rows: 3, columns: 5, streamIds: range(15), excludedUsers: [pool[2]!] },
      { type: 'speaker', thumbnails: 2, streamIds: range(3), preferVideoOverAudio: false },
      { type: 'grid', rows: 1, columns: 2, streamIds: range(2), pinnedUsers: [stranger] },
    ];
    // Mostly joins and speaker turns, many of them only reordering the history.
    const anyChange: fc.Arbitrary<Change | ExtraChange> = fc.oneof(
      { arbitrary: fc.record({ type: fc.constant('join' as const), who }), weight: 3 },
      { arbitrary: fc.record({ type: fc.constant('speak' as const), who }), weight: 3 },
      { arbitrary: fc.record({ type: fc.constant('reorder' as const), nth: fc.nat() }), weight: 4 },
      { arbitrary: changeArb, weight: 2 },
      { arbitrary: fc.record({ type: fc.constant('silence' as const), who }), weight: 1 },
      {
        arbitrary: fc.record({
          type: fc.constant('request' as const),
          who,
          request: fc.nat(requests.length - 1),
        }),
        weight: 2,
      },
    );
    // A meeting to start from: members with their requests and a speaker history.
    const startArb = fc.record({
      members: fc.array(fc.tuple(who, fc.nat(requests.length - 1)), { maxLength: pool.length }),
      speakers: fc.array(who, { maxLength: 10 }),
    });
    fc.assert(
      fc.property(startArb, fc.array(anyChange, { maxLength: 60 }), (start, changes) => {
        const meeting = newMeeting();
        const opening: (Change | ExtraChange)[] = [
          ...start.members.flatMap(([member, request]) => [
            { type: 'join' as const, who: member },
            { type: 'request' as const, who: member, request },
          ]),
          ...start.speakers.map((speaker) => ({ type: 'speak' as const, who: speaker })),
        ];
        for (const change of opening) applyAny(meeting, change, requests);
        for (const change of [{ type: 'replan' as const }, ...changes]) {
          applyAny(meeting, change, requests);
          expect(meetingDemand(meeting)).toEqual(referenceDemand(meeting));
        }
      }),
    );
  });
});

describe('a grid one tile short of everyone it may show', () => {
  it('follows a reordered speaker history', () => {
    const meeting = newMeeting();
    // Seven members; the first shows itself among six tiles, so one member is always left out.
    for (let who = 0; who < 7; who++) apply(meeting, { type: 'join', who });
    const first = meeting.members.get(pool[0] as ParticipantId) as Member;
    first.layout = { type: 'grid', rows: 2, columns: 3, streamIds: range(6), includeSelf: true };
    for (let who = 0; who < 7; who++) apply(meeting, { type: 'speak', who });
    meetingDemand(meeting);
    const shown = () =>
      meetingDemand(meeting)
        .filter((pair) => pair.subscriber === first.id)
        .map((pair) => pair.publisher);
    expect(shown()).not.toContain(pool[0]);
    // The least recent speaker speaks again: the same speakers, and now the first is shown.
    applyAny(meeting, { type: 'reorder', nth: 6 }, []);
    meetingDemand(meeting);
    expect(shown()).toContain(pool[0]);
  });
});

const stranger = participantId('stranger');

function range(length: number): number[] {
  return Array.from({ length }, (_, index) => index + 1);
}

/** Changes the first property does not make. */
type ExtraChange =
  | { readonly type: 'reorder'; readonly nth: number }
  | { readonly type: 'silence'; readonly who: number }
  | { readonly type: 'request'; readonly who: number; readonly request: number };

function applyAny(
  meeting: TestMeeting,
  change: Change | ExtraChange,
  requests: readonly LayoutRequest[],
): void {
  switch (change.type) {
    case 'reorder': {
      // Someone already in the history speaks again: the same speakers, in another order.
      const again = meeting.activeSpeakers[change.nth % Math.max(1, meeting.activeSpeakers.length)];
      if (again === undefined) return;
      meeting.activeSpeakers = [again, ...meeting.activeSpeakers.filter((p) => p !== again)];
      return;
    }
    case 'silence': {
      const member = meeting.members.get(pool[change.who] as ParticipantId);
      if (member !== undefined) member.publishes = [];
      return;
    }
    case 'request': {
      const member = meeting.members.get(pool[change.who] as ParticipantId);
      const request = requests[change.request];
      if (member !== undefined && request !== undefined) member.layout = request;
      return;
    }
    default:
      apply(meeting, change);
  }
}

/**
 * What core assigns each member afresh from the raw roster, for the members whose request core
 * accepts, in member order.
 */
function referenceAssignments(meeting: TestMeeting): Map<ParticipantId, LayoutAssignment> {
  const roster = rosterOfMeeting(meeting);
  const assignments = new Map<ParticipantId, LayoutAssignment>();
  for (const m of meeting.members.values()) {
    const request = { ...m.layout };
    const assigned = assignLayout({ roster, subscriber: m.id, request });
    if (assigned.ok) assignments.set(m.id, structuredClone(assigned.value));
  }
  return assignments;
}
