/**
 * What a Meeting Controller holds of a meeting's people: its members (with what each publishes
 * and the layout each asked for), who has left, and the active-speaker history. The layout
 * engine reads it (`meetingDemand`); the meeting machine changes it.
 */
import type { HandlerId, MediaKind, ParticipantId, RegionId } from '../ids.ts';
import type { LayoutRequest } from '../layout/types.ts';
import type { MeetingLayouts } from './layouts.ts';

/** One member of a meeting as its Meeting Controller holds it. */
export interface Member {
  readonly id: ParticipantId;
  readonly region: RegionId;
  readonly joinOrder: number;
  publishes: MediaKind[];
  layout: LayoutRequest;
  /** The handler the client reported its media session on, once it has. */
  connectedHandler: HandlerId | undefined;
  /** The handler the member was last told to move to, until it reports being there. */
  movingTo: HandlerId | undefined;
}

/** A meeting's roster: members in join order, the departed, the speaker history. */
export interface MeetingRoster {
  readonly members: Map<ParticipantId, Member>;
  /** Participants who left, in the order they left (the list only grows). */
  readonly departed: ParticipantId[];
  /** Most recent speaker first, at most eight. */
  activeSpeakers: ParticipantId[];
  /** The roster index of the last layout computation, and what each member's came from. */
  roster: MeetingLayouts | undefined;
}

/** An empty roster. */
export function emptyRoster(): MeetingRoster {
  return { members: new Map(), departed: [], activeSpeakers: [], roster: undefined };
}
