import type { LayoutRequest } from '../../core/layout/types.ts';
import type { SimRandom } from '../engine/random.ts';

/** Requests are immutable values: every participant asking for one layout shares one object. */
const requestsByName = new Map<string, LayoutRequest>();

/** The layout a participant asks for, by the scenario's layout name. */
export function layoutRequestNamed(name: string): LayoutRequest {
  let request = requestsByName.get(name);
  if (request === undefined) {
    request = buildRequest(name);
    requestsByName.set(name, request);
  }
  return request;
}

function buildRequest(name: string): LayoutRequest {
  if (name === 'speaker') return { type: 'speaker', thumbnails: 4, streamIds: [1, 2, 3, 4, 5] };
  const match = /^grid(\d+)x(\d+)$/.exec(name);
  const rows = match === null ? 3 : Number(match[1]);
  const columns = match === null ? 3 : Number(match[2]);
  return {
    type: 'grid',
    rows,
    columns,
    streamIds: Array.from({ length: rows * columns }, (_, i) => i + 1),
  };
}

/** A meeting size: the minimum plus an exponential excess with the configured mean, capped. */
export function drawMeetingSize(
  random: SimRandom,
  participants: { mean: number; min: number; max: number },
): number {
  const extra = random.exponential(participants.mean - participants.min);
  return Math.min(participants.max, participants.min + Math.round(extra));
}
