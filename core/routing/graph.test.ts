import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handlerId, meetingId, participantId, MEDIA_KINDS } from '../ids.ts';
import { RouteGraph, deliveredHops, planGraph, subscriberHops } from './graph.ts';
import {
  compareSameTypeRoutes,
  compareStreams,
  compareText,
  demandKey,
  routeKey,
  streamKey,
} from './keys.ts';
import {
  canonicalPlanHas,
  diffCanonicalPlans,
  keptDemand,
  planTransition,
  type PlanStep,
} from './transition.ts';
import type { CascadeRoute, DeliverRoute, PublishRoute, Route, RoutingPlan } from './types.ts';

// Ids where one is a prefix of another, so orderings that split keys into parts are exercised.
const participant = fc.constantFrom('a', 'ab', 'b', 'ba').map(participantId);
const handler = fc.constantFrom('h', 'h1', 'h10', 'h2').map(handlerId);
const kind = fc.constantFrom(...MEDIA_KINDS);

const route: fc.Arbitrary<Route> = fc.oneof(
  fc.record({
    type: fc.constant('publish' as const),
    publisher: participant,
    kind,
    handler,
  }),
  fc.record({
    type: fc.constant('cascade' as const),
    publisher: participant,
    kind,
    from: handler,
    to: handler,
  }),
  fc.record({
    type: fc.constant('deliver' as const),
    publisher: participant,
    kind,
    handler,
    subscriber: participant,
  }),
);

/** A plan holding `routes` in the given order, repeats included. */
function planOf(routes: readonly Route[]): RoutingPlan {
  return {
    meeting: meetingId('m'),
    hub: null,
    homes: [],
    publishes: routes.filter((r): r is PublishRoute => r.type === 'publish'),
    cascades: routes.filter((r): r is CascadeRoute => r.type === 'cascade'),
    deliveries: routes.filter((r): r is DeliverRoute => r.type === 'deliver'),
    loads: [],
  };
}

/** Transition steps computed from route keys: the definition `planTransition` keeps. */
function stepsByKeys(from: RoutingPlan | null, to: RoutingPlan): PlanStep[] {
  const keyed = (plan: RoutingPlan | null) =>
    new Map(
      (plan === null ? [] : [...plan.publishes, ...plan.cascades, ...plan.deliveries]).map((r) => [
        routeKey(r),
        r,
      ]),
    );
  const before = keyed(from);
  const after = keyed(to);
  const ordered = (
    op: PlanStep['op'],
    routes: Map<string, Route>,
    other: Map<string, Route>,
    types: readonly Route['type'][],
  ): PlanStep[] =>
    types.flatMap((type) =>
      [...routes]
        .filter(([key, r]) => r.type === type && !other.has(key))
        .sort(([a], [b]) => compareText(a, b))
        .map(([, r]) => ({ op, route: r })),
    );
  return [
    ...ordered('add', after, before, ['publish', 'cascade', 'deliver']),
    ...ordered('remove', before, after, ['deliver', 'cascade', 'publish']),
  ];
}

describe('RouteGraph', () => {
  it('holds exactly the routes added and not removed since', () => {
    const op = fc.record({ add: fc.boolean(), route });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), route, (ops, probe) => {
        const graph = new RouteGraph();
        const present = new Set<string>();
        for (const { add, route: r } of ops) {
          const key = routeKey(r);
          if (add) expect(graph.add(r)).toBe(!present.has(key));
          else expect(graph.remove(r)).toBe(present.has(key));
          if (add) present.add(key);
          else present.delete(key);
        }
        for (const { route: r } of ops) expect(graph.has(r)).toBe(present.has(routeKey(r)));
        expect(graph.has(probe)).toBe(present.has(routeKey(probe)));
      }),
    );
  });

  it('lists streams in the order their first leg was added', () => {
    const graph = new RouteGraph();
    const ann = participantId('ann');
    const bo = participantId('bo');
    const h1 = handlerId('h1');
    graph.add({ type: 'publish', publisher: bo, kind: 'audio', handler: h1 });
    graph.add({ type: 'publish', publisher: ann, kind: 'camera', handler: h1 });
    graph.add({ type: 'publish', publisher: bo, kind: 'camera', handler: h1 });
    expect([...graph.allPaths()].map((p) => `${p.stream.publisher}/${p.stream.kind}`)).toEqual([
      'bo/audio',
      'ann/camera',
      'bo/camera',
    ]);
  });

  it("builds a plan's graph holding every leg of the plan", () => {
    fc.assert(
      fc.property(fc.array(route, { maxLength: 30 }), (routes) => {
        const graph = planGraph(planOf(routes));
        for (const r of routes) expect(graph.has(r)).toBe(true);
      }),
    );
  });
});

