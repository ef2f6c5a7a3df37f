import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPlan } from './check.ts';
import { firstPlacement, planJoining, planKeepingHomes, planRouting } from './planner.ts';
import { arbitraryRoutingInput, makeHandler, makeParticipant, wants } from './testing.ts';
import {
  BANDWIDTH_HARD_LIMIT_RATIO,
  DEFAULT_STREAM_BITRATE_BPS,
  type RoutingInput,
  type RoutingPlan,
  type StreamDemand,
} from './types.ts';
import {
  MEDIA_KINDS,
  handlerId,
  meetingId,
  participantId,
  regionId,
  type MediaKind,
} from '../ids.ts';

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

/** Two members on two handlers, each showing the other, and their first plan. */
function twoMembers() {
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
  return { handlers, participants, base, first };
}

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
    const { handlers, participants, base, first } = twoMembers();
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

/**
 * Members joining: up to three new participants (after everyone in join order, in random
 * regions), a new demand over old and new members, and new loads from other meetings.
 */
const joining = fc.record({
  joiners: fc.array(fc.constantFrom('us-west-1', 'us-east-1', 'eu-west-1'), {
    minLength: 1,
    maxLength: 3,
  }),
  change: demandChange,
});

type Joining = typeof joining extends fc.Arbitrary<infer T> ? T : never;

/** The input after `j`'s members joined, with ids `<prefix><n>`. */
function applyJoin(
  input: RoutingInput,
  previous: RoutingPlan,
  j: Joining,
  prefix = 'j',
): RoutingInput {
  const last = Math.max(0, ...input.participants.map((p) => p.joinOrder));
  const joiners = j.joiners.map((region, i) =>
    makeParticipant(`${prefix}${i}`, last + 1 + i, { region: regionId(region) }),
  );
  return applyChange({ ...input, participants: [...input.participants, ...joiners] }, previous, {
    ...j.change,
  });
}

