/**
 * The plan checker's check by change (a plan after a plan it found sound): its verdict must be
 * the whole check's, for sound plans and for plans broken in every way the checker knows.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handlerId, participantId } from '../ids.ts';
import { checkPlan } from './check.ts';
import { compareSameTypeRoutes, compareStreams, compareText } from './keys.ts';
import { planKeepingHomes, planRouting } from './planner.ts';
import {
  arbitraryRoutingInput,
  bySubscriber,
  demandEdit,
  editDemand,
  makeHandler,
  makeParticipant,
  wants,
} from './testing.ts';
import type {
  CascadeRoute,
  DeliverRoute,
  PublishRoute,
  Route,
  RoutingInput,
  RoutingPlan,
  StreamDemand,
} from './types.ts';

/** The whole check: no previous plan, so nothing is taken from an earlier check. */
const wholeCheck = (input: RoutingInput, plan: RoutingPlan) =>
  checkPlan({ ...input, previous: undefined }, plan);

/** Ways to break a plan, each keeping its lists in canonical order. */
const breakage = fc.record({
  kind: fc.constantFrom(
    'none',
    'none',
    'drop-leg',
    'extra-delivery',
    'extra-publish',
    'extra-cascade',
    'lose-home',
    'unhealthy',
    'unknown-handler',
    'overload',
    'same-plan',
    'same-plan',
  ),
  at: fc.nat(),
});
type Breakage = typeof breakage extends fc.Arbitrary<infer T> ? T : never;

function comparePlanOrder(a: Route, b: Route): number {
  if (a.type === 'deliver' && b.type === 'deliver')
    return (
      compareStreams(a, b) ||
      compareText(a.subscriber, b.subscriber) ||
      compareText(a.handler, b.handler)
    );
  return compareSameTypeRoutes(a, b);
}

function inserted<T extends Route>(list: readonly T[], route: T): T[] {
  if (list.some((r) => comparePlanOrder(r, route) === 0)) return [...list];
  return [...list, route].sort(comparePlanOrder);
}

function breakPlan(
  input: RoutingInput,
  plan: RoutingPlan,
  previous: RoutingPlan,
  b: Breakage,
): { input: RoutingInput; plan: RoutingPlan } {
  const handlers = input.handlers.map((h) => h.id);
  const pick = <T>(items: readonly T[]): T | undefined => items[b.at % Math.max(items.length, 1)];
  const someHandler = pick(handlers) ?? handlerId('mh0');
  // Now and then a handler the input does not list.
  const otherHandler =
    b.at % 5 === 4
      ? handlerId('mh-unlisted')
      : (handlers[(b.at + 1) % Math.max(handlers.length, 1)] ?? someHandler);
  const someDelivery = pick(plan.deliveries);
  switch (b.kind) {
    case 'none':
      return { input, plan };
    case 'same-plan':
      // The demand changed and the plan did not.
      return { input, plan: previous };
    case 'drop-leg': {
      const legs: Route[] = [...plan.publishes, ...plan.cascades, ...plan.deliveries];
      const gone = pick(legs);
      if (gone === undefined) return { input, plan };
      const keep = <T extends Route>(list: readonly T[]): T[] => list.filter((r) => r !== gone);
      return {
        input,
        plan: {
          ...plan,
          publishes: keep(plan.publishes),
          cascades: keep(plan.cascades),
          deliveries: keep(plan.deliveries),
        },
      };
    }
    case 'extra-delivery': {
      if (someDelivery === undefined) return { input, plan };
      const subscriber = pick(input.participants)?.id ?? someDelivery.subscriber;
      const extra: DeliverRoute = { ...someDelivery, handler: otherHandler, subscriber };
      return { input, plan: { ...plan, deliveries: inserted(plan.deliveries, extra) } };
    }
    case 'extra-publish': {
      const stream = pick(plan.publishes);
      if (stream === undefined) return { input, plan };
      const extra: PublishRoute = { ...stream, handler: otherHandler };
      return { input, plan: { ...plan, publishes: inserted(plan.publishes, extra) } };
    }
    case 'extra-cascade': {
      const stream = pick(plan.publishes);
      if (stream === undefined) return { input, plan };
      const extra: CascadeRoute = {
        type: 'cascade',
        publisher: stream.publisher,
        kind: stream.kind,
        from: otherHandler,
        to: stream.handler,
      };
      return { input, plan: { ...plan, cascades: inserted(plan.cascades, extra) } };
    }
    case 'lose-home': {
      const gone = pick(plan.homes);
      return { input, plan: { ...plan, homes: plan.homes.filter((h) => h !== gone) } };
    }
    case 'unhealthy':
      return {
        input: {
          ...input,
          handlers: input.handlers.map((h) =>
            h.id === someHandler ? { ...h, healthy: false } : h,
          ),
        },
        plan,
      };
    case 'unknown-handler':
      return {
        input: { ...input, handlers: input.handlers.filter((h) => h.id !== someHandler) },
        plan,
      };
    case 'overload':
      return {
        input: {
          ...input,
          handlers: input.handlers.map((h) =>
            h.id === someHandler ? { ...h, loadBps: h.capacityBps } : h,
          ),
        },
        plan,
      };
  }
}

