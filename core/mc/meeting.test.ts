import { describe, expect, it } from 'vitest';
import { meetingId, type HandlerId } from '../ids.ts';
import { DEFAULT_MEETING_TIMING, homeIn, type MeetingOutput } from './meeting.ts';
import {
  MBPS,
  OTHER_REGION,
  REGION,
  SOLO,
  report,
  ackUntilIdle,
  drain,
  h,
  joinInput,
  joinSettled,
  newMeeting,
  ofType,
  p,
  speakerMeeting,
  TEST_TIMING,
  viewOf,
} from './testing.ts';

/** The connection-token claims (less the nonce) granted to `who` for `handler` at `at`. */
const grantOf = (who: string, handler: string, at: number) => ({
  meeting: meetingId('m1'),
  participant: p(who),
  handler: h(handler),
  issuedAtMs: at,
  expiresAtMs: at + DEFAULT_MEETING_TIMING.connectionTokenTtlMs,
});

const ops = (o: Extract<MeetingOutput, { type: 'route-command' }>) => o.steps.map((s) => s.op);

describe('MeetingMachine join', () => {
  it('accepts a join: home handler, a new epoch for everyone, a session write', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a'], 0);
    machine.handle(joinInput('b'), 5);
    const out = drain(machine);
    expect(ofType(out, 'join-accepted')).toEqual([
      {
        type: 'join-accepted',
        participant: p('b'),
        handler: h('h1'),
        token: grantOf('b', 'h1', 5),
        epoch: 1,
        reconnect: false,
      },
    ]);
    expect(ofType(out, 'key')).toEqual([
      { type: 'key', epoch: 1, recipients: [p('a'), p('b')], resend: false },
    ]);
    expect(ofType(out, 'session-write')).toEqual([
      { type: 'session-write', participant: p('b'), ttlMs: TEST_TIMING.sessionTtlMs },
    ]);
    expect(machine.currentEpoch()).toBe(1);
    expect(machine.memberCount).toBe(2);
  });

  it('places only the joiner: the members stay on their homes even where a fresh plan would move one', () => {
    const view = viewOf(['h1']);
    const { machine } = newMeeting([], {}, view);
    for (const [who, region] of [
      ['a', REGION],
      ['c', OTHER_REGION],
    ] as const) {
      machine.handle(joinInput(who, SOLO, region), 0);
      ackUntilIdle(machine, drain(machine), 0);
      machine.handle({ type: 'connected', participant: p(who), handler: h('h1') }, 0);
    }
    drain(machine);
    // A handler near c appears: placement from scratch would take c there (proximity first).
    view.report(report('h3', 1, { region: OTHER_REGION }), 1);
    machine.handle(joinInput('d', SOLO, OTHER_REGION), 2);
    const out = drain(machine);
    const planned = ofType(out, 'planned');
    expect(planned.map((x) => x.plan.homes)).toEqual([
      [
        { participant: p('a'), handler: h('h1') },
        { participant: p('c'), handler: h('h1') },
        // The joiner is placed as a fresh plan places it: near it.
        { participant: p('d'), handler: h('h3') },
      ],
    ]);
    expect(ofType(out, 'move')).toEqual([]);
    // A leave is news to placement: it is searched again, and c goes to the handler near it.
    machine.handle({ type: 'leave', participant: p('a') }, 3);
    const replanned = drain(machine);
    expect(ofType(replanned, 'planned').map((x) => x.plan.homes)).toEqual([
      [
        { participant: p('c'), handler: h('h3') },
        { participant: p('d'), handler: h('h3') },
      ],
    ]);
    expect(ofType(replanned, 'move').map((m) => [m.participant, m.handler])).toEqual([
      [p('c'), h('h3')],
    ]);
  });

  it('rolls a join without capacity back: roster, join order, plan and epochs unchanged', () => {
    // 10 Mbps (8 Mbps usable) holds two members' grids at 1 Mbps a stream, not three.
    const view = viewOf(['h1'], 0, { capacityBps: 10 * MBPS });
    const { machine } = newMeeting([], {}, view);
    joinSettled(machine, ['a', 'b'], 0);
    const members = [...machine.roster.members.values()].map((m) => [m.id, m.joinOrder]);
    const plan = machine.plan;
    const epochs = machine.liveEpochs();
    const estimate = view.estimatedBps(h('h1'));

    machine.handle(joinInput('c'), 10);
    const out = drain(machine);
    expect(ofType(out, 'join-rejected')).toMatchObject([
      { participant: p('c'), reason: 'no-capacity', detail: { kind: 'insufficient-capacity' } },
    ]);
    expect(out.map((o) => o.type)).toEqual(['plan-failed', 'join-rejected']);
    expect([...machine.roster.members.values()].map((m) => [m.id, m.joinOrder])).toEqual(members);
    expect(machine.plan).toBe(plan);
    expect(machine.liveEpochs()).toEqual(epochs);
    expect(machine.currentEpoch()).toBe(1);
    expect(view.estimatedBps(h('h1'))).toBe(estimate);

    // The rejected join took no join order: the next member gets the one it would have had.
    machine.handle({ type: 'leave', participant: p('b') }, 20);
    ackUntilIdle(machine, drain(machine), 20);
    machine.handle(joinInput('d'), 30);
    expect(ofType(drain(machine), 'join-accepted')).toHaveLength(1);
    expect(machine.roster.members.get(p('d'))?.joinOrder).toBe(2);
  });

  it('takes a member joining again as a reconnect: same join order, no new epoch', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b'], 0);
    machine.handle(joinInput('a'), 50);
    const out = drain(machine);
    expect(ofType(out, 'join-accepted')).toEqual([
      {
        type: 'join-accepted',
        participant: p('a'),
        handler: h('h1'),
        token: grantOf('a', 'h1', 50),
        epoch: 1,
        reconnect: true,
      },
    ]);
    expect(ofType(out, 'key')).toEqual([]);
    expect(machine.roster.members.get(p('a'))?.joinOrder).toBe(0);
    expect(machine.memberCount).toBe(2);
    expect(machine.liveEpochs()).toEqual([0, 1]);
  });

  it('tells the handlers it used to drop it when it ends, then rejects joins', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b'], 0);
    machine.end();
    expect(drain(machine)).toEqual([
      { type: 'session-delete', participant: p('a') },
      { type: 'session-delete', participant: p('b') },
      {
        type: 'meeting-ended',
        meeting: machine.id,
        handlers: [h('h1')],
        members: [p('a'), p('b')],
      },
    ]);
    machine.end();
    expect(drain(machine)).toEqual([]);
    machine.handle(joinInput('b'), 1);
    expect(drain(machine)).toMatchObject([{ type: 'join-rejected', reason: 'meeting-ended' }]);
    expect(machine.pollTimeout()).toBeNull();
  });
});

