import {
  assignLayout,
  indexRoster,
  layoutDemand,
  type LayoutAssignment,
  type LayoutRequest,
  type RosterIndex,
} from '../../core/layout/index.ts';
import type { StreamDemand } from '../../core/routing/types.ts';
import type { MeetingState } from './meeting.ts';

/** The inputs a member's assignment was computed from, and the demand it implies. */
export interface LayoutMemo {
  readonly rosterKey: string;
  readonly request: LayoutRequest;
  readonly assignment: LayoutAssignment;
  readonly demand: readonly StreamDemand[];
}

/** A meeting's roster index and the roster key it was built for. */
export interface IndexedRoster {
  readonly key: string;
  readonly index: RosterIndex;
}

/**
 * Everything core's layout engine reads from the meeting besides each member's request: who is
 * present (with join order and what they publish), how many have departed (the list only
 * grows) and the active-speaker history. Equal keys mean equal rosters.
 */
export function rosterKey(meeting: MeetingState): string {
  let key = '';
  for (const member of meeting.members.values()) {
    key += `${member.id}:${member.joinOrder}:${member.publishes.join(',')};`;
  }
  return `${key}|${meeting.departed.length}|${meeting.activeSpeakers.join(',')}`;
}

/**
 * Every member's layout (core's `assignLayout` against the previous assignment) and the demand
 * they add up to, in member order. The roster is indexed once per roster change, and a member
 * whose roster, request and assignment are those of its last computation keeps that assignment
 * without recomputing it: `assignLayout` is idempotent on its own output. Who is visible depends
 * only on roster and request, so the same entries are ranked again; each already holds a slot of
 * its own in the previous assignment (every entry was placed, since there are never more entries
 * than slots), so stable placement keeps each in that slot and fills no other, which reproduces
 * the previous assignment exactly (speaker view's main slot likewise depends on roster and
 * request alone, and its participant is kept out of the strip).
 */
export function meetingDemand(meeting: MeetingState): StreamDemand[] {
  const key = rosterKey(meeting);
  const roster = indexedRoster(meeting, key);
  if (roster === undefined) return [];
  const demand: StreamDemand[] = [];
  for (const member of meeting.members.values()) {
    const memo = member.layoutMemo;
    if (
      memo !== undefined &&
      memo.rosterKey === key &&
      memo.request === member.layout &&
      memo.assignment === member.assignment
    ) {
      for (const pair of memo.demand) demand.push(pair);
      continue;
    }
    const assigned = assignLayout({
      roster,
      subscriber: member.id,
      request: member.layout,
      previous: member.assignment,
    });
    if (!assigned.ok) continue;
    const own: StreamDemand[] = [];
    for (const source of layoutDemand(assigned.value)) {
      own.push({ subscriber: member.id, publisher: source.participant, kind: source.kind });
    }
    member.assignment = assigned.value;
    member.layoutMemo = {
      rosterKey: key,
      request: member.layout,
      assignment: assigned.value,
      demand: own,
    };
    for (const pair of own) demand.push(pair);
  }
  return demand;
}

function indexedRoster(meeting: MeetingState, key: string): RosterIndex | undefined {
  if (meeting.roster?.key === key) return meeting.roster.index;
  const roster = indexRoster({
    participants: [...meeting.members.values()].map((m) => ({
      id: m.id,
      joinOrder: m.joinOrder,
      publishes: m.publishes,
    })),
    departed: meeting.departed,
    activeSpeakers: meeting.activeSpeakers,
  });
  if (!roster.ok) return undefined;
  meeting.roster = { key, index: roster.value };
  return roster.value;
}
