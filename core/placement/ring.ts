/**
 * A consistent hash ring with virtual nodes. Each node owns `VIRTUAL_NODES_PER_NODE` points,
 * placed at `murmur3("<node>#<i>")`; a key belongs to the node owning the first point at or
 * after `murmur3(key)`, wrapping around. Adding or removing one of N nodes therefore moves
 * only the keys that node gains or loses, about 1/N of them.
 *
 * The ring is an immutable value, built from a set of nodes: the same set (in any order)
 * always gives the same ring.
 */
import { murmur3 } from './hash.ts';

/**
 * Points per node. A node's share of the ring varies with a coefficient of variation of about
 * 1/sqrt(128), roughly 9%, which keeps the largest controller's load near the mean.
 */
export const VIRTUAL_NODES_PER_NODE = 128;

export interface HashRing<Node extends string> {
  /** The distinct nodes, sorted. */
  readonly nodes: readonly Node[];
  /** Point positions on the ring, ascending. */
  readonly points: Uint32Array;
  /** For each point, the index in `nodes` of the node that owns it. */
  readonly owners: Uint32Array;
}

/** Builds the ring for a set of nodes. Duplicates are ignored; order does not matter. */
export function buildRing<Node extends string>(nodes: Iterable<Node>): HashRing<Node> {
  const distinct = [...new Set(nodes)].sort();
  const placed: { point: number; owner: number }[] = [];
  distinct.forEach((node, owner) => {
    for (let i = 0; i < VIRTUAL_NODES_PER_NODE; i++) {
      placed.push({ point: murmur3(`${node}#${i}`), owner });
    }
  });
  // Ties between points (rare with 32-bit positions) go to the node that sorts first.
  placed.sort((a, b) => a.point - b.point || a.owner - b.owner);
  return {
    nodes: distinct,
    points: Uint32Array.from(placed, (p) => p.point),
    owners: Uint32Array.from(placed, (p) => p.owner),
  };
}

/** The node that owns `key`, or undefined on an empty ring. */
export function ringOwner<Node extends string>(
  ring: HashRing<Node>,
  key: string,
): Node | undefined {
  if (ring.points.length === 0) return undefined;
  const owner = ring.owners[firstPointAtOrAfter(ring.points, murmur3(key))];
  return owner === undefined ? undefined : ring.nodes[owner];
}

/**
 * The first node clockwise from `key` that `accept` admits: the owner if it qualifies, else
 * the next distinct node along the ring, and so on. Each node is offered at most once, so a
 * key keeps the same preference order while the ring is unchanged.
 */
export function firstAccepted<Node extends string>(
  ring: HashRing<Node>,
  key: string,
  accept: (node: Node) => boolean,
): Node | undefined {
  const count = ring.points.length;
  if (count === 0) return undefined;
  const start = firstPointAtOrAfter(ring.points, murmur3(key));
  const offered = new Uint8Array(ring.nodes.length);
  let distinctOffered = 0;
  for (let step = 0; step < count && distinctOffered < ring.nodes.length; step++) {
    const owner = ring.owners[(start + step) % count] ?? 0;
    if (offered[owner] === 1) continue;
    offered[owner] = 1;
    distinctOffered++;
    const node = ring.nodes[owner];
    if (node !== undefined && accept(node)) return node;
  }
  return undefined;
}

/** Index of the first point >= position, wrapping to 0 past the last point. */
function firstPointAtOrAfter(points: Uint32Array, position: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((points[middle] ?? 0) < position) low = middle + 1;
    else high = middle;
  }
  return low === points.length ? 0 : low;
}
