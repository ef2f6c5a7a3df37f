/**
 * Layout requests by the names scenarios and load runs use: `speaker` (speaker view with four
 * thumbnails) and `grid` or `gridRxC` (a grid of R rows and C columns; `grid` is 3x3).
 */
import type { LayoutRequest } from './types.ts';

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