const meetings = fc.oneof(
  arbitraryRoutingInput({ maxParticipants: 14, maxHandlers: 5, ampleCapacity: true }),
  arbitraryRoutingInput({ maxParticipants: 14, maxHandlers: 5, ampleCapacity: false }),
);

describe('checkPlan after a plan it found sound', () => {
  it('gives the whole check’s verdict over a sequence of demand changes and broken plans', () => {
    fc.assert(
      fc.property(
        meetings,
        fc.array(fc.tuple(demandEdit, breakage), { minLength: 1, maxLength: 6 }),
        (start, changes) => {
          let input: RoutingInput = { ...start, demand: bySubscriber(start.demand) };
          const first = planRouting(input);
          if (!first.ok) return;
          let plan = first.value;
          expect(checkPlan(input, plan)).toEqual(wholeCheck(input, plan));
          const ids = input.participants.map((p) => p.id);
          for (const [edit, b] of changes) {
            const next: RoutingInput = {
              ...input,
              demand: editDemand(input.demand, ids, edit),
              previous: plan,
            };
            const planned = planKeepingHomes(next) ?? planRouting(next);
            if (!planned.ok) continue;
            const broken = breakPlan(next, planned.value, plan, b);
            const verdict = checkPlan(broken.input, broken.plan);
            expect(verdict).toEqual(wholeCheck(broken.input, broken.plan));
            input = broken.input;
            plan = broken.plan;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('checkPlan after a plan it found sound: examples', () => {
  const ann = participantId('ann');
  const bo = participantId('bo');
  const cy = participantId('cy');
  const base: RoutingInput = {
    meeting: 'm' as RoutingInput['meeting'],
    participants: [makeParticipant('ann', 0), makeParticipant('bo', 1), makeParticipant('cy', 2)],
    handlers: [makeHandler('h1'), makeHandler('h2')],
    demand: [wants('bo', 'ann', 'camera'), wants('cy', 'ann', 'camera')],
    latencyMs: {},
  };
  const sound = (): RoutingPlan => {
    const planned = planRouting(base);
    if (!planned.ok) throw new Error('no plan');
    expect(checkPlan(base, planned.value)).toEqual([]);
    return planned.value;
  };

  it('reports a newly demanded pair the unchanged plan does not deliver', () => {
    const plan = sound();
    const demand = [wants('bo', 'ann', 'camera'), wants('bo', 'cy', 'camera'), base.demand[1]];
    const next = { ...base, demand: demand as StreamDemand[], previous: plan };
    expect(checkPlan(next, plan)).toMatchObject([
      { kind: 'undelivered', subscriber: bo, stream: { publisher: cy, kind: 'camera' } },
    ]);
  });

  it('reports a delivery the new demand no longer asks for', () => {
    const plan = sound();
    const next = { ...base, demand: [base.demand[0] as StreamDemand], previous: plan };
    expect(checkPlan(next, plan)).toMatchObject([
      { kind: 'undemanded-delivery', subscriber: cy, stream: { publisher: ann } },
    ]);
  });

  it('reports pairs that changed subscriber in place, the lists of streams alike', () => {
    const participants = [...base.participants, makeParticipant('dee', 3)];
    const before = { ...base, participants };
    const planned = planRouting(before);
    if (!planned.ok) throw new Error('no plan');
    expect(checkPlan(before, planned.value)).toEqual([]);
    // cy's run becomes dee's: the runs list the same streams.
    const demand = [wants('bo', 'ann', 'camera'), wants('dee', 'ann', 'camera')];
    const next = { ...before, demand, previous: planned.value };
    expect(checkPlan(next, planned.value).map((v) => v.kind)).toEqual([
      'undelivered',
      'undemanded-delivery',
    ]);
  });

  it('reports the deliveries of a stream nobody shows any more', () => {
    const annShows = [wants('ann', 'bo', 'camera'), wants('ann', 'cy', 'camera')];
    const withBo = { ...base, demand: [...annShows, ...base.demand] };
    const planned = planRouting(withBo);
    if (!planned.ok) throw new Error('no plan');
    expect(checkPlan(withBo, planned.value)).toEqual([]);
    // ann's run drops bo's camera, which nobody else shows.
    const demand = [annShows[1] as StreamDemand, ...base.demand];
    const next = { ...withBo, demand, previous: planned.value };
    expect(checkPlan(next, planned.value)).toMatchObject([
      { kind: 'undemanded-delivery', subscriber: ann, stream: { publisher: bo } },
    ]);
  });

  it('reports a new leg to a handler the input does not list, a publish or a cascade', () => {
    const plan = sound();
    const next = { ...base, previous: plan };
    const stream = plan.publishes[0] as PublishRoute;
    const publish: PublishRoute = { ...stream, handler: handlerId('h9') };
    const withPublish = { ...plan, publishes: [...plan.publishes, publish] };
    expect(checkPlan(next, withPublish)).toMatchObject([
      { kind: 'unknown-handler', handler: 'h9' },
    ]);
    const cascade: CascadeRoute = {
      type: 'cascade',
      publisher: stream.publisher,
      kind: stream.kind,
      from: stream.handler,
      to: handlerId('h9'),
    };
    const withCascade = { ...plan, cascades: [...plan.cascades, cascade] };
    expect(checkPlan(next, withCascade)).toMatchObject([
      { kind: 'unknown-handler', handler: 'h9' },
    ]);
  });

  it('reports an unchanged plan taking a handler past its hard limit once its load grew', () => {
    const plan = sound();
    const used = plan.publishes[0]?.handler;
    const handlers = base.handlers.map((h) =>
      h.id === used ? { ...h, loadBps: h.capacityBps } : h,
    );
    const demand = [...base.demand];
    expect(checkPlan({ ...base, handlers, demand, previous: plan }, plan)).toMatchObject([
      { kind: 'over-hard-limit', handler: used },
    ]);
  });

  it('reports a handler of the unchanged plan that is no longer healthy', () => {
    const plan = sound();
    const handlers = base.handlers.map((h) => ({ ...h, healthy: false }));
    expect(checkPlan({ ...base, handlers, previous: plan }, plan).map((v) => v.kind)).toContain(
      'unhealthy-handler',
    );
  });

  it('reports a new participant without a home', () => {
    const plan = sound();
    const participants = [...base.participants, makeParticipant('dee', 3)];
    expect(checkPlan({ ...base, participants, previous: plan }, plan)).toMatchObject([
      { kind: 'missing-home', participant: 'dee' },
    ]);
  });

  it('reports a delivery moved to a handler the stream does not reach', () => {
    const plan = sound();
    const moved = plan.deliveries.map((d) =>
      d.subscriber === cy ? { ...d, handler: handlerId('h9') } : d,
    );
    const next = { ...base, previous: plan };
    const kinds = checkPlan(next, { ...plan, deliveries: moved }).map((v) => v.kind);
    expect(kinds).toEqual(['unknown-handler', 'undelivered']);
  });
});
