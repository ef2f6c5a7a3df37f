import { describe, expect, it } from 'vitest';
import { handlerId, meetingId, participantId, regionId, type MediaKind } from '../ids.ts';
import { unwrap } from '../result.ts';
import { checkPlan } from './check.ts';
import { planRouting, targetHandlerCount } from './planner.ts';
import { makeHandler, makeParticipant, meetingFavouring, wants } from './testing.ts';
import type { RoutingInput, RoutingPlan } from './types.ts';

const MBPS = 1_000_000;
const MH1 = handlerId('MH1');
const MH2 = handlerId('MH2');

const homeOf = (plan: RoutingPlan, who: string) =>
  plan.homes.find((h) => h.participant === participantId(who))?.handler;

/**
 * The spec's example (003, "Example: 3 Participants, 2 Handlers"): Alice and Bob meet first,
 * then Charlie joins and the meeting is planned again from the plan in force.
 */
function specExample(mh1CapacityBps: number): { first: RoutingInput; second: RoutingInput } {
  const alice = makeParticipant('alice', 0);
  const bob = makeParticipant('bob', 1);
  const aliceAndBob = [
    wants('alice', 'bob', 'camera'),
    wants('alice', 'bob', 'screen'),
    wants('bob', 'alice', 'camera'),
    wants('bob', 'alice', 'screen'),
  ];
  const first: RoutingInput = {
    // Alice and Bob, alone, take MH1 of two equal handlers.
    meeting: meetingFavouring('spec-example', 'MH1', ['MH2']),
    participants: [alice, bob],
    handlers: [
      makeHandler('MH1', { site: 'us-west-dc1', capacityBps: mh1CapacityBps }),
      makeHandler('MH2', { site: 'us-west-dc2' }),
    ],
    demand: aliceAndBob,
    latencyMs: {},
  };
  const second: RoutingInput = {
    ...first,
    participants: [alice, bob, makeParticipant('charlie', 2)],
    demand: [
      ...aliceAndBob,
      wants('alice', 'charlie', 'camera'),
      wants('bob', 'charlie', 'camera'),
      wants('charlie', 'alice', 'camera'),
    ],
    previous: unwrap(planRouting(first)),
  };
  return { first, second };
}

describe('planRouting: the spec example', () => {
  // MH1 at 40 Mbps: Alice and Bob (10 streams once Charlie is shown, 25 Mbps) stay below the
  // 70% warning band; Charlie's 2 streams would take it to 75%, while MH2 stays below warning.
  const { second: input } = specExample(40 * MBPS);
  const plan = unwrap(planRouting(input));

  it('keeps Alice and Bob co-located on MH1 and load-balances Charlie to MH2', () => {
    expect(input.previous?.homes.map((h) => h.handler)).toEqual([MH1, MH1]);
    expect(homeOf(plan, 'alice')).toBe(MH1);
    expect(homeOf(plan, 'bob')).toBe(MH1);
    expect(homeOf(plan, 'charlie')).toBe(MH2);
    expect(plan.hub).toBe(MH1);
  });

  it('counts 6 client streams and 1 handler-to-handler stream', () => {
    expect(plan.publishes).toHaveLength(6);
    expect(plan.cascades).toHaveLength(1);
    expect(plan.cascades[0]).toMatchObject({
      publisher: 'alice',
      kind: 'camera',
      from: MH1,
      to: MH2,
    });
    const charlieTargets = plan.publishes.filter((p) => p.publisher === participantId('charlie'));
    expect(charlieTargets.map((p) => p.handler).sort()).toEqual([MH1, MH2]);
    expect(plan.deliveries).toHaveLength(input.demand.length);
    expect(checkPlan(input, plan)).toEqual([]);
  });

  it('keeps MH1 within its hard limit', () => {
    const mh1 = plan.loads.find((l) => l.handler === MH1);
    expect(mh1).toBeDefined();
    expect(mh1?.totalBps).toBeLessThanOrEqual(mh1?.hardLimitBps ?? 0);
  });

  it('puts all three on one handler with no cascade when MH1 has room', () => {
    const roomy = unwrap(planRouting(specExample(1_000 * MBPS).second));
    expect(new Set(roomy.homes.map((h) => h.handler))).toEqual(new Set([MH1]));
    expect(roomy.cascades).toHaveLength(0);
    expect(roomy.publishes).toHaveLength(5);
  });
});

