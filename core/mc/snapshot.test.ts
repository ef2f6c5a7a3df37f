import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { meetingId } from '../ids.ts';
import { routeKey } from '../routing/keys.ts';
import { routesOf } from '../routing/loads.ts';
import { ControllerEndpoint } from './endpoint.ts';
import { homeIn } from './meeting.ts';
import {
  checkSnapshot,
  restoreMeeting,
  snapshotMeeting,
  type MeetingSnapshot,
} from './snapshot.ts';
import {
  TEST_TIMING,
  ackUntilIdle,
  controllerConfig,
  drain,
  grid,
  h,
  joinSettled,
  meetingConfig,
  newMeeting,
  ofType,
  p,
  report,
  speakerMeeting,
  viewOf,
} from './testing.ts';

const m1 = meetingId('m1');

/** A settled meeting of a, b and c on h1 and h2, with a speaker and a departed member. */
function settledMeeting() {
  const { machine } = newMeeting(['h1', 'h2']);
  joinSettled(machine, ['a', 'b', 'c', 'd'], 0);
  machine.handle({ type: 'speaker', participant: p('b') }, 10);
  ackUntilIdle(machine, drain(machine), 10);
  machine.handle({ type: 'leave', participant: p('d') }, 20);
  ackUntilIdle(machine, drain(machine), 20);
  machine.handle({ type: 'connected', participant: p('a'), handler: h('h1') }, 30);
  ackUntilIdle(machine, drain(machine), 30);
  return machine;
}

/** A JSON round trip: what the store gives back. */
const stored = (snapshot: MeetingSnapshot): MeetingSnapshot =>
  JSON.parse(JSON.stringify(snapshot)) as MeetingSnapshot;