describe('MeetingMachine transitions', () => {
  it('sends removals only once every addition of the transition is acknowledged', () => {
    const { machine } = speakerMeeting();
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    const first = ofType(drain(machine), 'route-command');
    expect(first.length).toBe(2);
    expect(first.flatMap(ops).every((op) => op === 'add')).toBe(true);
    expect(machine.transitionInFlight).toBe(true);

    machine.handle({ type: 'route-ack', command: (first[0] as (typeof first)[0]).id }, 11);
    expect(drain(machine)).toEqual([]);
    machine.handle({ type: 'route-ack', command: (first[1] as (typeof first)[0]).id }, 12);
    const second = ofType(drain(machine), 'route-command');
    expect(second.length).toBeGreaterThan(0);
    expect(second.flatMap(ops).every((op) => op === 'remove')).toBe(true);

    for (const c of second) machine.handle({ type: 'route-ack', command: c.id }, 13);
    expect(drain(machine)).toEqual([{ type: 'transition-done' }]);
    expect(machine.transitionInFlight).toBe(false);
  });

  it('runs one transition at a time and merges plans made meanwhile into the next', () => {
    const { machine } = speakerMeeting();
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    const out1 = drain(machine);
    const target = ofType(out1, 'planned')[0]?.plan;
    expect(ofType(out1, 'transition')).toHaveLength(1);

    machine.handle({ type: 'speaker', participant: p('c') }, 11);
    machine.handle({ type: 'speaker', participant: p('a') }, 12);
    machine.handle({ type: 'speaker', participant: p('c') }, 13);
    const meanwhile = drain(machine);
    expect(ofType(meanwhile, 'planned')).toHaveLength(3);
    expect(ofType(meanwhile, 'transition')).toEqual([]);
    expect(ofType(meanwhile, 'route-command')).toEqual([]);

    const rest = ackUntilIdle(machine, out1, 20);
    const transitions = ofType(rest, 'transition');
    expect(transitions).toHaveLength(1);
    expect(transitions[0]?.from).toBe(target);
    expect(machine.appliedPlan).toBe(machine.plan);
    expect(ofType(rest, 'transition-done')).toHaveLength(2);
    const ids = [...ofType(out1, 'route-command'), ...ofType(rest, 'route-command')].map(
      (c) => c.id,
    );
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1] as number);
  });

  it('retransmits an unacknowledged command every commandRetryMs with the same id', () => {
    const { machine } = speakerMeeting();
    machine.handle({ type: 'speaker', participant: p('b') }, 1_000);
    const sent = ofType(drain(machine), 'route-command');
    const [one, two] = sent as [(typeof sent)[0], (typeof sent)[0]];
    machine.handle({ type: 'route-ack', command: one.id }, 1_100);
    expect(machine.pollTimeout()).toBe(1_000 + TEST_TIMING.commandRetryMs);

    machine.handleTimeout(1_000 + TEST_TIMING.commandRetryMs - 1);
    expect(ofType(drain(machine), 'route-command')).toEqual([]);
    machine.handleTimeout(1_000 + TEST_TIMING.commandRetryMs);
    expect(ofType(drain(machine), 'route-command')).toEqual([{ ...two, resend: true }]);
    expect(machine.pollTimeout()).toBe(1_000 + 2 * TEST_TIMING.commandRetryMs);
    machine.handleTimeout(1_000 + 2 * TEST_TIMING.commandRetryMs);
    expect(ofType(drain(machine), 'route-command')).toEqual([{ ...two, resend: true }]);

    machine.handle({ type: 'route-ack', command: two.id }, 1_900);
    const removals = ofType(drain(machine), 'route-command');
    for (const c of removals) machine.handle({ type: 'route-ack', command: c.id }, 1_900);
    drain(machine);
    machine.handleTimeout(10_000);
    expect(ofType(drain(machine), 'route-command')).toEqual([]);
  });

  it('ignores a duplicate or unknown acknowledgement', () => {
    const { machine } = speakerMeeting();
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    const [one] = ofType(drain(machine), 'route-command');
    machine.handle({ type: 'route-ack', command: one?.id as number }, 11);
    const timeout = machine.pollTimeout();
    machine.handle({ type: 'route-ack', command: one?.id as number }, 12);
    machine.handle({ type: 'route-ack', command: 9_999 }, 12);
    expect(drain(machine)).toEqual([]);
    expect(machine.transitionInFlight).toBe(true);
    expect(machine.pollTimeout()).toBe(timeout);
  });
});

