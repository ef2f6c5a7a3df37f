import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MEDIA_KINDS, type MediaKind } from '../ids.ts';
import { changedDemandStreams, TouchedStreams } from './demand-change.ts';
import { demandKey, streamKey } from './keys.ts';
import { wants } from './testing.ts';
import type { StreamDemand } from './types.ts';

const people = ['ann', 'bo', 'cy', 'dee', 'eve'];

/** Counts of each pair by key (a multiset). */
function counts(pairs: readonly StreamDemand[]): Map<string, number> {
  const byKey = new Map<string, number>();
  for (const pair of pairs) byKey.set(demandKey(pair), (byKey.get(demandKey(pair)) ?? 0) + 1);
  return byKey;
}

/** `a` less `b`, as multisets. */
function less(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, n] of a) if (n > (b.get(key) ?? 0)) out.set(key, n - (b.get(key) ?? 0));
  return out;
}

const pairArb = fc.tuple(
  fc.constantFrom(...people),
  fc.constantFrom(...MEDIA_KINDS) as fc.Arbitrary<MediaKind>,
);

/** One run per subscriber (each a short list of pairs), some subscribers without one. */
const runsArb = fc.array(fc.option(fc.array(pairArb, { maxLength: 4 }), { nil: undefined }), {
  minLength: people.length,
  maxLength: people.length,
});

/** Per run: keep it (the same objects), remake it equal, drop a pair, add a pair, or replace. */
const runEditArb = fc.array(
  fc.tuple(fc.constantFrom('keep', 'keep', 'remake', 'drop', 'add', 'replace'), pairArb, fc.nat()),
  { minLength: people.length, maxLength: people.length },
);

function listOf(runs: readonly (StreamDemand[] | undefined)[]): StreamDemand[] {
  return runs.flatMap((run) => run ?? []);
}

describe('changedDemandStreams', () => {
  it('compares lists of the same runs, and reports every difference by stream and pair', () => {
    fc.assert(
      fc.property(runsArb, runEditArb, (drawn, edits) => {
        const runs = drawn.map((run, s) =>
          run?.map(([publisher, kind]) => wants(people[s] as string, publisher, kind)),
        );
        const edited = runs.map((run, s) => {
          if (run === undefined) return undefined;
          const [edit, [publisher, kind], at] = edits[s] as (typeof edits)[number];
          const subscriber = people[s] as string;
          const fresh = wants(subscriber, publisher, kind);
          if (edit === 'remake') return run.map((pair) => ({ ...pair }));
          if (edit === 'drop' && run.length > 0) return run.filter((_, i) => i !== at % run.length);
          if (edit === 'add')
            return [
              ...run.slice(0, at % (run.length + 1)),
              fresh,
              ...run.slice(at % (run.length + 1)),
            ];
          if (edit === 'replace' && run.length > 0)
            return run.map((p, i) => (i === at % run.length ? fresh : p));
          return run;
        });
        const before = listOf(runs);
        const after = listOf(edited);
        const touched = new TouchedStreams();
        const compared = changedDemandStreams(before, after, touched);
        // A run that empties out leaves the list: only lists with the same subscribers' runs
        // are sure to compare.
        const subscribersOf = (list: readonly (StreamDemand[] | undefined)[]) =>
          list.flatMap((run, s) => (run !== undefined && run.length > 0 ? [s] : []));
        if (subscribersOf(runs).join() === subscribersOf(edited).join())
          expect(compared).toBe(true);
        if (!compared) return;
        // Every pair one list has more often than the other is of a touched stream.
        const gained = less(counts(after), counts(before));
        const lost = less(counts(before), counts(after));
        for (const pair of [...before, ...after]) {
          if (gained.has(demandKey(pair)) || lost.has(demandKey(pair)))
            expect(touched.has(pair)).toBe(true);
        }
        // Nothing else: a stream is touched only for a pair its runs do not both hold.
        const differing = new Set<string>();
        runs.forEach((run, s) => {
          const other = edited[s] ?? [];
          const mine = counts(run ?? []);
          const theirs = counts(other);
          for (const pair of [...(run ?? []), ...other])
            if ((mine.get(demandKey(pair)) ?? 0) !== (theirs.get(demandKey(pair)) ?? 0))
              differing.add(streamKey(pair));
        });
        for (const stream of touched.sorted()) expect(differing.has(streamKey(stream))).toBe(true);
        const keys = touched.sorted().map(streamKey);
        expect(keys).toEqual([...new Set(keys)].sort());
      }),
      { numRuns: 500 },
    );
  });

  it('does not compare lists whose runs are other subscribers’', () => {
    const touched = new TouchedStreams();
    const before = [wants('bo', 'ann', 'camera'), wants('cy', 'ann', 'camera')];
    const after = [wants('bo', 'ann', 'camera'), wants('dee', 'ann', 'camera')];
    expect(changedDemandStreams(before, after, touched)).toBe(false);
    expect(changedDemandStreams(before, [...before, wants('dee', 'ann', 'camera')], touched)).toBe(
      false,
    );
  });

  it('reads no pair of runs that are the same objects', () => {
    const shared = [wants('bo', 'ann', 'camera'), wants('cy', 'ann', 'camera')];
    const unreadable = new Proxy(shared[0] as StreamDemand, {
      get: () => {
        throw new Error('read');
      },
    });
    const list = [unreadable, shared[1] as StreamDemand];
    const touched = new TouchedStreams();
    expect(changedDemandStreams(list, [...list], touched)).toBe(true);
    expect(touched.empty).toBe(true);
  });
});
