/**
 * The MLS delivery state in a meeting's snapshot: a controller that takes the meeting over goes
 * on in the same MLS group (same group number, epoch and members), asks for the next commit in
 * that epoch and orders it as the failed controller would have. Records whose MLS state does
 * not hold together are refused, typed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ParticipantId } from '../ids.ts';
import type { MlsDeliveryOutput } from '../mls/delivery.ts';
import type { MeetingInput, MeetingMachine, MeetingOutput } from './meeting.ts';
import {
  checkSnapshot,
  restoreMeeting,
  snapshotMeeting,
  type MeetingSnapshot,
  type MlsSnapshot,
} from './snapshot.ts';
import {
  drain,
  joinInput,
  meetingConfig,
  newMeeting,
  ofType,
  p,
  TEST_TIMING,
  viewOf,
} from './testing.ts';

const MLS = { commitTimeoutMs: 5_000, rotationIntervalMs: 3_600_000 };
const kp = (who: string, n = 0) => new TextEncoder().encode(`kp:${who}:${n}`);
type JoinInput = Extract<MeetingInput, { type: 'join' }>;
const joinWith = (who: string, n = 0): JoinInput => ({
  ...(joinInput(who) as JoinInput),
  keyPackage: kp(who, n),
});
type MlsOf<T extends MlsDeliveryOutput['type']> = Extract<MlsDeliveryOutput, { type: T }>;

function mlsOf<T extends MlsDeliveryOutput['type']>(
  outputs: readonly MeetingOutput[],
  type: T,
): MlsOf<T>[] {
  return ofType(outputs, 'mls')
    .map((o) => o.output)
    .filter((o): o is MlsOf<T> => o.type === type);
}

const stored = (snapshot: MeetingSnapshot): MeetingSnapshot =>
  JSON.parse(JSON.stringify(snapshot)) as MeetingSnapshot;

function mlsMeeting(): MeetingMachine {
  return newMeeting(['h1'], { mls: MLS }).machine;
}

/** Answers the request with a commit (and a welcome when it adds); returns what followed. */
function answer(machine: MeetingMachine, request: MlsOf<'request-commit'>, now: number) {
  machine.handle(
    {
      type: 'mls-commit',
      participant: request.to,
      request: request.request,
      epoch: request.epoch,
      commit: new Uint8Array([1, request.request]),
      welcome: request.adds.length > 0 ? new Uint8Array([2, request.request]) : undefined,
    },
    now,
  );
  return drain(machine);
}

/** Feeds `input`, then answers every commit request until none is open; all outputs. */
function settle(machine: MeetingMachine, input: MeetingInput | 'timeout', now: number) {
  if (input === 'timeout') machine.handleTimeout(now);
  else machine.handle(input, now);
  let out = drain(machine);
  const all = [...out];
  for (let r = mlsOf(out, 'request-commit')[0]; r !== undefined;) {
    out = answer(machine, r, now);
    all.push(...out);
    r = mlsOf(out, 'request-commit')[0];
  }
  return all;
}

/** The restored machine, adopted (outputs the failed controller never sent dropped). */
function takeOver(machine: MeetingMachine, at: number): MeetingMachine {
  const snapshot = stored(snapshotMeeting(machine, at));
  const restored = restoreMeeting(snapshot, meetingConfig({ mls: MLS }), viewOf(['h1'], at), at);
  if (!restored.ok) throw new Error(JSON.stringify(restored.error));
  restored.value.adoptedBy(viewOf(['h1'], at), at);
  return restored.value;
}

/** a, b and c in the group at epoch 2 (two joins committed). */
function groupOfThree(): MeetingMachine {
  const machine = mlsMeeting();
  settle(machine, joinWith('a'), 0);
  settle(machine, joinWith('b'), 10);
  settle(machine, joinWith('c'), 20);
  for (const who of ['a', 'b', 'c'])
    machine.handle({ type: 'mls-processed', participant: p(who), epoch: 2 }, 30);
  drain(machine);
  return machine;
}