describe('MeetingMachine handler loss', () => {
  it('counts a lost handler’s commands as done, replans without it and moves its members', () => {
    const { machine, view } = speakerMeeting();
    machine.handle({ type: 'connected', participant: p('c'), handler: h('h3') }, 5);
    drain(machine);
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    const sent = ofType(drain(machine), 'route-command');
    const onH1 = sent.find((c) => c.handler === h('h1'));
    machine.handle({ type: 'route-ack', command: onH1?.id as number }, 11);
    expect(drain(machine)).toEqual([]);

    view.lose(h('h3'));
    machine.handle({ type: 'handler-lost', handler: h('h3') }, 12);
    const out = drain(machine);
    // The h3 command counts as acknowledged: the removals went out.
    const removals = ofType(out, 'route-command');
    expect(removals.length).toBeGreaterThan(0);
    expect(removals.every((c) => c.handler !== h('h3'))).toBe(true);
    const plan = ofType(out, 'planned').at(-1)?.plan;
    expect(plan?.loads.map((l) => l.handler)).toEqual([h('h1')]);
    expect(ofType(out, 'move')).toEqual([
      { type: 'move', participant: p('c'), handler: h('h1'), token: grantOf('c', 'h1', 12) },
    ]);

    // Told once per new home: another replan while it moves does not repeat it.
    machine.handle({ type: 'speaker', participant: p('a') }, 13);
    const again = drain(machine);
    expect(ofType(again, 'planned')).toHaveLength(1);
    expect(ofType(again, 'move')).toEqual([]);
    const rest = ackUntilIdle(machine, [...out, ...again], 14);
    expect(ofType(rest, 'route-command').every((c) => c.handler === h('h1'))).toBe(true);
    expect(machine.transitionInFlight).toBe(false);
    expect(machine.uses(h('h3'))).toBe(false);
  });
});

