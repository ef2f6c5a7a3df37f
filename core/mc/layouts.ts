import {
  assignLayout,
  indexParticipants,
  indexSpeakers,
  tileKind,
  type AssignLayoutInput,
  type LayoutAssignment,
  type LayoutRequest,
  type ParticipantIndex,
  type RosterIndex,
  type Slot,
  type SourceRef,
} from '../layout/index.ts';
import type { MediaKind, ParticipantId } from '../ids.ts';
import { compareText } from '../routing/keys.ts';
import type { StreamDemand } from '../routing/types.ts';
import type { Member, MeetingRoster } from './roster.ts';

/**
 * A meeting's layouts as last computed: the roster index and what it was built from, and what
 * each member's demand was computed from. Core's layout engine reads from the meeting the members
 * (their ids and join orders, which are readonly, and their tiles: it reads what a participant
 * publishes only through `tileKind`), how many have departed (the list only grows) and the
 * active-speaker history (copied). A meeting keeps the same object while these stay the same.
 */
export interface MeetingLayouts {
  /** The members the index was built from, in order. */
  readonly members: readonly Member[];
  /** The tile of each, from what it published. */
  readonly tiles: readonly (MediaKind | null)[];
  /**
   * The list of what each published, as the tile was read from: the controller replaces a
   * member's list when it changes, never edits it, so the same list gives the same tile.
   */
  readonly publishes: readonly (readonly MediaKind[])[];
  readonly departedCount: number;
  readonly activeSpeakers: readonly ParticipantId[];
  /** The index of the members and the departed, which the speaker history does not change. */
  readonly participants: ParticipantIndex;
  readonly index: RosterIndex;
  /**
   * By member position, its last computation: the request it was made from and the assignment
   * it gave (both undefined before the first and after core refused the request), and the
   * member's demand, the pairs for the sources that assignment shows in source order (none if
   * refused). A new index takes over the last computations as earlier ones, to be redone.
   */
  readonly requests: (LayoutRequest | undefined)[];
  readonly assignments: (LayoutAssignment | undefined)[];
  readonly demands: (readonly StreamDemand[])[];
}

/**
 * Every member's layout (core's `assignLayout` against the previous assignment) and the demand
 * they add up to, in member order (each member's pairs in source order: see `memberDemand`).
 * The roster is indexed once per roster change (only its speaker part when only the speaker
 * history changed), and a member whose roster, request and assignment are those of its last
 * computation keeps that assignment without recomputing it: `assignLayout` is idempotent on its
 * own output. Who is visible depends only on roster and request, so the same entries are ranked
 * again; each already holds a slot of its own in the previous assignment (every entry was
 * placed, since there are never more entries than slots), so stable placement keeps each in
 * that slot and fills no other, which reproduces the previous assignment exactly (speaker view's
 * main slot likewise depends on roster and request alone, and its participant is kept out of
 * the strip). When the speaker history was only reordered, a
 * member whose grid shows everyone it may show keeps its assignment too (`showsEveryone`).
 */
export function meetingDemand(meeting: MeetingRoster): readonly StreamDemand[] {
  const known = meeting.roster;
  const layouts = currentLayouts(meeting, known);
  if (layouts === undefined) return [];
  // Nothing was computed against new layouts yet.
  const fresh = layouts !== known;
  const reordered = fresh && known !== undefined && onlyReordered(known, layouts);
  const memberCount = meeting.members.size;
  let input: MemberInput | undefined;
  let position = 0;
  for (const member of meeting.members.values()) {
    const current = isCurrent(layouts, position, member);
    const kept = fresh
      ? reordered && current && showsEveryone(member.layout, memberCount)
      : current;
    if (!kept) {
      input = inputFor(input, layouts.index, member);
      recompute(layouts, position, member, input);
    }
    position++;
  }
  return combinedDemand(meeting, layouts.demands);
}

/** Each meeting's last demand and the members' demand lists it was put together from. */
const lastCombined = new WeakMap<
  MeetingRoster,
  { readonly parts: readonly (readonly StreamDemand[])[]; readonly demand: readonly StreamDemand[] }
>();

/**
 * The members' demands in member order, as one list: the meeting's last such list when every
 * member's list is the one it was made from (a speaker change that moves nobody's tiles, say),
 * so the controller's "did the demand change" question is answered without reading it.
 */
function combinedDemand(
  meeting: MeetingRoster,
  parts: readonly (readonly StreamDemand[])[],
): readonly StreamDemand[] {
  const last = lastCombined.get(meeting);
  if (last !== undefined && sameList(last.parts, parts)) return last.demand;
  const demand = ([] as StreamDemand[]).concat(...parts);
  lastCombined.set(meeting, { parts: [...parts], demand });
  return demand;
}

