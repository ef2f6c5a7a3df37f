/**
 * Audio forwarding: every member hears every other member who publishes audio, whatever the
 * layouts show (a layout's tiles demand video only). The meeting adds these pairs to the layouts'
 * demand when its config asks for it (`forwardAudio`).
 */
import type { ParticipantId } from '../ids.ts';
import type { StreamDemand } from '../routing/types.ts';
import type { Member } from './roster.ts';

/**
 * `layoutDemand` followed by one audio pair per (subscriber, other member publishing audio), in
 * member order; `layoutDemand` itself when no member publishes audio or only one member is present.
 */
export function withAudioDemand(
  members: ReadonlyMap<ParticipantId, Member>,
  layoutDemand: readonly StreamDemand[],
): readonly StreamDemand[] {
  const speakers: ParticipantId[] = [];
  for (const member of members.values())
    if (member.publishes.includes('audio')) speakers.push(member.id);
  if (speakers.length === 0 || members.size < 2) return layoutDemand;
  const demand = [...layoutDemand];
  for (const subscriber of members.keys()) {
    for (const publisher of speakers) {
      if (publisher !== subscriber) demand.push({ subscriber, publisher, kind: 'audio' });
    }
  }
  return demand;
}