describe('MeetingMachine moves', () => {
  it('does not replan when a moved member arrives at the home the plan gave it', () => {
    const { machine, view } = speakerMeeting();
    machine.handle({ type: 'connected', participant: p('c'), handler: h('h3') }, 5);
    drain(machine);
    view.lose(h('h3'));
    machine.handle({ type: 'handler-lost', handler: h('h3') }, 12);
    const out = drain(machine);
    expect(ofType(out, 'move')).toMatchObject([{ participant: p('c'), handler: h('h1') }]);
    ackUntilIdle(machine, out, 13);
    // While it moves, a change that leaves the demand as it was replans nothing.
    machine.handle({ type: 'publish', participant: p('a'), kind: 'camera' }, 15);
    expect(ofType(drain(machine), 'planned')).toEqual([]);

    machine.handle({ type: 'connected', participant: p('c'), handler: h('h1') }, 20);
    expect(ofType(drain(machine), 'planned')).toEqual([]);
    // Arriving somewhere else than its home is news to the planner.
    machine.handle({ type: 'connected', participant: p('c'), handler: h('h2') }, 21);
    expect(ofType(drain(machine), 'planned')).toHaveLength(1);
  });
});

describe('MeetingMachine lost media sessions', () => {
  it('sends a member that lost its media session home with a fresh token, and on once its handler is lost', () => {
    const { machine, view } = newMeeting(['h1', 'h2']);
    joinSettled(machine, ['a', 'b'], 0);
    const home = homeIn(machine.plan, p('a')) as HandlerId;
    expect(homeIn(machine.plan, p('b'))).toBe(home);
    machine.handle({ type: 'connected', participant: p('a'), handler: home }, 10);
    drain(machine);
    // b never connected: a new plan sends it nowhere (its join answer named its home).
    machine.handle({ type: 'connected', participant: p('a'), handler: undefined }, 20);
    const back = ofType(drain(machine), 'move');
    expect(back).toMatchObject([{ participant: p('a'), handler: home }]);
    expect(back[0]?.token).toMatchObject({ participant: p('a'), handler: home, issuedAtMs: 20 });
    // Its handler is gone: the plan without it moves a (still not connected) elsewhere.
    view.lose(home);
    machine.handle({ type: 'handler-lost', handler: home }, 30);
    const moves = ofType(drain(machine), 'move');
    const other = home === h('h1') ? h('h2') : h('h1');
    expect(moves.map((m) => [m.participant, m.handler])).toEqual([[p('a'), other]]);
    // Connected there: nothing more to tell it.
    machine.handle({ type: 'connected', participant: p('a'), handler: other }, 40);
    expect(ofType(drain(machine), 'move')).toEqual([]);
  });
});

describe('MeetingMachine speaker changes', () => {
  it('keeps every member on its home when only the speaker changes, even where a fresh plan would move one', () => {
    const view = viewOf(['h1']);
    const { machine } = newMeeting([], {}, view);
    for (const [who, region] of [
      ['a', REGION],
      ['b', REGION],
      ['c', OTHER_REGION],
    ] as const) {
      machine.handle(joinInput(who, SOLO, region), 0);
      ackUntilIdle(machine, drain(machine), 0);
    }
    drain(machine);
    // A handler near c appears: placement from scratch would take c there (proximity first).
    view.report(report('h3', 1, { region: OTHER_REGION }), 1);
    machine.handle({ type: 'speaker', participant: p('b') }, 2);
    const out = drain(machine);
    const planned = ofType(out, 'planned');
    expect(planned).toHaveLength(1);
    expect(planned[0]?.plan.homes.map((home) => home.handler)).toEqual([h('h1'), h('h1'), h('h1')]);
    expect(ofType(out, 'move')).toEqual([]);
    // A leave is news to placement: it is searched again, and c goes to the handler near it.
    machine.handle({ type: 'leave', participant: p('a') }, 3);
    const replanned = ofType(drain(machine), 'planned');
    expect(replanned.map((x) => x.plan.homes)).toEqual([
      [
        { participant: p('b'), handler: h('h1') },
        { participant: p('c'), handler: h('h3') },
      ],
    ]);
  });
});