describe('planRouting: ties spread over handlers', () => {
  it('places meetings equal on every criterion on different handlers, each always the same', () => {
    const handlers = ['mh0', 'mh1', 'mh2', 'mh3'].map((id) => makeHandler(id));
    const homeOfMeeting = (i: number) => {
      const input: RoutingInput = {
        meeting: meetingId(`m-${i}`),
        participants: [makeParticipant('solo', 0)],
        handlers,
        demand: [],
        latencyMs: {},
      };
      return homeOf(unwrap(planRouting(input)), 'solo');
    };
    const counts = new Map<string | undefined, number>();
    for (let i = 0; i < 200; i++)
      counts.set(homeOfMeeting(i), (counts.get(homeOfMeeting(i)) ?? 0) + 1);
    expect(counts.size).toBe(4);
    for (const count of counts.values()) expect(count).toBeGreaterThan(25);
    expect(homeOfMeeting(7)).toBe(homeOfMeeting(7));
  });
});

describe('planRouting: stable homes', () => {
  // Alice and Bob on MH1 (plan in force); then other meetings' load on MH1 rises. Their own
  // eight streams are 20 Mbps of MH1's 100.
  const { first } = specExample(100 * MBPS);
  const inForce = unwrap(planRouting(first));
  const withMh1Load = (loadBps: number): RoutingInput => ({
    ...first,
    handlers: [
      makeHandler('MH1', { site: 'us-west-dc1', capacityBps: 100 * MBPS, loadBps }),
      makeHandler('MH2', { site: 'us-west-dc2', capacityBps: 100 * MBPS }),
    ],
    previous: inForce,
  });

  it('keeps participants on a handler that entered the warning band', () => {
    expect(inForce.homes.map((h) => h.handler)).toEqual([MH1, MH1]);
    const plan = unwrap(planRouting(withMh1Load(55 * MBPS)));
    expect(plan.loads.find((l) => l.handler === MH1)?.totalBps).toBeGreaterThan(70 * MBPS);
    expect(plan.homes.map((h) => h.handler)).toEqual([MH1, MH1]);
  });

  it('moves them when the handler would pass its hard limit', () => {
    const plan = unwrap(planRouting(withMh1Load(65 * MBPS)));
    expect(plan.homes.map((h) => h.handler)).toContain(MH2);
  });
});

function meetingOf(size: number, handlers = 4): RoutingInput {
  const participants = Array.from({ length: size }, (_, i) => makeParticipant(`p${i}`, i));
  return {
    meeting: meetingId('m'),
    participants,
    handlers: Array.from({ length: handlers }, (_, i) =>
      makeHandler(`mh${i}`, { site: `dc${i % 2}` }),
    ),
    demand: participants.slice(1).map((p) => wants(p.id, 'p0', 'camera')),
    latencyMs: {},
  };
}

describe('planRouting: handler count by meeting size', () => {
  it.each([
    [5, 1],
    [12, 2],
    [60, 2],
    [150, 3],
  ])('spreads %i participants over %i handler(s)', (size, expected) => {
    const plan = unwrap(planRouting(meetingOf(size)));
    const used = new Set(plan.homes.map((h) => h.handler));
    expect(used.size).toBe(expected);
    expect(targetHandlerCount(size)).toBe(expected);
  });

  it('splits a 12-person meeting evenly across two sites', () => {
    const input = meetingOf(12);
    const plan = unwrap(planRouting(input));
    const perHandler = new Map<string, number>();
    for (const h of plan.homes) perHandler.set(h.handler, (perHandler.get(h.handler) ?? 0) + 1);
    expect([...perHandler.values()]).toEqual([6, 6]);
    const sites = new Set(
      [...perHandler.keys()].map((id) => input.handlers.find((h) => h.id === id)?.site),
    );
    expect(sites.size).toBe(2);
  });

  it('spills onto more handlers when capacity demands it', () => {
    const input = meetingOf(12, 4);
    const small = input.handlers.map((h) => ({ ...h, capacityBps: 20 * MBPS }));
    const plan = unwrap(planRouting({ ...input, handlers: small }));
    expect(new Set(plan.homes.map((h) => h.handler)).size).toBeGreaterThan(2);
    expect(checkPlan({ ...input, handlers: small }, plan)).toEqual([]);
  });
});

