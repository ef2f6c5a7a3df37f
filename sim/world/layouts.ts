import {
  assignLayout,
  indexRoster,
  layoutDemand,
  type LayoutAssignment,
  type LayoutRequest,
  type RosterIndex,
  type SourceRef,
} from '../../core/layout/index.ts';
import type { MediaKind, ParticipantId } from '../../core/ids.ts';
import type { StreamDemand } from '../../core/routing/types.ts';
import type { MeetingState } from './meeting.ts';

/** The inputs a member's assignment was computed from, and the demand it implies. */
export interface LayoutMemo {
  /** The roster the assignment was computed against (a new object whenever the roster changes). */
  readonly roster: IndexedRoster;
  readonly request: LayoutRequest;
  readonly assignment: LayoutAssignment;
  readonly demand: readonly StreamDemand[];
}

/** One present member as the roster index saw it. */
interface RosterEntry {
  readonly id: ParticipantId;
  readonly joinOrder: number;
  readonly publishes: readonly MediaKind[];
}

/**
 * A meeting's roster index and what it was built from: everything core's layout engine reads
 * from the meeting besides each member's request. Who is present (with join order and what they
 * publish, copied), how many have departed (the list only grows) and the active-speaker history
 * (copied). A meeting keeps the same object while these stay equal.
 */
export interface IndexedRoster {
  readonly members: readonly RosterEntry[];
  readonly departedCount: number;
  readonly activeSpeakers: readonly ParticipantId[];
  readonly index: RosterIndex;
}

/** Whether the meeting's roster is still the one `roster` was built from. */
export function sameRoster(meeting: MeetingState, roster: IndexedRoster): boolean {
  if (
    roster.departedCount !== meeting.departed.length ||
    roster.members.length !== meeting.members.size ||
    !sameList(roster.activeSpeakers, meeting.activeSpeakers)
  )
    return false;
  let index = 0;
  for (const member of meeting.members.values()) {
    const entry = roster.members[index++] as RosterEntry;
    if (
      entry.id !== member.id ||
      entry.joinOrder !== member.joinOrder ||
      !sameList(entry.publishes, member.publishes)
    )
      return false;
  }
  return true;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
  const roster = indexedRoster(meeting);
  if (roster === undefined) return [];
  const demand: StreamDemand[] = [];
  for (const member of meeting.members.values()) {
    const memo = member.layoutMemo;
    if (
      memo !== undefined &&
      memo.roster === roster &&
      memo.request === member.layout &&
      memo.assignment === member.assignment
    ) {
      for (const pair of memo.demand) demand.push(pair);
      continue;
    }
    const assigned = assignLayout({
      roster: roster.index,
      subscriber: member.id,
      request: member.layout,
      previous: member.assignment,
    });
    if (!assigned.ok) continue;
    const own = memberDemand(member.id, layoutDemand(assigned.value), memo?.demand);
    member.assignment = assigned.value;
    member.layoutMemo = {
      roster,
      request: member.layout,
      assignment: assigned.value,
      demand: own,
    };
    for (const pair of own) demand.push(pair);
  }
  return demand;
}

/**
 * The pairs a member's sources demand, in order: `earlier` itself (the member's previous pairs)
 * when it names the same sources in the same order, so an unchanged demand is not rebuilt.
 */
function memberDemand(
  subscriber: ParticipantId,
  sources: readonly SourceRef[],
  earlier: readonly StreamDemand[] | undefined,
): readonly StreamDemand[] {
  if (earlier !== undefined && sameSources(sources, earlier)) return earlier;
  return sources.map((source) => ({
    subscriber,
    publisher: source.participant,
    kind: source.kind,
  }));
}

function sameSources(sources: readonly SourceRef[], pairs: readonly StreamDemand[]): boolean {
  if (sources.length !== pairs.length) return false;
  for (let i = 0; i < sources.length; i++) {
    const source = sources[i] as SourceRef;
    const pair = pairs[i] as StreamDemand;
    if (source.participant !== pair.publisher || source.kind !== pair.kind) return false;
  }
  return true;
}

/** The meeting's roster index, rebuilt only when the roster changed. */
function indexedRoster(meeting: MeetingState): IndexedRoster | undefined {
  if (meeting.roster !== undefined && sameRoster(meeting, meeting.roster)) return meeting.roster;
  const members = [...meeting.members.values()].map((m) => ({
    id: m.id,
    joinOrder: m.joinOrder,
    publishes: [...m.publishes],
  }));
  const activeSpeakers = [...meeting.activeSpeakers];
  const index = indexRoster({ participants: members, departed: meeting.departed, activeSpeakers });
  if (!index.ok) return undefined;
  meeting.roster = {
    members,
    departedCount: meeting.departed.length,
    activeSpeakers,
    index: index.value,
  };
  return meeting.roster;
}