/** a and b in a meeting; b joined at `at` (epoch 1) and acknowledged it, a did not. */
function bJoinedAndOnlyAMissesItsEpoch(at: number) {
  const { machine } = newMeeting(['h1']);
  joinSettled(machine, ['a'], 0);
  machine.handle({ type: 'key-ack', participant: p('a'), epoch: 0 }, 0);
  machine.handle(joinInput('b'), at);
  ackUntilIdle(machine, drain(machine), at);
  machine.handle({ type: 'key-ack', participant: p('b'), epoch: 1 }, at);
  return machine;
}

describe('MeetingMachine keys', () => {
  it('resends an unacknowledged key after keyRetryMs, doubling the wait up to keyRetryCapMs', () => {
    const machine = bJoinedAndOnlyAMissesItsEpoch(100);
    const resentAt: number[] = [];
    for (let t = 100; t <= 40_000; t += 100) {
      machine.handleTimeout(t);
      for (const o of ofType(drain(machine), 'key')) {
        expect(o).toEqual({ type: 'key', epoch: 1, recipients: [p('a')], resend: true });
        resentAt.push(t);
      }
    }
    // 2 s, then 4 s, then 8 s (the cap) between sends.
    const r = TEST_TIMING.keyRetryMs;
    expect(resentAt.slice(0, 5)).toEqual([
      100 + r,
      100 + 3 * r,
      100 + 7 * r,
      100 + 11 * r,
      100 + 15 * r,
    ]);
    expect(TEST_TIMING.keyRetryCapMs).toBe(4 * r);
    // The deadline the machine reports is the next resend.
    expect(machine.pollTimeout()).toBe(resentAt.at(-1)! + TEST_TIMING.keyRetryCapMs);
  });

  it('gives a member cut off for longer than every early resend its key once the path returns', () => {
    const machine = bJoinedAndOnlyAMissesItsEpoch(0);
    // a hears nothing for 30 s; it still gets epoch 1 after that.
    let last = 0;
    for (let t = 0; t <= 30_000; t += 100) {
      machine.handleTimeout(t);
      if (ofType(drain(machine), 'key').length > 0) last = t;
    }
    expect(last).toBeGreaterThan(30_000 - TEST_TIMING.keyRetryCapMs);
    machine.handle({ type: 'key-ack', participant: p('a'), epoch: 1 }, 30_000);
    machine.handleTimeout(60_000);
    expect(ofType(drain(machine), 'key')).toEqual([]);
  });

  it('stops resending once the key is acknowledged', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a'], 0);
    machine.handleTimeout(TEST_TIMING.keyRetryMs);
    expect(ofType(drain(machine), 'key')).toHaveLength(1);
    machine.handle({ type: 'key-ack', participant: p('a'), epoch: 0 }, TEST_TIMING.keyRetryMs);
    machine.handleTimeout(10 * TEST_TIMING.keyRetryMs);
    expect(ofType(drain(machine), 'key')).toEqual([]);
  });

  it('takes a key-ack only for the epoch pending: a late ack of an older epoch does not stop resends', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b'], 0);
    machine.handle({ type: 'key-ack', participant: p('b'), epoch: 1 }, 10);
    machine.handle({ type: 'key-ack', participant: p('a'), epoch: 0 }, 10);
    machine.handleTimeout(TEST_TIMING.keyRetryMs);
    expect(ofType(drain(machine), 'key')).toEqual([
      { type: 'key', epoch: 1, recipients: [p('a')], resend: true },
    ]);
  });

  it('does not resend a superseded epoch; a leave starts one without the leaver; erases after the grace', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b', 'c'], 0);
    // a acknowledged epoch 0 only: epoch 2 is what is pending for everyone.
    machine.handle({ type: 'leave', participant: p('c') }, 500);
    const out = drain(machine);
    expect(ofType(out, 'key')).toEqual([
      { type: 'key', epoch: 3, recipients: [p('a'), p('b')], resend: false },
    ]);
    expect(ofType(out, 'session-delete')).toEqual([
      { type: 'session-delete', participant: p('c') },
    ]);
    ackUntilIdle(machine, out, 500);
    const keys: MeetingOutput[] = [];
    const erased: MeetingOutput[] = [];
    for (let t = 500; t <= 40_000; t += 100) {
      machine.handleTimeout(t);
      const o = drain(machine);
      keys.push(...ofType(o, 'key'));
      erased.push(...ofType(o, 'erase-epoch').map((e) => ({ ...e, at: t }) as MeetingOutput));
    }
    expect(keys.every((k) => k.type === 'key' && k.epoch === 3)).toBe(true);
    // Resent to a and b at 2, 6, 14, 22, 30 and 38 s after the leave.
    expect(keys.length).toBe(2 * 6);
    expect(erased).toContainEqual({
      type: 'erase-epoch',
      epoch: 2,
      at: 500 + TEST_TIMING.deletionGraceMs,
    });
    expect(machine.liveEpochs()).toEqual([3]);
  });
});