/**
 * Hop counts by relaxation over the stream's routes as a list (no graph, no breadth-first
 * order): the definition the graph's cached counts must keep.
 */
function referenceHops(routes: readonly Route[], stream: Route): Map<string, number> {
  const mine = routes.filter((r) => r.publisher === stream.publisher && r.kind === stream.kind);
  const hops = new Map<string, number>();
  for (const r of mine) if (r.type === 'publish') hops.set(r.handler, 0);
  for (let changed = true; changed;) {
    changed = false;
    for (const r of mine) {
      if (r.type !== 'cascade') continue;
      const from = hops.get(r.from);
      if (from === undefined) continue;
      const to = hops.get(r.to);
      if (to === undefined || from + 1 < to) {
        hops.set(r.to, from + 1);
        changed = true;
      }
    }
  }
  return hops;
}

describe('hop counts', () => {
  it('stay those of the legs present while routes are added and removed', () => {
    // One stream over three handlers, so legs meet: cascades leave publish handlers, chains form.
    const near = fc.constantFrom('h', 'h1', 'h2').map(handlerId);
    const stream = { publisher: participantId('a'), kind: 'camera' as const };
    const dense: fc.Arbitrary<Route> = fc
      .oneof(
        near.map((h) => ({ type: 'publish' as const, ...stream, handler: h })),
        { arbitrary: fc.tuple(near, near), weight: 2 },
        fc.tuple(near, participant).map(([h, subscriber]) => ({
          type: 'deliver' as const,
          ...stream,
          handler: h,
          subscriber,
        })),
      )
      .map((r) =>
        Array.isArray(r) ? { type: 'cascade' as const, ...stream, from: r[0], to: r[1] } : r,
      );
    // A removal takes out a leg that is there (or, with nothing there, one that is not).
    const change = fc.record({ remove: fc.boolean(), pick: fc.nat(), route: dense });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), (changes) => {
        const graph = new RouteGraph();
        let present: Route[] = [];
        for (const { remove, pick, route: added } of changes) {
          const r =
            remove && present.length > 0 ? (present[pick % present.length] as Route) : added;
          const same = (x: Route) => routeKey(x) === routeKey(r);
          const wasThere = present.some(same);
          if (remove) {
            expect(graph.remove(r)).toBe(wasThere);
            present = present.filter((x) => !same(x));
          } else {
            expect(graph.add(r)).toBe(!wasThere);
            if (!wasThere) present.push(r);
          }
          // Every stream is read after every change, so a stale count would be seen.
          for (const paths of graph.allPaths()) {
            const probe = { ...r, publisher: paths.stream.publisher, kind: paths.stream.kind };
            expect(new Map(paths.hops())).toEqual(referenceHops(present, probe));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("give each subscriber the delivered hops read from the stream's full hop counts", () => {
    fc.assert(
      fc.property(fc.array(route, { maxLength: 30 }), participant, (routes, subscriber) => {
        const graph = new RouteGraph(routes);
        for (const paths of graph.allPaths()) {
          const expected = deliveredHops(paths, subscriber);
          expect(subscriberHops(paths, subscriber)).toBe(expected);
        }
      }),
    );
  });
});

describe('compareSameTypeRoutes', () => {
  it('orders routes of one type as their route keys', () => {
    fc.assert(
      fc.property(route, route, (a, b) => {
        fc.pre(a.type === b.type);
        expect(Math.sign(compareSameTypeRoutes(a, b))).toBe(
          Math.sign(compareText(routeKey(a), routeKey(b))),
        );
      }),
    );
  });
});

describe('compareStreams', () => {
  it('orders streams as their stream keys', () => {
    fc.assert(
      fc.property(route, route, (a, b) => {
        expect(Math.sign(compareStreams(a, b))).toBe(
          Math.sign(compareText(streamKey(a), streamKey(b))),
        );
      }),
    );
  });
});

describe('planTransition on arbitrary plans', () => {
  it('gives the steps defined by route keys, repeated and unsorted legs included', () => {
    const routes = fc.array(route, { maxLength: 30 });
    fc.assert(
      fc.property(fc.option(routes), routes, (from, to) => {
        const fromPlan = from === null ? null : planOf(from);
        const toPlan = planOf(to);
        expect(planTransition(fromPlan, toPlan)).toEqual(stepsByKeys(fromPlan, toPlan));
      }),
    );
  });
});

/** A plan in the canonical order planner plans keep: each leg once, deliveries by subscriber. */
function canonicalPlanOf(routes: readonly Route[]): RoutingPlan {
  const unique = [...new Map(routes.map((r) => [routeKey(r), r])).values()];
  const planOrder = (a: Route, b: Route): number =>
    a.type === 'deliver' && b.type === 'deliver'
      ? compareStreams(a, b) ||
        compareText(a.subscriber, b.subscriber) ||
        compareText(a.handler, b.handler)
      : compareSameTypeRoutes(a, b);
  return planOf([...unique].sort(planOrder));
}

describe('planTransition on plans in canonical order', () => {
  it('gives the steps defined by route keys, whether shared legs are one object or equal copies', () => {
    const routes = fc.array(route, { maxLength: 30 });
    fc.assert(
      fc.property(routes, routes, routes, fc.boolean(), (shared, before, after, copy) => {
        const common = copy ? shared.map((r) => ({ ...r })) : shared;
        const fromPlan = canonicalPlanOf([...shared, ...before]);
        const toPlan = canonicalPlanOf([...common, ...after]);
        expect(planTransition(fromPlan, toPlan)).toEqual(stepsByKeys(fromPlan, toPlan));
      }),
    );
  });
});

describe('diffs and lookups of plans in canonical order', () => {
  const keysOf = (routes: readonly Route[]) => routes.map(routeKey).sort(compareText);
  it('give the legs only one plan has, and membership, as route keys define them', () => {
    const routes = fc.array(route, { maxLength: 30 });
    fc.assert(
      fc.property(routes, routes, routes, route, (shared, before, after, probe) => {
        const fromPlan = canonicalPlanOf([...shared, ...before]);
        const toPlan = canonicalPlanOf([...shared.map((r) => ({ ...r })), ...after]);
        const legs = (plan: RoutingPlan) => [
          ...plan.publishes,
          ...plan.cascades,
          ...plan.deliveries,
        ];
        const fromKeys = new Set(legs(fromPlan).map(routeKey));
        const toKeys = new Set(legs(toPlan).map(routeKey));
        const diff = diffCanonicalPlans(fromPlan, toPlan);
        expect(keysOf(diff?.added ?? [])).toEqual(
          keysOf(legs(toPlan).filter((r) => !fromKeys.has(routeKey(r)))),
        );
        expect(keysOf(diff?.removed ?? [])).toEqual(
          keysOf(legs(fromPlan).filter((r) => !toKeys.has(routeKey(r)))),
        );
        for (const r of [probe, ...legs(fromPlan)]) {
          expect(canonicalPlanHas(toPlan, r)).toBe(toKeys.has(routeKey(r)));
        }
      }),
    );
  });

  it('are refused for a plan out of canonical order', () => {
    const a: Route = {
      type: 'publish',
      publisher: participantId('b'),
      kind: 'camera',
      handler: handlerId('h'),
    };
    const b: Route = {
      type: 'publish',
      publisher: participantId('a'),
      kind: 'camera',
      handler: handlerId('h'),
    };
    const unordered = planOf([a, b]);
    expect(diffCanonicalPlans(unordered, canonicalPlanOf([a]))).toBeUndefined();
    expect(canonicalPlanHas(unordered, a)).toBeUndefined();
  });
});

describe('keptDemand', () => {
  it('keeps the later pairs whose key the earlier list holds, in order', () => {
    const pair = fc.record({ subscriber: participant, publisher: participant, kind });
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 20 }), fc.array(pair, { maxLength: 20 }), (a, b) => {
        const earlier = new Set(a.map(demandKey));
        expect(keptDemand(a, b)).toEqual(b.filter((d) => earlier.has(demandKey(d))));
      }),
    );
  });
});
