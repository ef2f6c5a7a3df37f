/**
 * Small builders shared by the layout engine's tests: rosters from names, and assignments
 * rendered as the spec writes them ("Alice (camera)").
 */
import { participantId, type MediaKind, type ParticipantId } from '../ids.ts';
import type { LayoutAssignment, Roster, RosterParticipant } from './types.ts';

/** A participant named `name` who joined `joinOrder`-th, publishing camera and audio by default. */
export function member(
  name: string,
  joinOrder: number,
  publishes: readonly MediaKind[] = ['camera', 'audio'],
): RosterParticipant {
  return { id: participantId(name), joinOrder, publishes };
}

/** A roster of `participants`, with speaker history (most recent first) and departed names. */
export function rosterOf(
  participants: readonly RosterParticipant[],
  activeSpeakers: readonly string[] = [],
  departed: readonly string[] = [],
): Roster {
  return {
    participants,
    activeSpeakers: activeSpeakers.map(participantId),
    departed: departed.map(participantId),
  };
}

/** Participant ids from names. */
export function ids(...names: string[]): ParticipantId[] {
  return names.map(participantId);
}

/** Each slot as "Name (kind)", or null when empty. */
export function rendered(assignment: LayoutAssignment): (string | null)[] {
  return assignment.slots.map((slot) =>
    slot.shows === null ? null : `${slot.shows.participant} (${slot.shows.kind})`,
  );
}