describe('planJoining: replanning for members who joined', () => {
  it('keeps every earlier home, places every joiner, passes every check and stays within every hard limit, over a sequence of joins', () => {
    let planned = 0;
    fc.assert(
      fc.property(
        fc.oneof(ample, constrained),
        fc.array(joining, { minLength: 1, maxLength: 4 }),
        (start, joins) => {
          const first = planRouting(start);
          if (!first.ok) return;
          let input = start;
          let plan = first.value;
          for (const [round, join] of joins.entries()) {
            input = applyJoin(input, plan, join, `j${round}-`);
            const joined = planJoining(input);
            if (joined === undefined) {
              // A full planning; the next round joins onto its plan.
              const fresh = planRouting(input);
              if (!fresh.ok) return;
              plan = fresh.value;
              continue;
            }
            if (!joined.ok) {
              // Only an input fresh planning refuses as well (no healthy handler, say).
              expect(planRouting(input)).toEqual(joined);
              return;
            }
            planned++;
            const after = homesOf(joined.value);
            for (const [participant, handler] of homesOf(plan))
              expect(after.get(participant)).toBe(handler);
            expect([...after.keys()].sort()).toEqual(input.participants.map((p) => p.id).sort());
            expect(checkPlan(input, joined.value)).toEqual([]);
            for (const load of joined.value.loads)
              expect(load.totalBps).toBeLessThanOrEqual(load.hardLimitBps);
            plan = joined.value;
          }
        },
      ),
      RUNS,
    );
    expect(planned).toBeGreaterThan(RUNS.numRuns / 2);
  });

  it('gives the fresh plan itself whenever fresh placement keeps the earlier homes too', () => {
    let compared = 0;
    fc.assert(
      fc.property(fc.oneof(ample, constrained), joining, (start, join) => {
        const first = planRouting(start);
        if (!first.ok) return;
        const input = applyJoin(start, first.value, join);
        // Fresh planning's first placement round: when it fits, it is the fresh plan.
        const placed = firstPlacement(input);
        if (!placed.ok) return;
        if (placed.value.loads.some((l) => l.totalBps > l.hardLimitBps)) return;
        expect(planRouting(input)).toEqual(placed);
        const before = homesOf(first.value);
        const keeps = placed.value.homes.every(
          (h) => !before.has(h.participant) || before.get(h.participant) === h.handler,
        );
        if (!keeps) return;
        const joined = planJoining(input);
        if (joined === undefined || !joined.ok)
          throw new Error('joining failed where fresh placement kept the homes');
        compared++;
        expect(joined.value).toEqual(placed.value);
      }),
      RUNS,
    );
    expect(compared).toBeGreaterThan(RUNS.numRuns / 3);
  });

  it('may place a joiner nearer than fresh planning does when fresh planning had to search further', () => {
    // p0 and p1 in us-west are on mh3 in us-east (mh6 in us-west is too small for the whole
    // meeting). A joiner in us-west whom p0 watches fits on mh6: joining puts it there; fresh
    // planning, whose first round puts everyone on mh6 and overfills it, ends with the whole
    // meeting on mh3. Both plans are sound.
    const region = (r: string) => regionId(r);
    const handler = (id: string, r: string, capacityBps: number) => ({
      ...makeHandler(id),
      region: region(r),
      capacityBps,
    });
    const handlers = [
      handler('mh3', 'us-east-1', 19_000_000),
      handler('mh6', 'us-west-1', 10_000_000),
    ];
    const latencyMs = {
      [region('us-west-1')]: { [region('us-west-1')]: 0, [region('us-east-1')]: 1 },
      [region('us-east-1')]: { [region('us-west-1')]: 1, [region('us-east-1')]: 0 },
    };
    const inWest = (id: string, order: number) => ({
      ...makeParticipant(id, order),
      region: region('us-west-1'),
    });
    const start: RoutingInput = {
      meeting: meetingId('m1'),
      participants: [inWest('p0', 0), inWest('p1', 1)],
      handlers,
      demand: [wants('p1', 'p0', 'camera'), wants('p0', 'p1', 'camera')],
      latencyMs,
    };
    const first = planRouting(start);
    if (!first.ok) throw new Error('no first plan');
    expect(first.value.homes.map((h) => h.handler)).toEqual(['mh3', 'mh3']);
    const input: RoutingInput = {
      ...start,
      participants: [...start.participants, inWest('j0', 2)],
      demand: [...start.demand, wants('p0', 'j0', 'camera')],
      previous: first.value,
    };
    const joined = planJoining(input);
    const fresh = planRouting(input);
    if (joined === undefined || !joined.ok || !fresh.ok) throw new Error('no plan');
    expect(homesOf(joined.value).get(participantId('j0'))).toBe(handlerId('mh6'));
    expect(homesOf(fresh.value).get(participantId('j0'))).toBe(handlerId('mh3'));
    for (const plan of [joined.value, fresh.value]) {
      expect(checkPlan(input, plan)).toEqual([]);
      for (const load of plan.loads) expect(load.totalBps).toBeLessThanOrEqual(load.hardLimitBps);
    }
  });

  it('is undefined without a previous plan, for a home that failed, or a joiner before a kept member', () => {
    const { handlers, participants, base, first } = twoMembers();
    const joined = {
      ...base,
      participants: [...participants, makeParticipant('p3', 3)],
      demand: [...base.demand, wants('p3', 'p1', 'camera')],
      previous: first.value,
    };
    expect(planJoining({ ...joined, previous: undefined })).toBeUndefined();
    const plan = planJoining(joined);
    expect(plan).toEqual(planRouting(joined));
    expect(plan?.ok && plan.value.homes.map((h) => h.participant)).toEqual(['p1', 'p2', 'p3']);
    const home = first.value.homes[0]?.handler;
    const failed = {
      ...joined,
      handlers: handlers.map((h) => (h.id === home ? { ...h, healthy: false } : h)),
    };
    expect(planJoining(failed)).toBeUndefined();
    const early = { ...joined, participants: [...participants, makeParticipant('p3', 0)] };
    expect(planJoining(early)).toBeUndefined();
    // No joiner: the homes are kept, as planKeepingHomes keeps them.
    expect(planJoining({ ...base, previous: first.value })).toEqual(
      planKeepingHomes({ ...base, previous: first.value }),
    );
  });

  it('is undefined when a joiner fits nowhere or the new legs take a kept home past its hard limit', () => {
    const capacityBps = (4 * DEFAULT_STREAM_BITRATE_BPS) / BANDWIDTH_HARD_LIMIT_RATIO;
    const base: RoutingInput = {
      meeting: meetingId('m1'),
      participants: [makeParticipant('p1', 1), makeParticipant('p2', 2)],
      handlers: [makeHandler('mh-a', { capacityBps })],
      demand: [wants('p1', 'p2', 'camera'), wants('p2', 'p1', 'camera')],
      latencyMs: {},
    };
    const first = planRouting(base);
    if (!first.ok) throw new Error('no first plan');
    const withJoiner = (demand: StreamDemand[]): RoutingInput => ({
      ...base,
      participants: [...base.participants, makeParticipant('p3', 3)],
      demand: [...base.demand, ...demand],
      previous: first.value,
    });
    // Exactly at the hard limit: four streams in and out, the joiner's one stream included.
    expect(planJoining(withJoiner([]))?.ok).toBe(true);
    // The joiner's own streams do not fit.
    expect(
      planJoining(withJoiner([wants('p3', 'p1', 'camera'), wants('p3', 'p2', 'camera')])),
    ).toBeUndefined();
    // The joiner costs nothing, but the members' new legs leave no room for it.
    expect(
      planJoining({
        ...withJoiner([]),
        demand: [...base.demand, wants('p1', 'p2', 'audio'), wants('p2', 'p1', 'audio')],
      }),
    ).toBeUndefined();
  });

  it("counts the kept members' load where they are when it places a joiner", () => {
    // Room for eight streams on each handler, the warning band from seven: p1 and p2 on one
    // use four, and a joiner there would take it to eight (its publish, three deliveries):
    // within the hard limit but into the warning band, so the joiner goes to the other handler.
    // Placed as if the kept members cost nothing, it would land beside them.
    const capacityBps = (8 * DEFAULT_STREAM_BITRATE_BPS) / BANDWIDTH_HARD_LIMIT_RATIO;
    const base: RoutingInput = {
      meeting: meetingId('m1'),
      participants: [makeParticipant('p1', 1), makeParticipant('p2', 2)],
      handlers: [makeHandler('mh-a', { capacityBps }), makeHandler('mh-b', { capacityBps })],
      demand: [wants('p1', 'p2', 'camera'), wants('p2', 'p1', 'camera')],
      latencyMs: {},
    };
    const first = planRouting(base);
    if (!first.ok) throw new Error('no first plan');
    const home = first.value.homes[0]?.handler;
    expect(first.value.homes.map((h) => h.handler)).toEqual([home, home]);
    const joined = planJoining({
      ...base,
      participants: [...base.participants, makeParticipant('p3', 3)],
      demand: [
        ...base.demand,
        wants('p3', 'p1', 'camera'),
        wants('p3', 'p2', 'camera'),
        wants('p1', 'p3', 'camera'),
      ],
      previous: first.value,
    });
    if (joined === undefined || !joined.ok) throw new Error('no plan');
    const p3 = homesOf(joined.value).get(participantId('p3'));
    expect(p3).toBeDefined();
    expect(p3).not.toBe(home);
  });
});
