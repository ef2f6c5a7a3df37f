import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  handlerId,
  meetingId,
  participantId,
  regionId,
  type ParticipantId,
} from '../../core/ids.ts';
import { RouteGraph } from '../../core/routing/graph.ts';
import {
  checkPlan,
  planRouting,
  planTransition,
  routesOf,
  type Route,
  type RoutingHandler,
  type RoutingInput,
  type RoutingPlan,
  type StreamDemand,
} from '../../core/routing/index.ts';
import { routeKey } from '../../core/routing/keys.ts';
import { unwrap } from '../../core/result.ts';
import { checkConvergence, ConvergenceChecks } from './convergence.ts';
import { checkEpochs } from './epochs.ts';
import { checkNewPlan, checkTransition } from './plan.ts';
import { checkTokenVerdict } from './tokens.ts';
import { formatViolation, ViolationLog } from './violations.ts';

const SEED = 42;
const NOW = 12_345_678;
const newLog = () => new ViolationLog(SEED, () => NOW);
const region = regionId('us-west-1');
const [alice, bob, carol] = ['alice', 'bob', 'carol'].map(participantId) as [
  ParticipantId,
  ParticipantId,
  ParticipantId,
];

const handler = (id: string, loadBps = 0, healthy = true): RoutingHandler => ({
  id: handlerId(id),
  region,
  site: 'dc1',
  capacityBps: 100_000_000,
  loadBps,
  healthy,
  quality: 1,
  capabilities: [],
});

const everyoneSeesEveryone = (people: readonly ParticipantId[]): StreamDemand[] =>
  people.flatMap((subscriber) =>
    people
      .filter((p) => p !== subscriber)
      .map((publisher) => ({ subscriber, publisher, kind: 'camera' as const })),
  );

const input = (handlers: RoutingHandler[], people = [alice, bob, carol]): RoutingInput => ({
  meeting: meetingId('m1'),
  participants: people.map((id, joinOrder) => ({ id, region, joinOrder })),
  handlers,
  demand: everyoneSeesEveryone(people),
  latencyMs: { [region]: { [region]: 0.5 } },
  streamBitrateBps: 1_000_000,
});

/** Every reported violation names virtual time, entity and seed. */
function expectReported(
  log: ViolationLog,
  invariant: string,
  entity: RegExp,
  message: RegExp,
): void {
  const found = log.first.find((v) => v.invariant === invariant);
  expect(found, `expected a ${invariant} violation`).toBeDefined();
  if (found === undefined) return;
  expect(found.time).toBe(NOW);
  expect(found.seed).toBe(SEED);
  expect(found.entity).toMatch(entity);
  expect(found.message).toMatch(message);
  expect(formatViolation(found)).toContain(
    `[t=12.345678s seed=${SEED}] ${invariant} at ${found.entity}`,
  );
}

describe('make-before-break (core transition checker)', () => {
  const from = unwrap(planRouting(input([handler('mh-a'), handler('mh-b', 0, false)])));
  const to = unwrap(planRouting(input([handler('mh-a', 0, false), handler('mh-b')])));
  const demand = everyoneSeesEveryone([alice, bob, carol]);

  it('holds for core planTransition steps', () => {
    const log = newLog();
    checkTransition(log, 'mc/m1', from, planTransition(from, to), demand, demand);
    expect(log.total).toBe(0);
  });

  it('reports a reroute that removes before it adds', () => {
    const steps = planTransition(from, to);
    const breakBeforeMake = [
      ...steps.filter((s) => s.op === 'remove'),
      ...steps.filter((s) => s.op === 'add'),
    ];
    const log = newLog();
    checkTransition(log, 'mc/m1', from, breakBeforeMake, demand, demand);
    expectReported(log, 'make-before-break', /^mc\/m1$/, /./);
  });
});

