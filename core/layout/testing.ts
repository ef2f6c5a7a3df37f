/**
 * Small builders shared by the layout engine's tests: rosters from names, arbitrary rosters
 * over a pool, and assignments rendered as the spec writes them ("Alice (camera)").
 */
import fc from 'fast-check';
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

const MEDIA_KINDS: readonly MediaKind[] = ['camera', 'screen', 'audio'];

/**
 * Rosters over `pool`: some of it present, each with a join order up to `maxJoinOrder` and any
 * media (some publishing nothing); the rest departed, so any pool member may be named. The
 * speaker history comes from `activeSpeakers`.
 */
export function rosterOverPool(
  pool: readonly ParticipantId[],
  maxJoinOrder: number,
  activeSpeakers: fc.Arbitrary<ParticipantId[]>,
): fc.Arbitrary<Roster> {
  return fc
    .record({
      present: fc.uniqueArray(fc.constantFrom(...pool), { maxLength: pool.length }),
      joinOrders: fc.array(fc.integer({ min: 0, max: maxJoinOrder }), {
        minLength: pool.length,
        maxLength: pool.length,
      }),
      media: fc.array(fc.subarray([...MEDIA_KINDS]), {
        minLength: pool.length,
        maxLength: pool.length,
      }),
      activeSpeakers,
    })
    .map(({ present, joinOrders, media, activeSpeakers }) => ({
      participants: present.map((id) => {
        const index = pool.indexOf(id);
        return { id, joinOrder: joinOrders[index] ?? 0, publishes: media[index] ?? [] };
      }),
      departed: pool.filter((id) => !present.includes(id)),
      activeSpeakers,
    }));
}
