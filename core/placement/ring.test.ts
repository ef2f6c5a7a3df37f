import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VIRTUAL_NODES_PER_NODE, buildRing, firstAccepted, ringOwner } from './ring.ts';

const MEETINGS = Array.from({ length: 20_000 }, (_, i) => `meeting-${i}`);

const nodeNames = (minLength: number, maxLength: number) =>
  fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength, maxLength });

function owners(nodes: readonly string[]): (string | undefined)[] {
  const ring = buildRing(nodes);
  return MEETINGS.map((meeting) => ringOwner(ring, meeting));
}

/**
 * Tolerance for the share of meetings that move when one of N nodes joins or leaves: the moved
 * share is that node's share of the ring, 1/N on average. With 128 virtual nodes a node's share
 * has a coefficient of variation of about 1/sqrt(128) = 0.09, and sampling 20,000 meetings adds
 * at most about 0.04 (N = 30), so +/-50% of 1/N is more than five standard deviations.
 */
const RELATIVE_TOLERANCE = 0.5;

describe('consistent hash ring', () => {
  it('places 128 points per node', () => {
    const ring = buildRing(['a', 'b', 'c']);
    expect(ring.points.length).toBe(3 * VIRTUAL_NODES_PER_NODE);
    expect(ring.nodes).toEqual(['a', 'b', 'c']);
  });

  it('has no owner when empty', () => {
    expect(ringOwner(buildRing([]), 'meeting-1')).toBeUndefined();
    expect(firstAccepted(buildRing([]), 'meeting-1', () => true)).toBeUndefined();
  });

  it('is the same ring whatever the order of, or duplicates in, its nodes', () => {
    fc.assert(
      fc.property(
        nodeNames(1, 20).chain((nodes) =>
          fc.tuple(fc.constant(nodes), fc.shuffledSubarray(nodes, { minLength: nodes.length })),
        ),
        ([nodes, shuffled]) => {
          expect(buildRing([...shuffled, ...shuffled])).toEqual(buildRing(nodes));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('spreads meetings evenly: no node owns more than 1.5 times its fair share', () => {
    const nodes = Array.from({ length: 10 }, (_, i) => `mc-${i}`);
    const counts = new Map<string, number>();
    for (const owner of owners(nodes)) counts.set(owner ?? '', (counts.get(owner ?? '') ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual([...nodes].sort());
    for (const count of counts.values()) expect(count).toBeLessThan(1.5 * (MEETINGS.length / 10));
  });

  it('moves about 1/N of meetings when a node joins, all of them to the new node', () => {
    fc.assert(
      fc.property(nodeNames(3, 31), (names) => {
        const [added, ...existing] = names as [string, ...string[]];
        const before = owners(existing);
        const after = owners([...existing, added]);
        let moved = 0;
        for (let i = 0; i < MEETINGS.length; i++) {
          if (before[i] === after[i]) continue;
          moved++;
          expect(after[i]).toBe(added);
        }
        expectShareNear(moved, names.length);
      }),
      { numRuns: 25 },
    );
  });

  it('moves about 1/N of meetings when a node leaves, all of them from the removed node', () => {
    fc.assert(
      fc.property(nodeNames(3, 31), (names) => {
        const [removed, ...remaining] = names as [string, ...string[]];
        const before = owners(names);
        const after = owners(remaining);
        let moved = 0;
        for (let i = 0; i < MEETINGS.length; i++) {
          if (before[i] === after[i]) continue;
          moved++;
          expect(before[i]).toBe(removed);
        }
        expect(after).not.toContain(removed);
        expectShareNear(moved, names.length);
      }),
      { numRuns: 25 },
    );
  });

  it('walks clockwise to the first accepted node, which is the owner if accepted', () => {
    fc.assert(
      fc.property(nodeNames(2, 12), fc.string(), fc.nat(), (nodes, meeting, skip) => {
        const ring = buildRing(nodes);
        const owner = ringOwner(ring, meeting);
        expect(firstAccepted(ring, meeting, () => true)).toBe(owner);
        const rejected = nodes[skip % nodes.length];
        const chosen = firstAccepted(ring, meeting, (node) => node !== rejected);
        expect(chosen).not.toBe(rejected);
        if (owner !== rejected) expect(chosen).toBe(owner);
        // Removing the rejected node from the ring gives the same answer: the walk is the ring
        // without it.
        if (owner === rejected) {
          expect(chosen).toBe(ringOwner(buildRing(nodes.filter((n) => n !== rejected)), meeting));
        }
        expect(firstAccepted(ring, meeting, () => false)).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });
});

function expectShareNear(moved: number, nodeCount: number): void {
  const fair = MEETINGS.length / nodeCount;
  expect(moved).toBeGreaterThan(fair * (1 - RELATIVE_TOLERANCE));
  expect(moved).toBeLessThan(fair * (1 + RELATIVE_TOLERANCE));
}