describe('plan rules (core plan checker)', () => {
  it('holds for a plan from the planner', () => {
    const request = input([handler('mh-a'), handler('mh-b')]);
    const log = newLog();
    checkNewPlan(log, 'mc/m1', request, unwrap(planRouting(request)));
    expect(log.total).toBe(0);
  });

  it('reports a handler pushed past its hard limit while another has room', () => {
    const onlyA = unwrap(planRouting(input([handler('mh-a', 70_000_000)])));
    const log = newLog();
    checkNewPlan(log, 'mc/m1', input([handler('mh-a', 79_500_000), handler('mh-b')]), onlyA);
    expectReported(log, 'handler-limit', /^mc\/m1$/, /mh-a/);
  });

  it('reports a cascade of more than two hops', () => {
    const request = input(
      [handler('h1'), handler('h2'), handler('h3'), handler('h4')],
      [alice, bob],
    );
    const stream = { publisher: alice, kind: 'camera' as const };
    const [h1, h2, h3, h4] = ['h1', 'h2', 'h3', 'h4'].map(handlerId) as [
      ReturnType<typeof handlerId>,
      ReturnType<typeof handlerId>,
      ReturnType<typeof handlerId>,
      ReturnType<typeof handlerId>,
    ];
    const chained: RoutingPlan = {
      meeting: meetingId('m1'),
      hub: h1,
      homes: [
        { participant: alice, handler: h1 },
        { participant: bob, handler: h4 },
      ],
      publishes: [
        { type: 'publish', ...stream, handler: h1 },
        { type: 'publish', publisher: bob, kind: 'camera', handler: h4 },
      ],
      cascades: [
        { type: 'cascade', ...stream, from: h1, to: h2 },
        { type: 'cascade', ...stream, from: h2, to: h3 },
        { type: 'cascade', ...stream, from: h3, to: h4 },
      ],
      deliveries: [
        { type: 'deliver', ...stream, handler: h4, subscriber: bob },
        { type: 'deliver', publisher: bob, kind: 'camera', handler: h4, subscriber: alice },
      ],
      loads: [],
    };
    const log = newLog();
    checkNewPlan(log, 'mc/m1', request, chained);
    expectReported(log, 'cascade', /^mc\/m1$/, /hop/);
  });
});

describe('convergence', () => {
  const demand = everyoneSeesEveryone([alice, bob]);
  const plan = unwrap(planRouting(input([handler('mh-a')], [alice, bob])));

  it('holds when the installed entries deliver every demanded stream', () => {
    const log = newLog();
    checkConvergence(log, new RouteGraph(routesOf(plan)), demand, () => true, 0, 2_000_000);
    expect(log.total).toBe(0);
  });

  it('reports a subscriber whose delivery was never installed', () => {
    const installed = new RouteGraph(
      routesOf(plan).filter((r) => !(r.type === 'deliver' && r.subscriber === bob)),
    );
    const log = newLog();
    checkConvergence(log, installed, demand, () => true, 0, 2_000_000);
    expectReported(
      log,
      'convergence',
      /^client\/bob$/,
      /does not receive alice camera 2\.000000s after/,
    );
  });

  it('exempts pairs that cannot be delivered (a partitioned end)', () => {
    const log = newLog();
    checkConvergence(log, new RouteGraph(), demand, () => false, 0, 2_000_000);
    expect(log.total).toBe(0);
  });
});