describe('meeting snapshots', () => {
  it('restores members, join orders, speakers, departed and counters', () => {
    const machine = settledMeeting();
    const snapshot = stored(snapshotMeeting(machine, 40));
    const restored = restoreMeeting(snapshot, meetingConfig(), viewOf(['h1', 'h2'], 40), 40);
    if (!restored.ok) throw new Error(JSON.stringify(restored.error));
    const copy = restored.value;
    expect([...copy.roster.members.keys()]).toEqual(['a', 'b', 'c']);
    for (const [id, member] of machine.roster.members) {
      const other = copy.roster.members.get(id);
      expect(other?.joinOrder).toBe(member.joinOrder);
      expect(other?.publishes).toEqual(member.publishes);
      expect(other?.layout).toEqual(member.layout);
      expect(other?.connectedHandler).toBe(member.connectedHandler);
    }
    expect(copy.roster.activeSpeakers).toEqual(['b']);
    expect(copy.roster.departed).toEqual(['d']);
    expect(copy.durableState().nextJoinOrder).toBe(machine.durableState().nextJoinOrder);
    expect(copy.durableState().nextCommandId).toBe(machine.durableState().nextCommandId);
  });

  it('a reconnect after restore keeps the participant, its join order and its home', () => {
    const machine = settledMeeting();
    const before = homeIn(machine.plan, p('a'));
    const snapshot = stored(snapshotMeeting(machine, 40));
    const endpoint = new ControllerEndpoint(controllerConfig(), 40);
    for (const id of ['h1', 'h2']) endpoint.handlers.report(report(id, 40), 40);
    const restored = restoreMeeting(
      snapshot,
      { ...meetingConfig(), meeting: m1 },
      endpoint.handlers,
      40,
    );
    if (!restored.ok) throw new Error('not restored');
    endpoint.handle({ type: 'adopt', machine: restored.value }, 40);
    endpoint.handle(
      {
        type: 'meeting',
        meeting: m1,
        input: { type: 'join', participant: p('a'), region: machine.config.region, layout: grid() },
      },
      50,
    );
    const outputs = [];
    for (let o = endpoint.pollOutput(); o !== null; o = endpoint.pollOutput())
      if (o.type === 'meeting') outputs.push(o.output);
    const accepted = ofType(outputs, 'join-accepted');
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toMatchObject({ participant: 'a', reconnect: true, handler: before });
    expect(restored.value.roster.members.get(p('a'))?.joinOrder).toBe(0);
    // Route commands go on from the failed controller's numbering.
    const ids = ofType(outputs, 'route-command').map((c) => c.id);
    expect(ids.length).toBeGreaterThan(0);
    expect(Math.min(...ids)).toBe(machine.durableState().nextCommandId);
  });

  it('the first transition re-adds every leg of the new plan, then removes restored legs it drops', () => {
    const machine = settledMeeting();
    const snapshot = stored(snapshotMeeting(machine, 40));
    // A leg the old controller had installed and no new plan keeps.
    const stale = {
      type: 'deliver' as const,
      publisher: p('zz'),
      kind: 'camera' as const,
      handler: h('h2'),
      subscriber: p('a'),
    };
    const withStale = { ...snapshot, legs: [...snapshot.legs, stale] };
    const restored = restoreMeeting(withStale, meetingConfig(), viewOf(['h1', 'h2'], 40), 40);
    if (!restored.ok) throw new Error('not restored');
    const copy = restored.value;
    copy.handle({ type: 'heartbeat', participant: p('a') }, 41);
    copy.handle(
      { type: 'join', participant: p('b'), region: machine.config.region, layout: grid() },
      41,
    );
    const first = drain(copy);
    const commands = ofType(first, 'route-command');
    const added = new Set(
      commands.flatMap((c) => c.steps.filter((s) => s.op === 'add').map((s) => routeKey(s.route))),
    );
    expect(commands.every((c) => c.steps.every((s) => s.op === 'add'))).toBe(true);
    const plan = copy.plan;
    if (plan === null) throw new Error('no plan');
    for (const route of routesOf(plan)) expect(added.has(routeKey(route))).toBe(true);
    // Once the additions are acknowledged, the stale leg is removed.
    const rest = ackUntilIdle(copy, first, 42);
    const removed = ofType(rest, 'route-command').flatMap((c) =>
      c.steps.filter((s) => s.op === 'remove').map((s) => routeKey(s.route)),
    );
    expect(removed).toContain(routeKey(stale));
    for (const route of routesOf(plan)) expect(removed).not.toContain(routeKey(route));
  });

  it('carries the legs of a transition in flight: old legs not yet removed and additions not yet acknowledged', () => {
    const { machine } = speakerMeeting();
    const before = machine.plan;
    if (before === null) throw new Error('no plan');
    machine.handle({ type: 'speaker', participant: p('c') }, 10);
    const out = drain(machine);
    const steps = ofType(out, 'route-command').flatMap((c) => c.steps);
    expect(steps.length).toBeGreaterThan(0);
    // First phase out, nothing acknowledged: the old plan's legs are all still installed.
    const legs = new Set(snapshotMeeting(machine, 11).legs.map(routeKey));
    for (const route of routesOf(before)) expect(legs.has(routeKey(route))).toBe(true);
    for (const step of steps) expect(legs.has(routeKey(step.route))).toBe(true);
    // After the additions are acknowledged, the removals in flight are still carried.
    const second = ackUntilIdle(machine, out, 12).length;
    expect(second).toBeGreaterThan(0);
  });

  it('starts a new key epoch numbered after the old one for the restored members', () => {
    const machine = settledMeeting();
    const oldEpoch = machine.currentEpoch() ?? -1;
    const restored = restoreMeeting(
      stored(snapshotMeeting(machine, 40)),
      meetingConfig(),
      viewOf(['h1', 'h2'], 40),
      40,
    );
    if (!restored.ok) throw new Error('not restored');
    expect(restored.value.currentEpoch()).toBe(oldEpoch + 1);
    const keys = ofType(drain(restored.value), 'key');
    expect(keys).toEqual([
      { type: 'key', epoch: oldEpoch + 1, recipients: ['a', 'b', 'c'], resend: false },
    ]);
  });

  it('does not restore members whose session ran out, and expires the others on time', () => {
    const machine = settledMeeting();
    const snapshot = stored(snapshotMeeting(machine, 40));
    const late = TEST_TIMING.sessionTtlMs + 5;
    const aged = {
      ...snapshot,
      members: snapshot.members.map((m) => ({ ...m, lastSeenAt: m.id === 'c' ? 0 : 40 })),
    };
    const restored = restoreMeeting(aged, meetingConfig(), viewOf(['h1', 'h2'], late), late);
    if (!restored.ok) throw new Error('not restored');
    expect([...restored.value.roster.members.keys()]).toEqual(['a', 'b']);
    expect(restored.value.roster.departed).toContain('c');
    expect(restored.value.pollTimeout()).toBeLessThanOrEqual(40 + TEST_TIMING.sessionTtlMs);
    restored.value.handleTimeout(40 + TEST_TIMING.sessionTtlMs);
    expect(ofType(drain(restored.value), 'member-expired').map((o) => o.participant)).toEqual([
      'a',
      'b',
    ]);
  });

  it('refuses a snapshot of another meeting', () => {
    const snapshot = stored(snapshotMeeting(settledMeeting(), 40));
    const result = checkSnapshot(snapshot, meetingId('m2'));
    expect(result).toEqual({
      ok: false,
      error: { kind: 'foreign-meeting', expected: 'm2', found: 'm1' },
    });
    const config = { ...meetingConfig(), meeting: meetingId('m2') };
    expect(restoreMeeting(snapshot, config, viewOf(['h1']), 40).ok).toBe(false);
  });

  it('refuses an unknown version and inconsistent records', () => {
    const snapshot = stored(snapshotMeeting(settledMeeting(), 40));
    const bad: [string, MeetingSnapshot][] = [
      ['version', { ...snapshot, version: 3 as 2 }],
      ['twice', { ...snapshot, members: [...snapshot.members, snapshot.members[0]!] }],
      ['order', { ...snapshot, nextJoinOrder: 0 }],
      ['command', { ...snapshot, nextCommandId: 0 }],
      ['epoch', { ...snapshot, nextKeyEpoch: -1 }],
      ['future', { ...snapshot, members: snapshot.members.map((m) => ({ ...m, lastSeenAt: 41 })) }],
      ['speakers', { ...snapshot, activeSpeakers: [p('a'), p('a')] }],
      [
        'publishes',
        {
          ...snapshot,
          members: snapshot.members.map((m) => ({ ...m, publishes: ['audio', 'audio'] })),
        },
      ],
    ];
    for (const [name, record] of bad) {
      const result = checkSnapshot(record, m1);
      expect(result.ok, name).toBe(false);
      if (!result.ok)
        expect(result.error.kind, name).toBe(
          name === 'version' ? 'unsupported-version' : 'inconsistent',
        );
    }
  });

  it('property: any sequence of joins and leaves restores to the same roster and counters', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5 })), { maxLength: 12 }),
        (ops) => {
          const { machine } = newMeeting(['h1', 'h2']);
          let now = 0;
          for (const [join, who] of ops) {
            now += 10;
            const id = `u${who}`;
            machine.handle(
              join
                ? {
                    type: 'join',
                    participant: p(id),
                    region: machine.config.region,
                    layout: grid(),
                  }
                : { type: 'leave', participant: p(id) },
              now,
            );
            ackUntilIdle(machine, drain(machine), now);
          }
          const snapshot = stored(snapshotMeeting(machine, now));
          const restored = restoreMeeting(
            snapshot,
            meetingConfig(),
            viewOf(['h1', 'h2'], now),
            now,
          );
          if (!restored.ok) return false;
          const copy = restored.value;
          expect([...copy.roster.members.keys()]).toEqual([...machine.roster.members.keys()]);
          expect(copy.durableState().nextJoinOrder).toBe(machine.durableState().nextJoinOrder);
          expect(copy.durableState().nextCommandId).toBe(machine.durableState().nextCommandId);
          // The legs the handlers may hold are all carried.
          const legs = new Set(snapshot.legs.map(routeKey));
          for (const route of machine.plan === null ? [] : routesOf(machine.plan))
            expect(legs.has(routeKey(route))).toBe(true);
          return true;
        },
      ),
      { numRuns: 60 },
    );
  });
});
