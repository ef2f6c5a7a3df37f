import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPlan } from './check.ts';
import { RouteGraph, deliveredHops } from './graph.ts';
import { demandKey, routeKey, sortByKey } from './keys.ts';
import { routesOf } from './loads.ts';
import { planRouting } from './planner.ts';
import { rankHandlers } from './rank.ts';
import { arbitraryRoutingInput, makeHandler, reorderInput } from './testing.ts';
import { applySteps, findTransitionGaps, keptDemand, planTransition } from './transition.ts';
import {
  BANDWIDTH_HARD_LIMIT_RATIO,
  DEFAULT_STREAM_BITRATE_BPS,
  MAX_CASCADE_HOPS,
  type Route,
  type RoutingHandler,
  type RoutingInput,
  type StreamDemand,
} from './types.ts';
import { regionId } from '../ids.ts';

const RUNS = { numRuns: 150 };
const ample = arbitraryRoutingInput({ maxParticipants: 30, maxHandlers: 8, ampleCapacity: true });
const constrained = arbitraryRoutingInput({
  maxParticipants: 30,
  maxHandlers: 8,
  ampleCapacity: false,
});

/** Each demanded pair, once. */
const distinctPairs = (demand: readonly StreamDemand[]) => new Set(demand.map(demandKey));

