import { describe, expect, it } from 'vitest';
import { handlerId, meetingId, participantId } from '../ids.ts';
import { unwrap } from '../result.ts';
import { routeKey, sortByKey } from './keys.ts';
import { routesOf } from './loads.ts';
import { planRouting } from './planner.ts';
import { makeHandler, makeParticipant, wants } from './testing.ts';
import {
  RemovalReach,
  applySteps,
  findTransitionGaps,
  keptDemand,
  planTransition,
  type PlanStep,
} from './transition.ts';
import type { RoutingInput } from './types.ts';

const before: RoutingInput = {
  meeting: meetingId('m'),
  participants: ['alice', 'bob', 'charlie'].map((id, i) => makeParticipant(id, i)),
  handlers: [makeHandler('MH1'), makeHandler('MH2', { site: 'dc2' })],
  demand: [
    wants('bob', 'alice', 'camera'),
    wants('charlie', 'alice', 'camera'),
    wants('alice', 'bob', 'camera'),
  ],
  latencyMs: {},
};
const oldPlan = unwrap(planRouting(before));

/** MH1 fails: the meeting moves to MH2. */
const afterLoss: RoutingInput = {
  ...before,
  handlers: [makeHandler('MH1', { healthy: false }), makeHandler('MH2', { site: 'dc2' })],
  previous: oldPlan,
};
const newPlan = unwrap(planRouting(afterLoss));

describe('planTransition', () => {
  const steps = planTransition(oldPlan, newPlan);

  it('moves the meeting off the failed handler', () => {
    expect(new Set(oldPlan.homes.map((h) => h.handler))).toEqual(new Set([handlerId('MH1')]));
    expect(new Set(newPlan.homes.map((h) => h.handler))).toEqual(new Set([handlerId('MH2')]));
  });

  it('adds every new leg before removing any old one, upstream first', () => {
    const ops = steps.map((s) => `${s.op} ${s.route.type}`);
    const firstRemove = ops.findIndex((op) => op.startsWith('remove'));
    expect(firstRemove).toBeGreaterThan(0);
    expect(ops.slice(firstRemove).every((op) => op.startsWith('remove'))).toBe(true);
    expect([...new Set(ops)]).toEqual([
      'add publish',
      'add deliver',
      'remove deliver',
      'remove publish',
    ]);
  });

  it('reaches exactly the new plan', () => {
    expect(applySteps(routesOf(oldPlan), steps)).toEqual(sortByKey(routesOf(newPlan), routeKey));
    expect(applySteps([], planTransition(null, newPlan))).toEqual(
      sortByKey(routesOf(newPlan), routeKey),
    );
  });

  it('never leaves a kept pair undelivered', () => {
    const kept = keptDemand(before.demand, afterLoss.demand);
    expect(kept).toHaveLength(3);
    expect(findTransitionGaps(routesOf(oldPlan), steps, kept)).toEqual([]);
  });

  it('catches a reroute that removes before it adds', () => {
    const breakFirst: PlanStep[] = [
      ...steps.filter((s) => s.op === 'remove'),
      ...steps.filter((s) => s.op === 'add'),
    ];
    const gaps = findTransitionGaps(routesOf(oldPlan), breakFirst, before.demand);
    expect(gaps.map((g) => `${g.subscriber}<-${g.stream.publisher}`).sort()).toEqual([
      'alice<-bob',
      'bob<-alice',
      'charlie<-alice',
    ]);
    const bobGap = gaps.find((g) => g.subscriber === participantId('bob'));
    expect(bobGap?.message).toBe(
      `subscriber bob loses alice/camera after step ${bobGap?.afterStep} (deliver removed)`,
    );
  });

  it('catches an upstream leg removed while its subscribers still need it', () => {
    const publishAlice = routesOf(oldPlan).find(
      (r) => r.type === 'publish' && r.publisher === participantId('alice'),
    );
    expect(publishAlice).toBeDefined();
    if (publishAlice === undefined) return;
    const gaps = findTransitionGaps(
      routesOf(oldPlan),
      [{ op: 'remove', route: publishAlice }],
      before.demand,
    );
    expect(gaps.map((g) => [g.subscriber, g.afterStep])).toEqual([
      ['bob', 0],
      ['charlie', 0],
    ]);
  });

  it('keeps the pairs that stay shown when the active speaker changes', () => {
    const speakerChange: RoutingInput = {
      ...before,
      demand: [
        wants('bob', 'alice', 'camera'),
        wants('charlie', 'bob', 'camera'),
        wants('alice', 'bob', 'camera'),
      ],
      previous: oldPlan,
    };
    const next = unwrap(planRouting(speakerChange));
    const kept = keptDemand(before.demand, speakerChange.demand);
    expect(kept).toHaveLength(2);
    const change = planTransition(oldPlan, next);
    expect(findTransitionGaps(routesOf(oldPlan), change, kept)).toEqual([]);
    expect(change.filter((s) => s.op === 'remove').map((s) => s.route)).toEqual([
      {
        type: 'deliver',
        publisher: 'alice',
        kind: 'camera',
        handler: 'MH1',
        subscriber: 'charlie',
      },
    ]);
  });
});

describe('RemovalReach', () => {
  const camera = (publisher: string) => ({
    publisher: participantId(publisher),
    kind: 'camera' as const,
  });
  const deliver = (publisher: string, subscriber: string, handler: string): PlanStep => ({
    op: 'remove',
    route: {
      type: 'deliver',
      ...camera(publisher),
      subscriber: participantId(subscriber),
      handler: handlerId(handler),
    },
  });

  it("reaches only the subscriber's own pair when a delivery is removed", () => {
    const reach = RemovalReach.of([deliver('alice', 'bob', 'MH1')]);
    expect(reach.touches(camera('alice'))).toBe(true);
    expect(reach.reaches(wants('bob', 'alice', 'camera'))).toBe(true);
    expect(reach.reaches(wants('charlie', 'alice', 'camera'))).toBe(false);
    expect(reach.touches(camera('bob'))).toBe(false);
  });

  it('reaches every pair of a stream that loses a cascade or publish leg, and nothing for additions', () => {
    const cascade: PlanStep = {
      op: 'remove',
      route: { type: 'cascade', ...camera('alice'), from: handlerId('MH1'), to: handlerId('MH2') },
    };
    const reach = RemovalReach.of([deliver('alice', 'bob', 'MH1'), cascade]);
    expect(reach.reaches(wants('charlie', 'alice', 'camera'))).toBe(true);
    expect(reach.reaches(wants('charlie', 'alice', 'screen'))).toBe(false);
    expect(RemovalReach.of([{ ...cascade, op: 'add' }]).empty).toBe(true);
  });
});
