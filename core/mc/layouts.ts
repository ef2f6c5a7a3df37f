import {
  indexParticipants,
  indexSpeakers,
  shownSources,
  tileKind,
  type LayoutRequest,
  type ParticipantIndex,
  type RosterIndex,
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
 *
 * The controller computes who each member's layout shows (core's `shownSources`), which is what
 * routing needs, and not where each is placed: placement decides where a source goes, never
 * whether it is shown, and its signaling sends no assignment (`Layout` is reserved); the client
 * places its tiles with the same engine (client/web/src/layout.ts).
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
   * By member position, its last computation: the request it was made from (undefined before
   * the first and after core refused the request) and the member's demand, the pairs for the
   * sources that request shows, in source order (none if refused). A new index takes over the
   * last demands as earlier ones, to be redone.
   */
  readonly requests: (LayoutRequest | undefined)[];
  readonly demands: (readonly StreamDemand[])[];
  /**
   * The members' demands as one list, while no member's demand changed since it was put
   * together (new layouts for a new speaker history share the members' lists, and this, with the
   * layouts they replace).
   */
  combined: readonly StreamDemand[] | undefined;
}

/**
 * Every member's shown sources (core's `shownSources`) and the demand they add up to, in member
 * order (each member's pairs in source order: see `memberDemand`). The roster is indexed once
 * per roster change (only its speaker part when only the speaker history changed), and a member
 * whose roster and request are those of its last computation keeps its demand without
 * recomputing it. When only the speaker history changed, a member whose grid has room for
 * everyone it may show keeps its demand too (`showsEveryone`).
 */
export function meetingDemand(meeting: MeetingRoster): readonly StreamDemand[] {
  const known = meeting.roster;
  const layouts = currentLayouts(meeting, known);
  if (layouts === undefined) return [];
  // Nothing was computed against new layouts yet: they are for a new speaker history (the
  // members' last requests carried over) or for new members (none carried over).
  const fresh = layouts !== known;
  const memberCount = meeting.members.size;
  let input: MemberInput | undefined;
  let position = 0;
  for (const member of meeting.members.values()) {
    const current = layouts.requests[position] === member.layout;
    if (!current || (fresh && !showsEveryone(member.layout, memberCount))) {
      input = inputFor(input, layouts.index, member);
      recompute(layouts, position, member, input);
    }
    position++;
  }
  layouts.combined ??= ([] as StreamDemand[]).concat(...layouts.demands);
  return layouts.combined;
}

/**
 * Whether `request` is a grid with room for every member it may show (all of them, itself
 * included only with `includeSelf`): it shows every one of them, whatever the speaker history
 * (which orders them, and decides none of them).
 */
function showsEveryone(request: LayoutRequest, memberCount: number): boolean {
  if (request.type !== 'grid') return false;
  const showable = request.includeSelf === true ? memberCount : memberCount - 1;
  return request.rows * request.columns >= showable;
}

type MemberInput = {
  -readonly [K in keyof Parameters<typeof shownSources>[0]]: Parameters<typeof shownSources>[0][K];
};

/**
 * The input for `member`'s sources: `reused` itself when there is one (`shownSources` reads
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
  return input;
}

/** Works out what the member's layout shows and records the computation at its position. */
function recompute(
  layouts: MeetingLayouts,
  position: number,
  member: Member,
  input: MemberInput,
): void {
  const shown = shownSources(input);
  const earlier = layouts.demands[position] ?? [];
  const demand = shown.ok
    ? memberDemand(member.id, shown.value, earlier)
    : earlier.length === 0
      ? earlier
      : [];
  layouts.requests[position] = shown.ok ? member.layout : undefined;
  if (demand === earlier) return;
  layouts.demands[position] = demand;
  layouts.combined = undefined;
}

/**
 * The pairs for `sources` (in source order: publisher id, then kind). A member's demand is a
 * set, which routing reads without regard to order; one order for it makes equal sets equal
 * lists. `earlierDemand` is the member's last list: when the sources are the ones it lists, the
 * list is `earlierDemand` itself, so a change that shows the same sources (a new speaker taking
 * the main slot of a speaker view whose strip showed them, say) gives the controller nothing to
 * replan; otherwise each pair for a source it lists is its earlier object.
 */
function memberDemand(
  subscriber: ParticipantId,
  sources: readonly SourceRef[],
  earlierDemand: readonly StreamDemand[],
): readonly StreamDemand[] {
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

/** Whether `pairs` are, in order, the pairs for `sources`. */
function listsSources(pairs: readonly StreamDemand[], sources: readonly SourceRef[]): boolean {
  if (pairs.length !== sources.length) return false;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i] as StreamDemand;
    const source = sources[i] as SourceRef;
    if (pair.publisher !== source.participant || pair.kind !== source.kind) return false;
  }
  return true;
}

/** How a pair's source compares with `source` in source order (participant id, then kind). */
function comparePairToSource(pair: StreamDemand, source: SourceRef): number {
  return compareText(pair.publisher, source.participant) || compareText(pair.kind, source.kind);
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
    // The new layouts take over `known`'s per-member lists and their combined list: nothing
    // refers to `known` afterwards.
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
    demands: earlier.map((at) => (at === undefined ? [] : (known?.demands[at] ?? []))),
    combined: undefined,
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
