export { layoutRequestNamed } from '../../core/layout/named.ts';
import type { SimRandom } from '../engine/random.ts';

/** A meeting size: the minimum plus an exponential excess with the configured mean, capped. */
export function drawMeetingSize(
  random: SimRandom,
  participants: { mean: number; min: number; max: number },
): number {
  const extra = random.exponential(participants.mean - participants.min);
  return Math.min(participants.max, participants.min + Math.round(extra));
}