describe('meeting snapshots with MLS state', () => {
  it('round trip: the restored delivery service holds the same group, epoch, members and counters', () => {
    const machine = groupOfThree();
    const snapshot = stored(snapshotMeeting(machine, 40));
    expect(snapshot.version).toBe(2);
    expect(snapshot.mls).toMatchObject({ group: 0, epoch: 2, members: ['a', 'b', 'c'] });
    const restored = restoreMeeting(snapshot, meetingConfig({ mls: MLS }), viewOf(['h1']), 40);
    if (!restored.ok) throw new Error(JSON.stringify(restored.error));
    const copy = restored.value;
    expect(copy.currentEpoch()).toBe(2);
    expect(copy.mlsMembers()).toEqual(machine.mlsMembers());
    expect(copy.durableState().mls).toEqual(machine.durableState().mls);
  });

  it('after a take-over a leave is committed in the same group, by a member, for the members left', () => {
    const machine = takeOver(groupOfThree(), 50);
    // Nothing was pending: the new controller asks nobody for anything.
    machine.handleTimeout(50);
    expect(mlsOf(drain(machine), 'request-commit')).toEqual([]);
    const out = settle(machine, { type: 'leave', participant: p('c') }, 60);
    expect(mlsOf(out, 'create-group')).toEqual([]);
    expect(mlsOf(out, 'request-commit')).toMatchObject([
      { to: p('a'), epoch: 2, adds: [], removes: [p('c')] },
    ]);
    // Above every request id the failed controller used (two joins: 1 and 2).
    expect(mlsOf(out, 'request-commit')[0]?.request).toBeGreaterThan(2);
    expect(mlsOf(out, 'broadcast-commit')).toMatchObject([
      { to: [p('a'), p('b')], epoch: 3, removes: [p('c')] },
    ]);
    expect(mlsOf(out, 'epoch-started')).toMatchObject([
      { group: 0, epoch: 3, members: [p('a'), p('b')] },
    ]);
  });

  it('after a take-over a joiner is added to the same group through a welcome', () => {
    const machine = takeOver(groupOfThree(), 50);
    const out = settle(machine, joinWith('d'), 60);
    expect(mlsOf(out, 'create-group')).toEqual([]);
    expect(mlsOf(out, 'broadcast-commit')).toMatchObject([
      { to: [p('a'), p('b'), p('c')], epoch: 3, adds: [p('d')] },
    ]);
    expect(mlsOf(out, 'deliver-welcome')).toMatchObject([{ to: p('d'), epoch: 3 }]);
  });

  it('a change the failed controller had asked for is asked for again; the old request’s late commit loses', () => {
    const machine = groupOfThree();
    machine.handle(joinWith('d'), 40);
    const [old] = mlsOf(drain(machine), 'request-commit');
    if (old === undefined) throw new Error('no request');
    const copy = takeOver(machine, 45);
    // The endpoint wakes the meeting at once for it.
    expect(copy.pollTimeout()).toBe(45);
    copy.handleTimeout(45);
    const [again] = mlsOf(drain(copy), 'request-commit');
    expect(again).toMatchObject({ epoch: 2, adds: [{ participant: p('d'), keyPackage: kp('d') }] });
    expect(again?.request).toBeGreaterThan(old.request);
    copy.handle(
      {
        type: 'mls-commit',
        participant: old.to,
        request: old.request,
        epoch: old.epoch,
        commit: new Uint8Array([9]),
        welcome: new Uint8Array([9]),
      },
      46,
    );
    expect(mlsOf(drain(copy), 'commit-rejected')).toMatchObject([
      { to: old.to, request: old.request, reason: 'superseded' },
    ]);
    const out = answer(copy, again as MlsOf<'request-commit'>, 47);
    expect(mlsOf(out, 'epoch-started')).toMatchObject([
      { group: 0, epoch: 3, members: [p('a'), p('b'), p('c'), p('d')] },
    ]);
  });

  it('a group member whose session ran out while no controller ran the meeting is removed', () => {
    const machine = groupOfThree();
    const ttl = TEST_TIMING.sessionTtlMs;
    machine.handle({ type: 'heartbeat', participant: p('a') }, ttl / 2);
    machine.handle({ type: 'heartbeat', participant: p('b') }, ttl / 2);
    drain(machine);
    const snapshot = stored(snapshotMeeting(machine, ttl / 2));
    const restored = restoreMeeting(
      snapshot,
      meetingConfig({ mls: MLS }),
      viewOf(['h1']),
      ttl + 100,
    );
    if (!restored.ok) throw new Error(JSON.stringify(restored.error));
    const copy = restored.value;
    copy.adoptedBy(viewOf(['h1'], ttl + 100), ttl + 100);
    const out = settle(copy, 'timeout', ttl + 100);
    expect(mlsOf(out, 'request-commit')).toMatchObject([{ removes: [p('c')], epoch: 2 }]);
    expect(mlsOf(out, 'epoch-started')).toMatchObject([{ epoch: 3, members: [p('a'), p('b')] }]);
  });

  it('a meeting without MLS snapshots null; a version 1 record is still restored', () => {
    const { machine } = newMeeting(['h1']);
    machine.handle(joinInput('a'), 0);
    drain(machine);
    const snapshot = stored(snapshotMeeting(machine, 5));
    expect(snapshot.mls).toBeNull();
    const { mls: _, ...rest } = snapshot;
    const v1 = { ...rest, version: 1 as const };
    expect(checkSnapshot(v1, snapshot.meeting).ok).toBe(true);
    expect(restoreMeeting(v1, meetingConfig({ mls: MLS }), viewOf(['h1']), 5).ok).toBe(true);
  });

  it('refuses, typed, a record whose MLS state does not hold together', () => {
    const machine = groupOfThree();
    machine.handle(joinWith('d'), 40);
    machine.handle({ type: 'leave', participant: p('b') }, 41);
    machine.handle({ type: 'rotate-keys', participant: p('a') }, 42);
    drain(machine);
    const snapshot = stored(snapshotMeeting(machine, 45));
    const mls = snapshot.mls as MlsSnapshot;
    expect(mls.joining.map((j) => j.participant)).toEqual(['d']);
    expect(mls.leaving).toEqual(['b']);
    expect(checkSnapshot(snapshot, snapshot.meeting).ok).toBe(true);
    const x = 'x' as ParticipantId;
    const bad: [string, Partial<MlsSnapshot> | undefined][] = [
      ['missing', undefined],
      ['group', { group: -2 }],
      ['epoch', { epoch: -1 }],
      ['fraction', { epoch: 1.5 }],
      ['request counter', { nextRequest: 0 }],
      ['epoch started later', { epochStartedAt: 46 }],
      ['rotation', { rotation: 'weekly' as 'manual' }],
      ['member twice', { members: [p('a'), p('a')] }],
      ['no group but members', { group: -1 }],
      ['leavers without group', { members: [], synced: [], rotation: null }],
      ['stranger in the group', { members: [...mls.members, x] }],
      ['leaver not in group', { leaving: [x] }],
      ['leaver twice', { leaving: [p('b'), p('b')] }],
      [
        'acknowledged twice',
        {
          synced: [
            [p('a'), 1],
            [p('a'), 2],
          ],
        },
      ],
      ['acknowledged by a stranger', { synced: [[x, 1]] }],
      ['acknowledged the future', { synced: [[p('a'), 3]] }],
      ['joiner twice', { joining: [...mls.joining, ...mls.joining] }],
      ['joiner a stranger', { joining: [{ participant: x, keyPackage: 'ab' }] }],
      ['joiner in group', { joining: [{ participant: p('a'), keyPackage: 'ab' }] }],
      ['key package not hex', { joining: [{ participant: p('d'), keyPackage: 'zz' }] }],
      ['key package odd', { joining: [{ participant: p('d'), keyPackage: 'abc' }] }],
      ['key package empty', { joining: [{ participant: p('d'), keyPackage: '' }] }],
    ];
    for (const [name, change] of bad) {
      const record: MeetingSnapshot =
        change === undefined
          ? (({ mls: _, ...rest }) => rest)(snapshot)
          : { ...snapshot, mls: { ...mls, ...change } };
      const result = checkSnapshot(record, snapshot.meeting);
      expect(result.ok, name).toBe(false);
      if (!result.ok) expect(result.error.kind, name).toBe('inconsistent');
      expect(restoreMeeting(record, meetingConfig({ mls: MLS }), viewOf(['h1']), 45).ok, name).toBe(
        false,
      );
    }
  });

  it('property: at any point, the restored meeting goes on with the same group and epoch, and its next commits keep every member in it', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('join' as const), who: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant('leave' as const), who: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant('answer' as const) }),
      fc.record({ kind: fc.constant('rotate' as const), who: fc.integer({ min: 0, max: 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 14 }), (steps) => {
        const machine = mlsMeeting();
        let open: MlsOf<'request-commit'> | undefined;
        const joins = new Map<number, number>();
        let now = 0;
        for (const s of steps) {
          now += 10;
          if (s.kind === 'join') {
            const n = (joins.get(s.who) ?? 0) + 1;
            joins.set(s.who, n);
            machine.handle(joinWith(`u${s.who}`, n), now);
          } else if (s.kind === 'leave')
            machine.handle({ type: 'leave', participant: p(`u${s.who}`) }, now);
          else if (s.kind === 'rotate')
            machine.handle({ type: 'rotate-keys', participant: p(`u${s.who}`) }, now);
          const requests = mlsOf(drain(machine), 'request-commit');
          if (requests.length > 0) open = requests[requests.length - 1];
          if (s.kind === 'answer' && open !== undefined) {
            const out = answer(machine, open, now);
            open = mlsOf(out, 'request-commit').at(-1);
          }
        }
        now += 10;
        const snapshot = stored(snapshotMeeting(machine, now));
        expect(checkSnapshot(snapshot, snapshot.meeting).ok).toBe(true);
        const before = { group: snapshot.mls?.group, epoch: machine.currentEpoch() };
        const copy = takeOver(machine, now);
        expect(copy.durableState().mls?.group).toBe(before.group);
        expect(copy.currentEpoch()).toBe(before.epoch);
        // Restored work is asked for, and answered: every member with a key package is in the
        // group, nobody else is, and the group is the same one when it had members left.
        const out = settle(copy, 'timeout', now);
        const inMeeting = [...copy.roster.members.keys()];
        expect(new Set(copy.mlsMembers())).toEqual(new Set(inMeeting));
        if ((snapshot.mls?.members.length ?? 0) > 0 && inMeeting.length > 0) {
          expect(copy.durableState().mls?.group).toBe(before.group);
          expect(mlsOf(out, 'create-group')).toEqual([]);
          expect(copy.currentEpoch()).toBeGreaterThanOrEqual(before.epoch ?? 0);
        }
      }),
      { numRuns: 200 },
    );
  });
});
