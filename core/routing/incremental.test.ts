import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPlan } from './check.ts';
import { planKeepingHomes, planRouting } from './planner.ts';
import { arbitraryRoutingInput, makeHandler, makeParticipant, wants } from './testing.ts';
import {
  BANDWIDTH_HARD_LIMIT_RATIO,
  DEFAULT_STREAM_BITRATE_BPS,
  type RoutingInput,
  type RoutingPlan,
  type StreamDemand,
} from './types.ts';
import { MEDIA_KINDS, handlerId, meetingId, type MediaKind } from '../ids.ts';

const RUNS = { numRuns: 150 };
const ample = arbitraryRoutingInput({ maxParticipants: 30, maxHandlers: 8, ampleCapacity: true });
const constrained = arbitraryRoutingInput({
  maxParticipants: 30,
  maxHandlers: 8,
  ampleCapacity: false,
});

/**
 * One change that moves nobody: a new demand (who shows whom, as a new speaker or layout gives)
 * and new loads from other meetings on the same handlers, whose health does not change.
 */
const demandChange = fc.record({
  draws: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...MEDIA_KINDS)), {
    maxLength: 120,
  }),
  loadScale: fc.array(fc.integer({ min: 0, max: 150 }), { maxLength: 8 }),
});

type DemandChange = typeof demandChange extends fc.Arbitrary<infer T> ? T : never;

function applyChange(input: RoutingInput, previous: RoutingPlan, c: DemandChange): RoutingInput {
  const ids = input.participants.map((p) => p.id);
  const demand: StreamDemand[] =
    ids.length < 2
      ? []
      : c.draws.flatMap(([s, p, kind]): StreamDemand[] => {
          const subscriber = ids[s % ids.length] as string;
          const publisher = ids[p % ids.length] as string;
          return subscriber === publisher ? [] : [wants(subscriber, publisher, kind)];
        });
  return {
    ...input,
    demand,
    handlers: input.handlers.map((h, i) => ({
      ...h,
      loadBps: (h.loadBps * (c.loadScale[i] ?? 100)) / 100,
    })),
    previous,
  };
}

const homesOf = (plan: RoutingPlan) =>
  new Map(plan.homes.map(({ participant, handler }) => [participant, handler]));

describe('planKeepingHomes: replanning a change that moves nobody', () => {
  it('keeps every home, passes every check and stays within every hard limit, over a sequence of changes', () => {
    fc.assert(
      fc.property(
        fc.oneof(ample, constrained),
        fc.array(demandChange, { minLength: 1, maxLength: 6 }),
        (start, changes) => {
          const first = planRouting(start);
          if (!first.ok) return;
          let input = start;
          let plan = first.value;
          for (const change of changes) {
            input = applyChange(input, plan, change);
            const kept = planKeepingHomes(input);
            if (kept === undefined) {
              // Only a handler past its hard limit stops it here (homes and health are kept).
              continue;
            }
            expect(kept.ok).toBe(true);
            if (!kept.ok) return;
            expect(homesOf(kept.value)).toEqual(homesOf(plan));
            expect(checkPlan(input, kept.value)).toEqual([]);
            for (const load of kept.value.loads)
              expect(load.totalBps).toBeLessThanOrEqual(load.hardLimitBps);
            plan = kept.value;
          }
        },
      ),
      RUNS,
    );
  });

  it('gives the fresh plan itself whenever fresh placement keeps the homes too', () => {
    let compared = 0;
    fc.assert(
      fc.property(fc.oneof(ample, constrained), demandChange, (start, change) => {
        const first = planRouting(start);
        if (!first.ok) return;
        const input = applyChange(start, first.value, change);
        const kept = planKeepingHomes(input);
        const fresh = planRouting(input);
        if (kept === undefined || !fresh.ok) return;
        if (!kept.ok) throw new Error('kept homes failed where fresh planning did not');
        const before = homesOf(first.value);
        const freshKeeps = fresh.value.homes.every((h) => before.get(h.participant) === h.handler);
        if (!freshKeeps) return;
        compared++;
        expect(kept.value).toEqual(fresh.value);
      }),
      RUNS,
    );
    expect(compared).toBeGreaterThan(RUNS.numRuns / 3);
  });

  it('is undefined without a previous plan, for a participant with no home, or a home that failed', () => {
    const handlers = [makeHandler('mh-a'), makeHandler('mh-b')];
    const participants = [makeParticipant('p1', 1), makeParticipant('p2', 2)];
    const base: RoutingInput = {
      meeting: meetingId('m1'),
      participants,
      handlers,
      demand: [wants('p1', 'p2', 'camera'), wants('p2', 'p1', 'camera')],
      latencyMs: {},
    };
    const first = planRouting(base);
    if (!first.ok) throw new Error('no first plan');
    expect(planKeepingHomes(base)).toBeUndefined();
    expect(planKeepingHomes({ ...base, participants: [], demand: [] })).toBeUndefined();
    const joined = {
      ...base,
      participants: [...participants, makeParticipant('p3', 3)],
      previous: first.value,
    };
    expect(planKeepingHomes(joined)).toBeUndefined();
    const home = first.value.homes[0]?.handler;
    const failed = {
      ...base,
      handlers: handlers.map((h) => (h.id === home ? { ...h, healthy: false } : h)),
      previous: first.value,
    };
    expect(planKeepingHomes(failed)).toBeUndefined();
    expect(planKeepingHomes({ ...base, previous: first.value })).toEqual(
      planRouting({ ...base, previous: first.value }),
    );
  });

  it('is undefined when the new legs would take a kept home past its hard limit', () => {
    const kinds: MediaKind[] = ['camera', 'audio', 'screen'];
    const ids = ['p1', 'p2', 'p3', 'p4'];
    // Every stream of every member shown to the three others: 12 in and 36 out on one handler.
    const heavyBps = 48 * DEFAULT_STREAM_BITRATE_BPS;
    const capacityBps = (heavyBps / BANDWIDTH_HARD_LIMIT_RATIO) * 1.25;
    const small = (loadBps: number) => makeHandler('mh-a', { capacityBps, loadBps });
    const base: RoutingInput = {
      meeting: meetingId('m1'),
      participants: ids.map((id, i) => makeParticipant(id, i)),
      handlers: [small(0)],
      demand: [wants('p1', 'p2', 'audio')],
      latencyMs: {},
    };
    const first = planRouting(base);
    if (!first.ok) throw new Error('no first plan');
    expect(first.value.homes.every((h) => h.handler === handlerId('mh-a'))).toBe(true);
    const everything = ids.flatMap((s) =>
      ids.flatMap((p) => (s === p ? [] : kinds.map((k) => wants(s, p, k)))),
    );
    const heavy = { ...base, demand: everything, previous: first.value };
    const fits = planKeepingHomes(heavy);
    expect(fits?.ok).toBe(true);
    const loaded = { ...heavy, handlers: [small(capacityBps / 2)] };
    expect(planKeepingHomes(loaded)).toBeUndefined();
    // Exactly at the hard limit is within it (as for planRouting).
    const exactCapacity = heavyBps / BANDWIDTH_HARD_LIMIT_RATIO;
    expect(exactCapacity * BANDWIDTH_HARD_LIMIT_RATIO).toBe(heavyBps);
    const atLimit = {
      ...heavy,
      handlers: [makeHandler('mh-a', { capacityBps: exactCapacity, loadBps: 0 })],
    };
    const kept = planKeepingHomes(atLimit);
    expect(kept?.ok && kept.value.loads[0]?.totalBps).toBe(heavyBps);
  });
});