describe('planRouting properties', () => {
  it('always plans a meeting with room to spare, and the plan passes every check', () => {
    fc.assert(
      fc.property(ample, (input) => {
        const result = planRouting(input);
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(checkPlan(input, result.value)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('delivers every demanded pair exactly once, within two hops, with no loops', () => {
    fc.assert(
      fc.property(fc.oneof(ample, constrained), (input) => {
        const result = planRouting(input);
        if (!result.ok) return;
        const plan = result.value;
        const delivered = plan.deliveries.map(demandKey);
        expect(new Set(delivered).size).toBe(delivered.length);
        expect(new Set(delivered)).toEqual(distinctPairs(input.demand));
        const violations = checkPlan(input, plan).map((v) => v.kind);
        expect(violations).not.toContain('loop');
        expect(violations).not.toContain('too-many-hops');
        expect(violations).not.toContain('received-twice');
      }),
      RUNS,
    );
  });

  it('never takes a handler past its hard limit; otherwise reports which did not fit', () => {
    fc.assert(
      fc.property(constrained, (input) => {
        const result = planRouting(input);
        if (result.ok) {
          expect(checkPlan(input, result.value)).toEqual([]);
          for (const load of result.value.loads) {
            expect(load.totalBps).toBeLessThanOrEqual(load.hardLimitBps);
          }
          return;
        }
        const error = result.error;
        if (error.kind === 'no-healthy-handler') {
          expect(input.handlers.every((h) => !h.healthy)).toBe(true);
          return;
        }
        expect(error.kind).toBe('insufficient-capacity');
        if (error.kind !== 'insufficient-capacity') return;
        expect(error.unplaced.length + error.overloaded.length).toBeGreaterThan(0);
        for (const o of error.overloaded) expect(o.plannedBps).toBeGreaterThan(o.hardLimitBps);
      }),
      RUNS,
    );
  });

  it('gives the same plan whatever order the input lists things in', () => {
    fc.assert(
      fc.property(fc.oneof(ample, constrained), fc.integer(), (input, seed) => {
        expect(planRouting(reorderInput(input, seed))).toEqual(planRouting(input));
      }),
      RUNS,
    );
  });

  it('does not move earlier joiners when someone joins', () => {
    fc.assert(
      fc.property(ample, (input) => {
        const last = [...input.participants].sort(
          (a, b) => a.joinOrder - b.joinOrder || (a.id < b.id ? -1 : 1),
        )[input.participants.length - 1];
        if (last === undefined) return;
        const without: RoutingInput = {
          ...input,
          participants: input.participants.filter((p) => p.id !== last.id),
          demand: input.demand.filter((d) => d.subscriber !== last.id && d.publisher !== last.id),
        };
        const earlier = planRouting(without);
        const later = planRouting({ ...input, previous: earlier.ok ? earlier.value : undefined });
        if (!earlier.ok || !later.ok) return;
        const homesAfter = new Map(later.value.homes.map((h) => [h.participant, h.handler]));
        for (const { participant, handler } of earlier.value.homes) {
          expect(homesAfter.get(participant)).toBe(handler);
        }
      }),
      RUNS,
    );
  });
});

/** An idle healthy handler with a random region, site, capacity, quality and capabilities. */
const idleHandler: fc.Arbitrary<RoutingHandler> = fc
  .record({
    id: fc.constantFrom('mh-a', 'mh3a', 'mhz'),
    region: fc.constantFrom('us-west-1', 'us-east-1', 'eu-west-1'),
    site: fc.constantFrom('dc1', 'dc2', 'dc3'),
    capacityMbps: fc.integer({ min: 1, max: 2_000 }),
    quality: fc.integer({ min: 0, max: 100 }),
    capabilities: fc.subarray(['transcoding', 'audio-mixing'] as const),
  })
  .map((h) =>
    makeHandler(h.id, {
      region: regionId(h.region),
      site: h.site,
      capacityBps: h.capacityMbps * 1_000_000,
      quality: h.quality / 100,
      capabilities: h.capabilities,
    }),
  );

/**
 * Random meetings whose handlers are sized around the meeting: each handler's hard limit is
 * between 0.6 and 1.6 times what the whole meeting puts on one handler (every distinct
 * stream in once, every distinct pair out once), part of it taken by other meetings.
 */
const tight: fc.Arbitrary<RoutingInput> = constrained.chain((input) => {
  const pairs = distinctPairs(input.demand);
  const streams = new Set([...pairs].map((key) => key.slice(key.indexOf('\u0000') + 1)));
  const wholeBps = Math.max(pairs.size + streams.size, 1) * DEFAULT_STREAM_BITRATE_BPS;
  return fc
    .array(fc.tuple(fc.integer({ min: 60, max: 160 }), fc.integer({ min: 0, max: 30 })), {
      minLength: input.handlers.length,
      maxLength: input.handlers.length,
    })
    .map((sizes) => ({
      ...input,
      handlers: input.handlers.map((h, i) => {
        const [limitShare, loadShare] = sizes[i] ?? [100, 0];
        const hardLimit = (wholeBps * limitShare) / 100;
        return {
          ...h,
          capacityBps: hardLimit / BANDWIDTH_HARD_LIMIT_RATIO,
          loadBps: (hardLimit * loadShare) / 100,
        };
      }),
    }));
});

/** The input with its handlers cut down to one (which may then carry the whole meeting). */
const onlyHandler = (input: RoutingInput, handler: RoutingHandler): RoutingInput => ({
  ...input,
  handlers: [handler],
});

describe('planRouting capacity: spilling before refusing', () => {
  it('plans any meeting that some single healthy handler carries whole within its hard limit', () => {
    fc.assert(
      fc.property(fc.oneof(tight, constrained), (input) => {
        const carrier = input.handlers.find(
          (h) => h.healthy && planRouting(onlyHandler(input, h)).ok,
        );
        if (carrier === undefined) return;
        const result = planRouting(input);
        expect(result.ok ? 'planned' : result.error).toBe('planned');
        if (result.ok) expect(checkPlan(input, result.value)).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it('keeps a meeting routable when a healthy idle handler is added', () => {
    fc.assert(
      fc.property(tight, idleHandler, (input, extra) => {
        if (input.handlers.some((h) => h.id === extra.id) || !planRouting(input).ok) return;
        const more = { ...input, handlers: [...input.handlers, extra] };
        const result = planRouting(more);
        expect(result.ok ? 'planned' : result.error).toBe('planned');
        if (result.ok) expect(checkPlan(more, result.value)).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it('homes a lone participant on the handler rankHandlers ranks first', () => {
    fc.assert(
      fc.property(constrained, (input) => {
        const [alone] = input.participants;
        if (alone === undefined) return;
        const solo = { ...input, participants: [alone], demand: [] };
        const [best] = rankHandlers(
          { participant: alone, costBps: 0, latencyMs: input.latencyMs, spreadKey: input.meeting },
          input.handlers,
        );
        const result = planRouting(solo);
        if (best === undefined || !best.fits) {
          expect(result.ok).toBe(false);
          return;
        }
        expect(result.ok && result.value.homes[0]?.handler).toBe(best.handler.id);
      }),
      RUNS,
    );
  });
});

/** A change to a meeting: a new layout, lost handlers, someone leaving. */
const change = fc.record({
  demandKeep: fc.array(fc.boolean(), { maxLength: 200 }),
  extraDemand: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 20 }),
  failHandler: fc.option(fc.nat(), { nil: undefined }),
  leaver: fc.option(fc.nat(), { nil: undefined }),
});

type MeetingChange = typeof change extends fc.Arbitrary<infer T> ? T : never;

function applyChange(input: RoutingInput, c: MeetingChange): RoutingInput {
  const ids = input.participants.map((p) => p.id);
  const leaver = c.leaver === undefined ? undefined : ids[c.leaver % Math.max(ids.length, 1)];
  const failed =
    c.failHandler === undefined ? undefined : input.handlers[c.failHandler % input.handlers.length];
  const kept = input.demand.filter((_, i) => c.demandKeep[i] ?? true);
  const added = c.extraDemand.flatMap(([s, p]): StreamDemand[] => {
    const subscriber = ids[s % Math.max(ids.length, 1)];
    const publisher = ids[p % Math.max(ids.length, 1)];
    if (subscriber === undefined || publisher === undefined || subscriber === publisher) return [];
    return [{ subscriber, publisher, kind: 'screen' }];
  });
  return {
    ...input,
    participants: input.participants.filter((p) => p.id !== leaver),
    handlers: input.handlers.map((h) => (h === failed ? { ...h, healthy: false } : h)),
    demand: [...kept, ...added].filter((d) => d.subscriber !== leaver && d.publisher !== leaver),
  };
}

describe('make-before-break properties', () => {
  it('never drops a pair shown in both plans while the steps run, and ends at the new plan', () => {
    fc.assert(
      fc.property(fc.oneof(ample, constrained), change, (input, c) => {
        const first = planRouting(input);
        if (!first.ok) return;
        const nextInput = { ...applyChange(input, c), previous: first.value };
        const second = planRouting(nextInput);
        if (!second.ok) return;
        const steps = planTransition(first.value, second.value);
        const oldRoutes = routesOf(first.value);
        expect(applySteps(oldRoutes, steps)).toEqual(sortByKey(routesOf(second.value), routeKey));
        const kept = keptDemand(input.demand, nextInput.demand);
        expect(findTransitionGaps(oldRoutes, steps, kept)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('catches, under break-before-make order, every kept pair whose delivery moves', () => {
    fc.assert(
      fc.property(fc.oneof(ample, constrained), change, (input, c) => {
        const first = planRouting(input);
        if (!first.ok) return;
        const nextInput = { ...applyChange(input, c), previous: first.value };
        const second = planRouting(nextInput);
        if (!second.ok) return;
        const steps = planTransition(first.value, second.value);
        const breakFirst = [
          ...steps.filter((s) => s.op === 'remove'),
          ...steps.filter((s) => s.op === 'add'),
        ];
        const kept = keptDemand(input.demand, nextInput.demand);
        const keptKeys = new Set(kept.map(demandKey));
        const moved = steps
          .filter((s) => s.op === 'remove' && s.route.type === 'deliver')
          .map((s) => demandKey(s.route as StreamDemand))
          .filter((key) => keptKeys.has(key));
        const gaps = findTransitionGaps(routesOf(first.value), breakFirst, kept);
        const caught = new Set(
          gaps.map((g) => demandKey({ subscriber: g.subscriber, ...g.stream })),
        );
        for (const key of moved) expect(caught).toContain(key);
      }),
      RUNS,
    );
  });
});

/**
 * The gaps a replay of `steps` from `routes` opens, found the slow way: every pair delivered
 * within the hop limit at the start is looked up afresh after every step, and reported (once,
 * however often it is listed) at the first step after which it is not.
 */
function gapsByFullReplay(
  routes: readonly Route[],
  steps: ReturnType<typeof planTransition>,
  pairs: readonly StreamDemand[],
): string[] {
  const delivered = (graph: RouteGraph, pair: StreamDemand): boolean => {
    const paths = graph.paths(pair);
    const hops = paths === undefined ? undefined : deliveredHops(paths, pair.subscriber);
    return hops !== undefined && hops <= MAX_CASCADE_HOPS;
  };
  const graph = new RouteGraph(routes);
  const distinct = [...new Map(pairs.map((pair) => [demandKey(pair), pair])).values()];
  let open = distinct.filter((pair) => delivered(graph, pair));
  const gaps: string[] = [];
  steps.forEach((step, index) => {
    if (step.op === 'add') graph.add(step.route);
    else graph.remove(step.route);
    const lost = open.filter((pair) => !delivered(graph, pair));
    for (const pair of lost) gaps.push(`${demandKey(pair)} after ${index}`);
    open = open.filter((pair) => !lost.includes(pair));
  });
  return gaps.sort();
}

describe('findTransitionGaps', () => {
  it('reports what a full replay after every step finds, for steps in any order', () => {
    fc.assert(
      fc.property(
        fc.oneof(ample, constrained),
        change,
        fc.array(fc.nat(), { maxLength: 400 }),
        (input, c, order) => {
          const first = planRouting(input);
          if (!first.ok) return;
          const nextInput = { ...applyChange(input, c), previous: first.value };
          const second = planRouting(nextInput);
          if (!second.ok) return;
          // The transition's steps shuffled: removals may come before the additions they need.
          const steps = planTransition(first.value, second.value)
            .map((step, index) => ({ step, rank: order[index] ?? index }))
            .sort((a, b) => a.rank - b.rank)
            .map(({ step }) => step);
          const kept = keptDemand(input.demand, nextInput.demand);
          const routes = routesOf(first.value);
          const found = findTransitionGaps(routes, steps, kept).map(
            (gap) =>
              `${demandKey({ subscriber: gap.subscriber, ...gap.stream })} after ${gap.afterStep}`,
          );
          expect(found.sort()).toEqual(gapsByFullReplay(routes, steps, kept));
        },
      ),
      RUNS,
    );
  });
});

describe('planRouting reusing the previous plan', () => {
  it("lays out the same plan whether or not it may reuse the previous plan's legs", () => {
    fc.assert(
      fc.property(fc.oneof(ample, constrained), change, (input, c) => {
        const first = planRouting(input);
        if (!first.ok) return;
        const next = applyChange(input, c);
        // A structured clone is an equal plan the planner did not lay out: nothing to reuse.
        const reusing = planRouting({ ...next, previous: first.value });
        const afresh = planRouting({ ...next, previous: structuredClone(first.value) });
        expect(reusing).toEqual(afresh);
      }),
      RUNS,
    );
  });

  it('shares the route objects of every stream a layout change leaves alone', () => {
    fc.assert(
      fc.property(ample, (input) => {
        const first = planRouting(input);
        if (!first.ok || input.demand.length === 0) return;
        const dropped = input.demand[0] as StreamDemand;
        const second = planRouting({
          ...input,
          demand: input.demand.filter((d) => d !== dropped),
          previous: first.value,
        });
        if (!second.ok) return;
        const before = new Set(routesOf(first.value));
        const touched = (r: { publisher: string; kind: string }) =>
          r.publisher === dropped.publisher && r.kind === dropped.kind;
        if (second.value.homes !== first.value.homes) return; // someone moved: legs may differ
        for (const route of routesOf(second.value)) {
          if (!touched(route)) expect(before.has(route)).toBe(true);
        }
      }),
      RUNS,
    );
  });
});