describe('convergence of a checked plan', () => {
  const people = Array.from({ length: 10 }, (_, i) => participantId(`p${i}`));
  const request = input([handler('mh-a'), handler('mh-b')], people);
  const first = unwrap(planRouting(request));
  // A reroute: the same meeting with a third of the pairs no longer shown.
  const fewer = {
    ...request,
    demand: request.demand.filter((_, i) => i % 3 !== 0),
    previous: first,
  };
  const second = unwrap(planRouting(fewer));
  const plans = [
    { plan: first, demand: request.demand },
    { plan: second, demand: fewer.demand },
  ];
  const legs = [
    ...new Map([...routesOf(first), ...routesOf(second)].map((r) => [routeKey(r), r])).values(),
  ];
  const reachable = (d: StreamDemand) => d.subscriber !== people[9];

  it('plans that span two handlers and deliver their demand', () => {
    expect(first.cascades.length).toBeGreaterThan(0);
    expect(checkPlan(request, first)).toEqual([]);
    expect(checkPlan(fewer, second)).toEqual([]);
  });

  it('report what the pair-by-pair check reports, whatever is installed and removed meanwhile', () => {
    const step = fc.oneof(
      fc.record({ op: fc.constantFrom('add' as const, 'remove' as const), pick: fc.nat() }),
      {
        arbitrary: fc.record({ op: fc.constant('install' as const), which: fc.constantFrom(0, 1) }),
        weight: 2,
      },
      {
        arbitrary: fc.record({ op: fc.constant('replan' as const), which: fc.constantFrom(0, 1) }),
        weight: 2,
      },
      { arbitrary: fc.record({ op: fc.constant('check' as const) }), weight: 3 },
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        const installed = new RouteGraph();
        const checks = new ConvergenceChecks();
        let current = plans[0] as (typeof plans)[number];
        const remove = (route: Route) => {
          installed.remove(route);
          checks.legRemoved(route);
        };
        for (const s of steps) {
          if (s.op === 'add') installed.add(legs[s.pick % legs.length] as Route);
          else if (s.op === 'remove') remove(legs[s.pick % legs.length] as Route);
          else if (s.op === 'install') {
            // A whole plan put in place: its legs added, the others removed.
            const target = new Set(
              routesOf((plans[s.which] as (typeof plans)[number]).plan).map(routeKey),
            );
            for (const leg of legs) {
              if (target.has(routeKey(leg))) installed.add(leg);
              else remove(leg);
            }
          } else if (s.op === 'replan') current = plans[s.which] as (typeof plans)[number];
          else {
            const cheaply = newLog();
            checks.check(
              cheaply,
              installed,
              current.plan,
              true,
              current.demand,
              reachable,
              0,
              2_000_000,
            );
            const pairByPair = newLog();
            checkConvergence(pairByPair, installed, current.demand, reachable, 0, 2_000_000);
            expect(cheaply.first).toEqual(pairByPair.first);
            expect(cheaply.total).toBe(pairByPair.total);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('checks pair by pair when the plan was not found to deliver the demand', () => {
    const log = newLog();
    const everything = new RouteGraph(routesOf(first));
    const more = [
      ...request.demand,
      {
        subscriber: people[0] as ParticipantId,
        publisher: people[1] as ParticipantId,
        kind: 'screen' as const,
      },
    ];
    new ConvergenceChecks().check(log, everything, first, false, more, () => true, 0, 2_000_000);
    expectReported(log, 'convergence', /^client\/p0$/, /does not receive p1 screen/);
  });
});

describe('media-key epochs', () => {
  it('holds when every member is on the current epoch and leavers hold only older ones', () => {
    const log = newLog();
    checkEpochs(
      log,
      'm1',
      3,
      [{ participant: alice, held: new Set([2, 3]) }],
      [{ participant: bob, held: new Set([1, 2]), lastAllowedEpoch: 2 }],
    );
    expect(log.total).toBe(0);
  });

  it('reports a removed participant given a later epoch', () => {
    const log = newLog();
    checkEpochs(
      log,
      'm1',
      3,
      [],
      [{ participant: bob, held: new Set([2, 3]), lastAllowedEpoch: 2 }],
    );
    expectReported(log, 'media-key-epoch', /^client\/bob$/, /later epoch\(s\) 3/);
  });

  it('reports a member left on an old epoch', () => {
    const log = newLog();
    checkEpochs(log, 'm1', 3, [{ participant: carol, held: new Set([2]) }], []);
    expectReported(log, 'media-key-epoch', /^client\/carol$/, /newest epoch is 2/);
  });
});

describe('token verification', () => {
  const token = { kid: 'ac-us-west-1-0', claims: {} as never };

  it('accepts expiry as a legitimate refusal', () => {
    const log = newLog();
    checkTokenVerdict(log, 'gc/us-west-1', 'm1/p0', token, { kind: 'expired' });
    checkTokenVerdict(log, 'gc/us-west-1', 'm1/p0', token, undefined);
    expect(log.total).toBe(0);
  });

  it('reports an unexpired token refused after a key rotation', () => {
    const log = newLog();
    checkTokenVerdict(log, 'gc/us-west-1', 'm1/p0', token, { kind: 'unknown_kid' });
    expectReported(log, 'token-verification', /^gc\/us-west-1$/, /ac-us-west-1-0: unknown_kid/);
  });
});
