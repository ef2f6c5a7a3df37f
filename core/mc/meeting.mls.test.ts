/**
 * The meeting's end-to-end keys through MLS (`mls` configured): the meeting machine drives
 * core/mls/delivery from its members' joins, leaves, expiries, rotation requests and the hourly
 * timer. Commits are opaque bytes here; a scripted committer answers requests.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ParticipantId } from '../ids.ts';
import type { MlsDeliveryOutput } from '../mls/delivery.ts';
import type { MeetingInput, MeetingMachine, MeetingOutput } from './meeting.ts';
import {
  ackUntilIdle,
  drain,
  joinInput,
  newMeeting,
  ofType,
  p,
  TEST_TIMING,
  viewOf,
  MBPS,
} from './testing.ts';

const MLS = { commitTimeoutMs: 5_000, rotationIntervalMs: 3_600_000 };

const kp = (who: string) => new TextEncoder().encode(`kp:${who}`);

type JoinInput = Extract<MeetingInput, { type: 'join' }>;

const joinWith = (who: string): JoinInput => ({
  ...(joinInput(who) as JoinInput),
  keyPackage: kp(who),
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

function mlsMeeting() {
  return newMeeting(['h1'], { mls: MLS }).machine;
}

/** Answers the request with a commit (and a welcome when it adds members); returns outputs. */
function answer(
  machine: MeetingMachine,
  request: MlsOf<'request-commit'>,
  now: number,
): MeetingOutput[] {
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

describe('MeetingMachine with MLS keys', () => {
  it('has the first member create the group after its join answer; no controller-made key', () => {
    const machine = mlsMeeting();
    machine.handle(joinWith('a'), 0);
    const out = drain(machine);
    const types = out.map((o) => (o.type === 'mls' ? `mls:${o.output.type}` : o.type));
    expect(types.indexOf('join-accepted')).toBeLessThan(types.indexOf('mls:create-group'));
    expect(mlsOf(out, 'create-group')).toEqual([{ type: 'create-group', to: p('a'), group: 0 }]);
    expect(mlsOf(out, 'epoch-started')).toEqual([
      { type: 'epoch-started', group: 0, epoch: 0, members: [p('a')], reasons: ['create'] },
    ]);
    expect(ofType(out, 'key')).toEqual([]);
    expect(machine.currentEpoch()).toBe(0);
    expect(machine.liveEpochs()).toEqual([]);
    expect(machine.mlsMembers()).toEqual([p('a')]);
  });

  it('adds a joiner through one commit by a member: broadcast to the members, welcome to it', () => {
    const machine = mlsMeeting();
    machine.handle(joinWith('a'), 0);
    drain(machine);
    machine.handle(joinWith('b'), 10);
    const out = drain(machine);
    expect(ofType(out, 'join-accepted')[0]?.epoch).toBe(0);
    const [request] = mlsOf(out, 'request-commit');
    expect(request).toEqual({
      type: 'request-commit',
      to: p('a'),
      request: 1,
      epoch: 0,
      adds: [{ participant: p('b'), keyPackage: kp('b') }],
      removes: [],
    });
    const after = answer(machine, request as MlsOf<'request-commit'>, 20);
    expect(mlsOf(after, 'broadcast-commit')).toMatchObject([
      { to: [p('a')], from: p('a'), epoch: 1, adds: [p('b')], removes: [] },
    ]);
    expect(mlsOf(after, 'deliver-welcome')).toMatchObject([{ to: p('b'), epoch: 1 }]);
    expect(mlsOf(after, 'epoch-started')).toMatchObject([
      { epoch: 1, members: [p('a'), p('b')], reasons: ['join'] },
    ]);
    expect(machine.currentEpoch()).toBe(1);
  });

  it('removes a leaver and an expired member; no epoch after a leave holds the leaver', () => {
    const machine = mlsMeeting();
    const settle = (input: MeetingInput, now: number) => {
      machine.handle(input, now);
      let out = drain(machine);
      const all = [...out];
      for (let r = mlsOf(out, 'request-commit')[0]; r !== undefined;) {
        out = answer(machine, r, now);
        all.push(...out);
        r = mlsOf(out, 'request-commit')[0];
      }
      return all;
    };
    settle(joinWith('a'), 0);
    settle(joinWith('b'), 0);
    settle(joinWith('c'), 0);
    const left = settle({ type: 'leave', participant: p('b') }, 10);
    expect(mlsOf(left, 'request-commit')).toMatchObject([{ removes: [p('b')], adds: [] }]);
    expect(mlsOf(left, 'broadcast-commit')).toMatchObject([{ to: [p('a'), p('c')] }]);
    expect(mlsOf(left, 'epoch-started')).toMatchObject([
      { members: [p('a'), p('c')], reasons: ['leave'] },
    ]);
    // c goes silent; a keeps its session alive. c's session expires: c is removed.
    const ttl = TEST_TIMING.sessionTtlMs;
    machine.handle({ type: 'heartbeat', participant: p('a') }, ttl / 2);
    drain(machine);
    machine.handleTimeout(ttl + 10);
    const expired = drain(machine);
    expect(ofType(expired, 'member-expired')).toEqual([
      { type: 'member-expired', participant: p('c') },
    ]);
    expect(mlsOf(expired, 'request-commit')).toMatchObject([{ to: p('a'), removes: [p('c')] }]);
  });

  it('rotates on a member’s request, not a stranger’s', () => {
    const machine = mlsMeeting();
    machine.handle(joinWith('a'), 0);
    drain(machine);
    machine.handle({ type: 'rotate-keys', participant: p('z') }, 5);
    expect(drain(machine)).toEqual([]);
    machine.handle({ type: 'rotate-keys', participant: p('a') }, 5);
    const out = drain(machine);
    expect(mlsOf(out, 'request-commit')).toMatchObject([
      { to: p('a'), epoch: 0, adds: [], removes: [] },
    ]);
    const after = answer(machine, mlsOf(out, 'request-commit')[0] as MlsOf<'request-commit'>, 6);
    expect(mlsOf(after, 'epoch-started')).toMatchObject([{ epoch: 1, reasons: ['manual'] }]);
  });

  it('rotates hourly: the deadline is the meeting’s, and the epoch’s age counts', () => {
    const machine = mlsMeeting();
    machine.handle(joinWith('a'), 1_000);
    drain(machine);
    machine.handle({ type: 'heartbeat', participant: p('a') }, 2_000);
    drain(machine);
    const hourly = 1_000 + MLS.rotationIntervalMs;
    // The session would expire first, so keep it alive up to the hour.
    for (let t = 100_000; t < hourly; t += 100_000) {
      machine.handle({ type: 'heartbeat', participant: p('a') }, t);
      machine.handleTimeout(t);
    }
    expect(mlsOf(drain(machine), 'request-commit')).toEqual([]);
    expect(machine.pollTimeout()).toBeLessThanOrEqual(hourly);
    machine.handleTimeout(hourly - 1);
    expect(mlsOf(drain(machine), 'request-commit')).toEqual([]);
    machine.handleTimeout(hourly);
    expect(mlsOf(drain(machine), 'request-commit')).toMatchObject([{ to: p('a'), adds: [] }]);
  });

  it('asks the next member when a committer is silent past the commit timeout', () => {
    const machine = mlsMeeting();
    machine.handle(joinWith('a'), 0);
    machine.handle(joinWith('b'), 0);
    const out = drain(machine);
    answer(machine, mlsOf(out, 'request-commit')[0] as MlsOf<'request-commit'>, 0);
    // Both reached epoch 1; a joined first, so a is asked first.
    machine.handle({ type: 'mls-processed', participant: p('a'), epoch: 1 }, 0);
    machine.handle({ type: 'mls-processed', participant: p('b'), epoch: 1 }, 0);
    machine.handle(joinWith('c'), 10);
    const asked = drain(machine);
    expect(mlsOf(asked, 'request-commit')).toMatchObject([{ to: p('a') }]);
    // The joins' route commands, unacknowledged, are retried before the commit times out.
    expect(machine.pollTimeout()).toBe(TEST_TIMING.commandRetryMs);
    // Every route command acknowledged: the commit timeout is the next deadline.
    ackUntilIdle(machine, [...out, ...asked], 10);
    expect(machine.pollTimeout()).toBe(10 + MLS.commitTimeoutMs);
    machine.handleTimeout(10 + MLS.commitTimeoutMs - 1);
    expect(mlsOf(drain(machine), 'request-commit')).toEqual([]);
    machine.handleTimeout(10 + MLS.commitTimeoutMs);
    expect(mlsOf(drain(machine), 'request-commit')).toMatchObject([
      { to: p('b'), adds: [{ participant: p('c') }] },
    ]);
  });

  it('re-adds a member that joins again with a new key package, in one commit', () => {
    const machine = mlsMeeting();
    machine.handle(joinWith('a'), 0);
    machine.handle(joinWith('b'), 0);
    answer(machine, mlsOf(drain(machine), 'request-commit')[0] as MlsOf<'request-commit'>, 0);
    drain(machine);
    machine.handle(joinWith('b'), 50);
    const out = drain(machine);
    expect(ofType(out, 'join-accepted')).toMatchObject([{ participant: p('b'), reconnect: true }]);
    expect(mlsOf(out, 'request-commit')).toMatchObject([
      { to: p('a'), removes: [p('b')], adds: [{ participant: p('b') }] },
    ]);
  });

  it('leaves a member without a key package out of the group, and refuses empty MLS input', () => {
    const machine = mlsMeeting();
    machine.handle(joinWith('a'), 0);
    machine.handle(joinInput('b'), 0);
    const out = drain(machine);
    expect(mlsOf(out, 'request-commit')).toEqual([]);
    expect(machine.mlsMembers()).toEqual([p('a')]);
    machine.handle({ ...joinWith('c'), keyPackage: new Uint8Array(0) }, 1);
    expect(ofType(drain(machine), 'mls-refused')).toEqual([
      {
        type: 'mls-refused',
        participant: p('c'),
        error: { kind: 'empty-key-package', participant: p('c') },
      },
    ]);
    machine.handle(
      {
        type: 'mls-commit',
        participant: p('a'),
        request: 1,
        epoch: 0,
        commit: new Uint8Array(0),
        welcome: undefined,
      },
      2,
    );
    expect(ofType(drain(machine), 'mls-refused')).toMatchObject([
      { participant: p('a'), error: { kind: 'empty-commit' } },
    ]);
    // A stranger's commit and acknowledgement change nothing and say nothing.
    machine.handle(
      {
        type: 'mls-commit',
        participant: p('z'),
        request: 1,
        epoch: 0,
        commit: new Uint8Array([1]),
        welcome: undefined,
      },
      3,
    );
    machine.handle({ type: 'mls-processed', participant: p('z'), epoch: 0 }, 3);
    expect(drain(machine)).toEqual([]);
  });

  it('adds nobody whose join was rejected, and nothing after the meeting ended', () => {
    // 10 Mbps (8 usable) holds two members' grids at 1 Mbps a stream, not three.
    const view = viewOf(['h1'], 0, { capacityBps: 10 * MBPS });
    const { machine } = newMeeting([], { mls: MLS }, view);
    machine.handle(joinWith('a'), 0);
    machine.handle(joinWith('b'), 0);
    answer(machine, mlsOf(drain(machine), 'request-commit')[0] as MlsOf<'request-commit'>, 0);
    drain(machine);
    machine.handle(joinWith('c'), 1);
    const out = drain(machine);
    expect(ofType(out, 'join-rejected')).toHaveLength(1);
    expect(ofType(out, 'mls')).toEqual([]);
    machine.end();
    drain(machine);
    machine.handle({ type: 'rotate-keys', participant: p('a') }, 2);
    machine.handleTimeout(MLS.rotationIntervalMs + 10);
    expect(ofType(drain(machine), 'mls')).toEqual([]);
  });
});

describe('MeetingMachine MLS mutation', () => {
  it('keepLeaversInMlsGroup leaves a member who left in the group (the simulator must notice)', () => {
    const { machine } = newMeeting(['h1'], {
      mls: MLS,
      mutations: { keepLeaversInMlsGroup: true },
    });
    machine.handle(joinWith('a'), 0);
    machine.handle(joinWith('b'), 0);
    answer(machine, mlsOf(drain(machine), 'request-commit')[0] as MlsOf<'request-commit'>, 0);
    drain(machine);
    machine.handle({ type: 'leave', participant: p('b') }, 1);
    expect(mlsOf(drain(machine), 'request-commit')).toEqual([]);
    expect(machine.mlsMembers()).toEqual([p('a'), p('b')]);
  });
});

describe('MeetingMachine without MLS (controller-made key epochs)', () => {
  it('starts a new epoch on a member’s rotation request, not a stranger’s', () => {
    const { machine } = newMeeting(['h1']);
    machine.handle(joinInput('a'), 0);
    drain(machine);
    machine.handle({ type: 'rotate-keys', participant: p('z') }, 1);
    expect(drain(machine)).toEqual([]);
    machine.handle({ type: 'rotate-keys', participant: p('a') }, 1);
    const out = drain(machine);
    expect(ofType(out, 'key')).toEqual([
      { type: 'key', epoch: 1, recipients: [p('a')], resend: false },
    ]);
    expect(ofType(out, 'mls')).toEqual([]);
    expect(machine.currentEpoch()).toBe(1);
    expect(machine.mlsMembers()).toEqual([]);
  });
});

describe('MeetingMachine with MLS keys: properties', () => {
  type Step =
    | { readonly op: 'join'; readonly who: number; readonly withKey: boolean }
    | { readonly op: 'leave'; readonly who: number }
    | { readonly op: 'rotate'; readonly who: number }
    | { readonly op: 'wait'; readonly ms: number }
    /** The next open request: answered (true) or left to time out (false). */
    | { readonly op: 'commit'; readonly answer: boolean };
  const names = ['a', 'b', 'c', 'd', 'e'];
  const who = fc.integer({ min: 0, max: names.length - 1 });
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ op: fc.constant('join' as const), who, withKey: fc.boolean() }),
    fc.record({ op: fc.constant('leave' as const), who }),
    fc.record({ op: fc.constant('rotate' as const), who }),
    fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 8_000 }) }),
    fc.record({ op: fc.constant('commit' as const), answer: fc.boolean() }),
  );

  it('no epoch holds a non-member; epochs only grow; answered requests bring every keyed member in', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const machine = mlsMeeting();
        let now = 0;
        let lastEpoch = -1;
        let group = -1;
        const keyed = new Set<ParticipantId>();
        let open: MlsOf<'request-commit'> | undefined;
        const check = (out: readonly MeetingOutput[]) => {
          expect(ofType(out, 'key')).toEqual([]);
          expect(ofType(out, 'erase-epoch')).toEqual([]);
          for (const o of out) {
            if (o.type === 'member-expired') keyed.delete(o.participant);
            if (o.type !== 'mls') continue;
            const m = o.output;
            if (m.type === 'request-commit') open = m;
            if (m.type !== 'epoch-started') continue;
            // Every member of a new epoch is in the meeting with a key package now.
            for (const member of m.members) expect(keyed.has(member)).toBe(true);
            if (m.group !== group) {
              expect(m.epoch).toBe(0);
              group = m.group;
            } else expect(m.epoch).toBeGreaterThan(lastEpoch);
            lastEpoch = m.epoch;
          }
        };
        for (const s of steps) {
          switch (s.op) {
            case 'join': {
              const id = p(names[s.who] as string);
              machine.handle(s.withKey ? joinWith(names[s.who] as string) : joinInput(id), now);
              if (s.withKey) keyed.add(id);
              break;
            }
            case 'leave':
              keyed.delete(p(names[s.who] as string));
              machine.handle({ type: 'leave', participant: p(names[s.who] as string) }, now);
              break;
            case 'rotate':
              machine.handle({ type: 'rotate-keys', participant: p(names[s.who] as string) }, now);
              break;
            case 'wait':
              now += s.ms;
              for (const m of machine.roster.members.keys())
                machine.handle({ type: 'heartbeat', participant: m }, now);
              machine.handleTimeout(now);
              break;
            case 'commit':
              if (open !== undefined && s.answer) {
                const request = open;
                open = undefined;
                check(answer(machine, request, now));
                continue;
              }
              break;
          }
          check(drain(machine));
        }
        // Every request answered from here on: the group ends with exactly the keyed members.
        for (let round = 0; round < 20 && open !== undefined; round++) {
          const request: MlsOf<'request-commit'> = open;
          open = undefined;
          check(answer(machine, request, now));
        }
        expect(new Set(machine.mlsMembers())).toEqual(keyed);
      }),
      { numRuns: 200 },
    );
  });
});