describe('planRouting: multi-region meetings', () => {
  const regions = ['us-west-1', 'us-east-1', 'eu-west-1'].map(regionId);
  const latencyMs = Object.fromEntries(
    regions.map((from) => [
      from,
      Object.fromEntries(regions.map((to) => [to, from === to ? 0 : 80])),
    ]),
  );
  const meeting = (size: number): RoutingInput => {
    const participants = Array.from({ length: size }, (_, i) =>
      makeParticipant(`p${i}`, i, { region: regions[i % 3] }),
    );
    return {
      meeting: meetingId('m'),
      participants,
      handlers: Array.from({ length: 6 }, (_, i) =>
        makeHandler(`mh${i}`, { region: regions[i % 3], site: `dc${i}` }),
      ),
      demand: participants.slice(1).map((p) => wants(p.id, 'p0', 'camera')),
      latencyMs,
    };
  };

  it.each([30, 120])('homes %i participants on one handler per region', (size) => {
    const input = meeting(size);
    const plan = unwrap(planRouting(input));
    const regionOf = new Map(input.handlers.map((h) => [h.id, h.region]));
    expect(new Set(plan.homes.map((h) => h.handler)).size).toBe(3);
    for (const p of input.participants) {
      expect(regionOf.get(homeOf(plan, p.id) ?? handlerId('none'))).toBe(p.region);
    }
    expect(checkPlan(input, plan)).toEqual([]);
  });
});

describe('planRouting: placement criteria', () => {
  const euWest = regionId('eu-west-1');
  const usWest = regionId('us-west-1');
  const latencyMs = { [usWest]: { [euWest]: 140 }, [euWest]: { [usWest]: 140 } };

  it('homes each participant on the nearest handler and cascades across regions', () => {
    const input: RoutingInput = {
      meeting: meetingId('m'),
      participants: [makeParticipant('ann', 0), makeParticipant('eve', 1, { region: euWest })],
      handlers: [makeHandler('us'), makeHandler('eu', { region: euWest })],
      demand: [wants('ann', 'eve', 'camera'), wants('eve', 'ann', 'camera')],
      latencyMs,
    };
    const plan = unwrap(planRouting(input));
    expect(homeOf(plan, 'ann')).toBe(handlerId('us'));
    expect(homeOf(plan, 'eve')).toBe(handlerId('eu'));
    expect(plan.cascades).toEqual([
      { type: 'cascade', publisher: 'ann', kind: 'camera', from: 'us', to: 'eu' },
    ]);
    expect(checkPlan(input, plan)).toEqual([]);
  });

  it('moves a participant off a handler its hub duties would overload', () => {
    // Alice alone costs MH1 3 streams, but as hub MH1 also takes Bob's and Charlie's cameras
    // and cascades Alice's: 6 streams (15 Mbps) against a hard limit of 5 (12.5 Mbps).
    const input: RoutingInput = {
      meeting: meetingId('m'),
      participants: [
        makeParticipant('alice', 0),
        makeParticipant('bob', 1, { region: euWest }),
        makeParticipant('charlie', 2, { region: euWest }),
      ],
      handlers: [
        makeHandler('us', { capacityBps: 15.625 * MBPS }),
        makeHandler('eu', { region: euWest }),
      ],
      demand: [
        wants('alice', 'bob', 'camera'),
        wants('alice', 'charlie', 'camera'),
        wants('bob', 'alice', 'camera'),
        wants('charlie', 'alice', 'camera'),
      ],
      latencyMs,
    };
    const plan = unwrap(planRouting(input));
    expect(plan.homes.map((h) => h.handler)).toEqual(['eu', 'eu', 'eu']);
    expect(plan.cascades).toEqual([]);
    expect(checkPlan(input, plan)).toEqual([]);
  });

  it('keeps a participant on the handler it is connected to', () => {
    const input: RoutingInput = {
      meeting: meetingId('m'),
      participants: [makeParticipant('ann', 0, { currentHandler: MH2 })],
      handlers: [makeHandler('MH1'), makeHandler('MH2')],
      demand: [],
      latencyMs: {},
    };
    expect(homeOf(unwrap(planRouting(input)), 'ann')).toBe(MH2);
  });

  it('keeps homes from the previous plan when the layout changes', () => {
    const input = meetingOf(12);
    const first = unwrap(planRouting(input));
    const relaid = { ...input, demand: [wants('p3', 'p7', 'screen')], previous: first };
    expect(unwrap(planRouting(relaid)).homes).toEqual(first.homes);
  });

  it("shares the previous plan's route objects for every stream whose legs stay", () => {
    const base = meetingOf(12);
    const everyone = base.participants.map((p) => p.id);
    const demand = everyone.flatMap((subscriber) =>
      everyone.filter((p) => p !== subscriber).map((p) => wants(subscriber, p, 'camera')),
    );
    const input = { ...base, demand };
    const first = unwrap(planRouting(input));
    // One subscriber stops showing one stream: every other stream keeps its legs.
    const [dropped, ...rest] = demand;
    const second = unwrap(planRouting({ ...input, demand: rest, previous: first }));
    expect(second.homes).toBe(first.homes);
    const earlier = new Set([...first.publishes, ...first.cascades, ...first.deliveries]);
    const ofDropped = (r: { publisher: string }) => r.publisher === dropped?.publisher;
    const kept = [...second.publishes, ...second.cascades, ...second.deliveries].filter(
      (r) => !ofDropped(r),
    );
    expect(kept.length).toBeGreaterThan(100);
    for (const route of kept) expect(earlier.has(route)).toBe(true);
  });

  it('never uses an unhealthy handler, even the current one', () => {
    const input: RoutingInput = {
      meeting: meetingId('m'),
      participants: [makeParticipant('ann', 0, { currentHandler: MH1 }), makeParticipant('bo', 1)],
      handlers: [makeHandler('MH1', { healthy: false }), makeHandler('MH2')],
      demand: [wants('bo', 'ann', 'audio')],
      latencyMs: {},
    };
    const plan = unwrap(planRouting(input));
    expect(plan.homes.map((h) => h.handler)).toEqual([MH2, MH2]);
  });

  it('does not forward a stream nobody shows', () => {
    const plan = unwrap(planRouting(meetingOf(3)));
    expect(plan.publishes.map((p) => `${p.publisher}/${p.kind}`)).toEqual(['p0/camera']);
  });
});

