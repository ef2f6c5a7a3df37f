import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handlerId, meetingId, participantId, MEDIA_KINDS } from '../ids.ts';
import { RouteGraph, deliveredHops, hopsToHandlers, planGraph, subscriberHops } from './graph.ts';
import {
  compareSameTypeRoutes,
  compareStreams,
  compareText,
  demandKey,
  routeKey,
  streamKey,
} from './keys.ts';
import { keptDemand, planTransition, type PlanStep } from './transition.ts';
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

  it("builds a plan's graph once and holds every leg of the plan", () => {
    fc.assert(
      fc.property(fc.array(route, { maxLength: 30 }), (routes) => {
        const plan = planOf(routes);
        const graph = planGraph(plan);
        expect(planGraph(plan)).toBe(graph);
        for (const r of routes) expect(graph.has(r)).toBe(true);
      }),
    );
  });
});

describe('subscriberHops', () => {
  it("equals the delivered hops read from the stream's full hop counts", () => {
    fc.assert(
      fc.property(fc.array(route, { maxLength: 30 }), participant, (routes, subscriber) => {
        const graph = new RouteGraph(routes);
        const cache = new Map();
        for (const paths of graph.allPaths()) {
          const expected = deliveredHops(paths, subscriber, hopsToHandlers(paths));
          expect(subscriberHops(paths, subscriber, cache)).toBe(expected);
          expect(subscriberHops(paths, subscriber, cache)).toBe(expected);
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
