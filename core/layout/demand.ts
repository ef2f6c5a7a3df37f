/**
 * What an assignment means for the rest of the platform: the sources the router must forward
 * to the subscriber, and the slots whose content the subscriber must be told about.
 */
import type { LayoutAssignment, Slot, SourceRef, StreamId } from './types.ts';

/**
 * The sources a subscriber needs for its assignment, in slot order: exactly what the router must
 * forward to it. A camera tile demands the camera only (audio is not implied).
 */
export function layoutDemand(assignment: LayoutAssignment): SourceRef[] {
  const demand: SourceRef[] = [];
  for (const slot of assignment.slots) if (slot.shows !== null) demand.push(slot.shows);
  return demand;
}

/**
 * The slots of `next` whose content differs from what the same stream id showed in `previous`
 * (a stream id `previous` lacks counts as empty there): the subscribe commands to send.
 */
export function changedSlots(
  previous: LayoutAssignment | undefined,
  next: LayoutAssignment,
): Slot[] {
  const before = new Map<StreamId, SourceRef | null>();
  for (const slot of previous?.slots ?? []) before.set(slot.streamId, slot.shows);
  return next.slots.filter((slot) => !sameSource(before.get(slot.streamId) ?? null, slot.shows));
}

function sameSource(a: SourceRef | null, b: SourceRef | null): boolean {
  if (a === null || b === null) return a === b;
  return a.participant === b.participant && a.kind === b.kind;
}