describe('planRouting: errors', () => {
  const base = meetingOf(3);

  it('reports a meeting that fits nowhere as insufficient capacity', () => {
    const tiny = base.handlers.map((h) => ({ ...h, capacityBps: 3 * MBPS }));
    const result = planRouting({ ...base, handlers: tiny });
    expect(result).toMatchObject({ ok: false, error: { kind: 'insufficient-capacity' } });
    if (!result.ok && result.error.kind === 'insufficient-capacity') {
      expect(result.error.unplaced).toContain(participantId('p0'));
    }
  });

  it('rejects demand naming an unknown participant', () => {
    const result = planRouting({ ...base, demand: [wants('p1', 'ghost', 'camera')] });
    expect(result).toEqual({
      ok: false,
      error: { kind: 'unknown-participant', participant: 'ghost' },
    });
  });

  it('rejects a demanded stream of an unknown kind', () => {
    const video = { ...wants('p1', 'p0', 'camera'), kind: 'video' as MediaKind };
    expect(planRouting({ ...base, demand: [video] })).toEqual({
      ok: false,
      error: { kind: 'unknown-media-kind', participant: 'p0', mediaKind: 'video' },
    });
  });

  it('rejects a participant subscribing to itself', () => {
    const result = planRouting({ ...base, demand: [wants('p1', 'p1', 'camera')] });
    expect(result).toMatchObject({ ok: false, error: { kind: 'self-subscription' } });
  });

  it('rejects duplicate ids, bad capacities and bad bitrates', () => {
    const dupParticipants = {
      ...base,
      participants: [...base.participants, makeParticipant('p0', 9)],
    };
    expect(planRouting(dupParticipants)).toMatchObject({
      error: { kind: 'duplicate-participant' },
    });
    const dupHandlers = { ...base, handlers: [...base.handlers, makeHandler('mh0')] };
    expect(planRouting(dupHandlers)).toMatchObject({ error: { kind: 'duplicate-handler' } });
    const broken = { ...base, handlers: [makeHandler('mh0', { capacityBps: 0 })] };
    expect(planRouting(broken)).toMatchObject({
      error: { kind: 'invalid-handler', handler: 'mh0' },
    });
    expect(planRouting({ ...base, streamBitrateBps: -1 })).toMatchObject({
      error: { kind: 'invalid-bitrate' },
    });
  });

  it('reports no healthy handler', () => {
    const down = base.handlers.map((h) => ({ ...h, healthy: false }));
    expect(planRouting({ ...base, handlers: down })).toEqual({
      ok: false,
      error: { kind: 'no-healthy-handler' },
    });
  });

  it('plans an empty meeting as an empty plan', () => {
    const plan = unwrap(planRouting({ ...base, participants: [], demand: [] }));
    expect(plan).toMatchObject({ hub: null, homes: [], publishes: [], deliveries: [], loads: [] });
  });
});