describe('MeetingMachine sessions', () => {
  it('expires a member silent for the session TTL, and a heartbeat defers it', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b'], 0);
    const ttl = TEST_TIMING.sessionTtlMs;
    machine.handle({ type: 'heartbeat', participant: p('b') }, ttl / 2);
    expect(ofType(drain(machine), 'session-write')).toHaveLength(1);
    // A heartbeat sooner than a tenth of the TTL refreshes silently.
    machine.handle({ type: 'heartbeat', participant: p('b') }, ttl / 2 + 1);
    expect(drain(machine)).toEqual([]);

    machine.handleTimeout(ttl - 1);
    expect(ofType(drain(machine), 'member-expired')).toEqual([]);
    machine.handleTimeout(ttl);
    const out = drain(machine);
    expect(out.slice(0, 2)).toEqual([
      { type: 'member-expired', participant: p('a') },
      { type: 'session-delete', participant: p('a') },
    ]);
    expect(ofType(out, 'key')[0]?.recipients).toEqual([p('b')]);
    expect([...machine.roster.members.keys()]).toEqual([p('b')]);
    expect(machine.pollTimeout()).toBeLessThanOrEqual(ttl / 2 + 1 + ttl);

    ackUntilIdle(machine, out, ttl);
    machine.handleTimeout(ttl / 2 + ttl);
    expect(ofType(drain(machine), 'member-expired')).toEqual([]);
    machine.handleTimeout(ttl / 2 + 1 + ttl);
    expect(ofType(drain(machine), 'member-expired')).toEqual([
      { type: 'member-expired', participant: p('b') },
    ]);
  });
});

describe('MeetingMachine mutations', () => {
  it('removeBeforeAdd sends the removals first', () => {
    const { machine } = speakerMeeting({ mutations: { removeBeforeAdd: true } });
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    const first = ofType(drain(machine), 'route-command');
    expect(first.flatMap(ops).every((op) => op === 'remove')).toBe(true);
  });

  it('noReplanOnHandlerLoss keeps the plan on a lost handler', () => {
    for (const noReplan of [false, true]) {
      const { machine, view } = speakerMeeting({ mutations: { noReplanOnHandlerLoss: noReplan } });
      view.lose(h('h3'));
      machine.handle({ type: 'handler-lost', handler: h('h3') }, 10);
      expect(ofType(drain(machine), 'planned')).toHaveLength(noReplan ? 0 : 1);
      expect(machine.uses(h('h3'))).toBe(noReplan);
    }
  });

  it('noRetransmit sends each command once', () => {
    for (const noRetransmit of [false, true]) {
      const { machine } = speakerMeeting({ mutations: { noRetransmit } });
      machine.handle({ type: 'speaker', participant: p('b') }, 10);
      drain(machine);
      machine.handleTimeout(10 + TEST_TIMING.commandRetryMs);
      expect(ofType(drain(machine), 'route-command').length > 0).toBe(!noRetransmit);
    }
  });

  it('noKeyRotationOnJoin starts no epoch on a join', () => {
    const { machine } = newMeeting(['h1'], { mutations: { noKeyRotationOnJoin: true } });
    joinSettled(machine, ['a', 'b'], 0);
    expect(machine.currentEpoch()).toBeUndefined();
  });
});