/**
 * Whether `layouts`, built for a new speaker history over `known`'s participants, only reorders
 * who has spoken: the same present participants (with a tile) are active speakers in both.
 */
function onlyReordered(known: MeetingLayouts, layouts: MeetingLayouts): boolean {
  if (layouts.participants !== known.participants) return false;
  const before = known.index.speakers;
  const after = layouts.index.speakers;
  if (before.length !== after.length) return false;
  const spoke = new Set(before.map((speaker) => speaker.participant));
  return after.every((speaker) => spoke.has(speaker.participant));
}

/**
 * Whether `request` is a grid with room for every member it may show (all of them, itself
 * included only with `includeSelf`). When the speaker history is only reordered
 * (`onlyReordered`), a member whose last computation, against the previous index, was from this
 * request and gave its current assignment keeps that assignment: who may be shown does not depend
 * on the history, and all of them fit, so the grid shows every one of them again, each with the
 * same tile and for the same reason (pinned, screen share, active speaker or join order: of these
 * the history decides only whether one has spoken, which is unchanged). The last assignment shows
 * exactly them, each once, so stable placement keeps each in its slot and fills no other, which
 * reproduces it.
 */
function showsEveryone(request: LayoutRequest, memberCount: number): boolean {
  if (request.type !== 'grid') return false;
  const showable = request.includeSelf === true ? memberCount : memberCount - 1;
  return request.rows * request.columns >= showable;
}

/** Whether the member's last computation was from its current request and assignment. */
function isCurrent(layouts: MeetingLayouts, position: number, member: Member): boolean {
  return (
    layouts.requests[position] === member.layout &&
    layouts.assignments[position] === member.assignment
  );
}

type MemberInput = { -readonly [K in keyof AssignLayoutInput]: AssignLayoutInput[K] };

/**
 * The input for `member`'s assignment: `reused` itself when there is one (`assignLayout` reads
 * its input and keeps nothing of it, so one object serves every member of a call).
 */
function inputFor(
  reused: MemberInput | undefined,
  roster: RosterIndex,
  member: Member,
): MemberInput {
  const input = reused ?? { roster, subscriber: member.id, request: member.layout };
  input.subscriber = member.id;
  input.request = member.layout;
  input.previous = member.assignment;
  return input;
}

/** Assigns the member's layout and records the computation at its position. */
function recompute(
  layouts: MeetingLayouts,
  position: number,
  member: Member,
  input: MemberInput,
): void {
  const assigned = assignLayout(input);
  if (!assigned.ok) {
    layouts.requests[position] = undefined;
    layouts.assignments[position] = undefined;
    layouts.demands[position] = [];
    return;
  }
  const assignment = assigned.value;
  const demand = memberDemand(
    member.id,
    assignment,
    layouts.assignments[position],
    layouts.demands[position] ?? [],
  );
  member.assignment = assignment;
  layouts.requests[position] = member.layout;
  layouts.assignments[position] = assignment;
  layouts.demands[position] = demand;
}

/**
 * The pairs for the sources `assignment` shows, in source order (publisher id, then kind). A
 * member's demand is a set, which routing reads without regard to order; one order for it makes
 * equal sets equal lists. `earlierDemand` is the member's last list, made from `earlier`: when
 * the sources are the ones it lists, the list is `earlierDemand` itself, so a layout change that
 * only moves tiles (a new speaker taking the main slot of a speaker view whose strip showed them,
 * say) is neither rebuilt nor read, and gives the controller nothing to replan; otherwise each
 * pair for a source it lists is its earlier object. When every slot shows what it did in
 * `earlier` (a new reason, or nothing new at all), that is known without sorting.
 */
function memberDemand(
  subscriber: ParticipantId,
  assignment: LayoutAssignment,
  earlier: LayoutAssignment | undefined,
  earlierDemand: readonly StreamDemand[],
): readonly StreamDemand[] {
  if (earlier !== undefined && slotsShowTheSame(earlier.slots, assignment.slots)) {
    return earlierDemand;
  }
  const sources = shownSources(assignment.slots);
  if (listsSources(earlierDemand, sources)) return earlierDemand;
  const pairs = new Array<StreamDemand>(sources.length);
  let cursor = 0;
  for (let i = 0; i < sources.length; i++) {
    const source = sources[i] as SourceRef;
    while (
      cursor < earlierDemand.length &&
      comparePairToSource(earlierDemand[cursor] as StreamDemand, source) < 0
    )
      cursor++;
    const earlierPair = earlierDemand[cursor];
    pairs[i] =
      earlierPair !== undefined && comparePairToSource(earlierPair, source) === 0
        ? earlierPair
        : { subscriber, publisher: source.participant, kind: source.kind };
  }
  return pairs;
}