describe('planRouting: spilling to handlers with room', () => {
  const usWest = regionId('us-west-1');
  const usEast = regionId('us-east-1');
  const latencyMs = { [usWest]: { [usEast]: 70 }, [usEast]: { [usWest]: 70 } };
  // Ten streams shown in thirteen pairs: on one handler, 10 publishes in and 13 deliveries out,
  // 23 streams at 2.5 Mbps = 57.5 Mbps.
  const demand = [
    wants('w1', 'w0', 'camera'),
    wants('w2', 'w0', 'camera'),
    wants('e0', 'w0', 'camera'),
    wants('w0', 'w1', 'camera'),
    wants('w2', 'w1', 'camera'),
    wants('w0', 'w2', 'camera'),
    wants('w4', 'w3', 'camera'),
    wants('w3', 'w4', 'camera'),
    wants('w6', 'w5', 'camera'),
    wants('w5', 'w6', 'camera'),
    wants('w0', 'e0', 'camera'),
    wants('w1', 'w0', 'screen'),
    wants('w5', 'w3', 'audio'),
  ];
  const participants = [
    ...['w0', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6'].map((id, i) => makeParticipant(id, i)),
    makeParticipant('e0', 7, { region: usEast }),
  ];
  // mh3: 70 Mbps, hard limit 56 Mbps; mh5: 81 Mbps, hard limit 64.8 Mbps.
  const mh3 = makeHandler('mh3', { capacityBps: 70 * MBPS });
  const mh5 = makeHandler('mh5', { region: usEast, site: 'dc2', capacityBps: 81 * MBPS });
  const input = (handlers: RoutingInput['handlers']): RoutingInput => ({
    meeting: meetingId('m'),
    participants,
    handlers,
    demand,
    latencyMs,
  });

  it('routes the meeting on the one handler that carries it whole', () => {
    const alone = unwrap(planRouting(input([mh5])));
    expect(alone.loads).toEqual([
      { handler: 'mh5', meetingBps: 57.5 * MBPS, totalBps: 57.5 * MBPS, hardLimitBps: 64.8 * MBPS },
    ]);
    const both = input([mh3, mh5]);
    const plan = unwrap(planRouting(both));
    expect(checkPlan(both, plan)).toEqual([]);
    for (const load of plan.loads) expect(load.totalBps).toBeLessThanOrEqual(load.hardLimitBps);
    expect(plan.homes.map((h) => h.handler)).toEqual(Array(8).fill('mh5'));
    expect(plan).toEqual(alone);
  });
  it('refuses with what stayed over on all handlers when neither carries the meeting', () => {
    const small = makeHandler('mh5', { region: usEast, site: 'dc2', capacityBps: 70 * MBPS });
    expect(planRouting(input([mh3, small]))).toEqual({
      ok: false,
      error: {
        kind: 'insufficient-capacity',
        unplaced: [],
        overloaded: [{ handler: 'mh3', plannedBps: 57.5 * MBPS, hardLimitBps: 56 * MBPS }],
      },
    });
  });

  it('keeps a meeting routable when an idle handler is added that the spread cannot use', () => {
    const euWest = regionId('eu-west-1');
    const table = {
      [usWest]: { [usWest]: 0, [usEast]: 1, [euWest]: 178 },
      [usEast]: { [usWest]: 1, [usEast]: 0, [euWest]: 102 },
      [euWest]: { [usWest]: 178, [usEast]: 102, [euWest]: 0 },
    };
    const busy: RoutingInput = {
      meeting: meetingId('m'),
      participants: [
        makeParticipant('p0', 862, { region: euWest, wants: ['transcoding', 'audio-mixing'] }),
        makeParticipant('p1', 650, {
          region: euWest,
          wants: ['transcoding'],
          currentHandler: handlerId('mh0'),
        }),
        makeParticipant('p2', 26, {
          wants: ['transcoding', 'audio-mixing'],
          currentHandler: handlerId('mh1'),
        }),
        makeParticipant('p3', 981, { region: euWest, currentHandler: handlerId('mh0') }),
      ],
      handlers: [
        makeHandler('mh0', {
          region: usEast,
          capacityBps: 19.3125 * MBPS,
          loadBps: 4.635 * MBPS,
          quality: 0.98,
          capabilities: ['transcoding', 'audio-mixing'],
        }),
        makeHandler('mh1', { capacityBps: 22.3125 * MBPS, loadBps: 5.355 * MBPS, quality: 0.77 }),
      ],
      demand: [
        wants('p2', 'p1', 'audio'),
        wants('p2', 'p1', 'camera'),
        wants('p0', 'p3', 'screen'),
      ],
      latencyMs: table,
    };
    expect(planRouting(busy).ok).toBe(true);
    const idle = makeHandler('mh3a', { region: usEast, site: 'dc3', capacityBps: 8 * MBPS });
    const more = { ...busy, handlers: [...busy.handlers, idle] };
    const plan = unwrap(planRouting(more));
    expect(checkPlan(more, plan)).toEqual([]);
    expect(plan.loads.map((l) => l.handler)).not.toContain('mh3a');
  });
});