/** Whether each slot shows the source the same slot shows in `before`, or nothing in both. */
function slotsShowTheSame(before: readonly Slot[], after: readonly Slot[]): boolean {
  if (before.length !== after.length) return false;
  for (let i = 0; i < after.length; i++) {
    const a = (before[i] as Slot).shows;
    const b = (after[i] as Slot).shows;
    if (a === b) continue;
    if (a === null || b === null || a.participant !== b.participant || a.kind !== b.kind)
      return false;
  }
  return true;
}

/** The sources the slots show, in source order (an insertion sort: a layout has a few slots). */
function shownSources(slots: readonly Slot[]): SourceRef[] {
  const sources: SourceRef[] = [];
  for (const slot of slots) {
    const source = slot.shows;
    if (source === null) continue;
    let at = sources.length;
    while (at > 0 && compareSources(sources[at - 1] as SourceRef, source) > 0) {
      sources[at] = sources[at - 1] as SourceRef;
      at--;
    }
    sources[at] = source;
  }
  return sources;
}

/** Whether `pairs` are, in order, the pairs for `sources`. */
function listsSources(pairs: readonly StreamDemand[], sources: readonly SourceRef[]): boolean {
  if (pairs.length !== sources.length) return false;
  for (let i = 0; i < pairs.length; i++) {
    if (comparePairToSource(pairs[i] as StreamDemand, sources[i] as SourceRef) !== 0) return false;
  }
  return true;
}

/** How a pair's source compares with `source` in source order. */
function comparePairToSource(pair: StreamDemand, source: SourceRef): number {
  return compareSourceOf(pair.publisher, pair.kind, source);
}

function compareSources(a: SourceRef, b: SourceRef): number {
  return compareSourceOf(a.participant, a.kind, b);
}

/** Source order: by participant id, then by kind. */
function compareSourceOf(participant: ParticipantId, kind: MediaKind, source: SourceRef): number {
  return compareText(participant, source.participant) || compareText(kind, source.kind);
}

/**
 * The meeting's layouts: `known` while the roster is the one it was built from; else new ones,
 * with only the speaker part of the index rebuilt when the members and the departed are those
 * `known` was built from. The members' last computations carry over, as the earlier ones.
 */
function currentLayouts(
  meeting: MeetingRoster,
  known: MeetingLayouts | undefined,
): MeetingLayouts | undefined {
  if (known !== undefined && sameParticipants(meeting, known)) {
    if (sameList(known.activeSpeakers, meeting.activeSpeakers)) return known;
    const activeSpeakers = [...meeting.activeSpeakers];
    // The new layouts take over `known`'s per-member lists: nothing refers to `known` afterwards.
    meeting.roster = {
      ...known,
      activeSpeakers,
      index: indexSpeakers(known.participants, activeSpeakers),
    };
    return meeting.roster;
  }
  const members = [...meeting.members.values()];
  const participants = indexParticipants({
    participants: members.map(({ id, joinOrder, publishes }) => ({ id, joinOrder, publishes })),
    departed: meeting.departed,
  });
  if (!participants.ok) return undefined;
  const activeSpeakers = [...meeting.activeSpeakers];
  const earlier = earlierPositions(members, known);
  meeting.roster = {
    members,
    tiles: members.map((member) => tileKind(member.publishes)),
    publishes: members.map((member) => member.publishes),
    departedCount: meeting.departed.length,
    activeSpeakers,
    participants: participants.value,
    index: indexSpeakers(participants.value, activeSpeakers),
    requests: members.map(() => undefined),
    assignments: earlier.map((at) => (at === undefined ? undefined : known?.assignments[at])),
    demands: earlier.map((at) => (at === undefined ? [] : (known?.demands[at] ?? []))),
  };
  return meeting.roster;
}

/** Where each of `members` was among `known`'s members, if it was. */
function earlierPositions(
  members: readonly Member[],
  known: MeetingLayouts | undefined,
): (number | undefined)[] {
  const position = new Map(known?.members.map((member, index) => [member, index]));
  return members.map((member) => position.get(member));
}

/** Whether the meeting's members and departed are still those `layouts` was built from. */
function sameParticipants(meeting: MeetingRoster, layouts: MeetingLayouts): boolean {
  if (
    layouts.departedCount !== meeting.departed.length ||
    layouts.members.length !== meeting.members.size
  )
    return false;
  let position = 0;
  for (const member of meeting.members.values()) {
    if (member !== layouts.members[position]) return false;
    const publishes = member.publishes;
    if (
      publishes !== layouts.publishes[position] &&
      tileKind(publishes) !== layouts.tiles[position]
    )
      return false;
    position++;
  }
  return true;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
