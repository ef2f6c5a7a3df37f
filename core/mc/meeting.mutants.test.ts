import { describe, expect, it } from 'vitest';
import type { HandlerId, MediaKind } from '../ids.ts';
import { routeKey } from '../routing/keys.ts';
import { meetingDemand } from './layouts.ts';
import { routesOf } from '../routing/loads.ts';
import type { RoutingPlan, StreamDemand } from '../routing/types.ts';
import {
  handlersOf,
  homeIn,
  holds,
  sameDemand,
  type MeetingMachine,
  type MeetingOutput,
} from './meeting.ts';
import {
  MBPS,
  OTHER_REGION,
  REGION,
  SOLO,
  TEST_TIMING,
  ackUntilIdle,
  drain,
  grid,
  h,
  joinInput,
  joinSettled,
  newMeeting,
  ofType,
  p,
  report,
  speakerMeeting,
  viewOf,
} from './testing.ts';

type Command = Extract<MeetingOutput, { type: 'route-command' }>;

/** The legs each handler holds (a cascade both its ends), as the commands sent to it leave them. */
class Installed {
  private readonly legs = new Map<HandlerId, Set<string>>();

  constructor(plan: RoutingPlan | null) {
    for (const route of plan === null ? [] : routesOf(plan))
      for (const handler of handlersOf(route)) this.on(handler).add(routeKey(route));
  }

  apply(outputs: readonly MeetingOutput[]): void {
    for (const command of ofType(outputs, 'route-command'))
      for (const step of command.steps) {
        const legs = this.on(command.handler);
        if (step.op === 'add') legs.add(routeKey(step.route));
        else legs.delete(routeKey(step.route));
      }
  }

  at(handler: HandlerId): string[] {
    return [...this.on(handler)].sort();
  }

  private on(handler: HandlerId): Set<string> {
    let legs = this.legs.get(handler);
    if (legs === undefined) this.legs.set(handler, (legs = new Set()));
    return legs;
  }
}

function planLegsAt(plan: RoutingPlan | null, handler: HandlerId): string[] {
  return (plan === null ? [] : routesOf(plan))
    .filter((r) => holds(handler, r))
    .map(routeKey)
    .sort();
}

/**
 * A settled speaker meeting (h1 and h3) whose speaker changes to b at 10, with only `handler`'s
 * command of the transition's first phase acknowledged (at 11); with that phase's commands.
 */
function speakerChangeAckedBy(handler: HandlerId) {
  const { machine, view } = speakerMeeting();
  const installed = new Installed(machine.plan);
  machine.handle({ type: 'speaker', participant: p('b') }, 10);
  const sent = drain(machine);
  installed.apply(sent);
  const commands = ofType(sent, 'route-command');
  installed.apply(
    ack(
      machine,
      commands.find((c) => c.handler === handler),
      11,
    ),
  );
  return { machine, view, installed, commands };
}

const ops = (commands: readonly Command[]) => commands.flatMap((c) => c.steps.map((s) => s.op));

function ack(machine: MeetingMachine, command: Command | undefined, now: number): MeetingOutput[] {
  machine.handle({ type: 'route-ack', command: command?.id as number }, now);
  return drain(machine);
}

describe('MeetingMachine removals after a handler loss', () => {
  it('keeps removals off the handlers while an addition of the transition went to a lost handler, then sends them with the next transition', () => {
    const { machine, view, installed } = speakerChangeAckedBy(h('h1'));

    view.lose(h('h3'));
    machine.handle({ type: 'handler-lost', handler: h('h3') }, 12);
    const out = drain(machine);
    installed.apply(out);
    // The next transition's additions go out; no removal before they are acknowledged.
    expect(ofType(out, 'transition-done')).toHaveLength(1);
    expect(ofType(out, 'transition')).toHaveLength(1);
    expect(ops(ofType(out, 'route-command'))).not.toContain('remove');

    installed.apply(ackUntilIdle(machine, out, 13));
    expect(machine.transitionInFlight).toBe(false);
    // h1 ends up holding exactly the plan's legs: the deferred removals were sent.
    expect(installed.at(h('h1'))).toEqual(planLegsAt(machine.plan, h('h1')));
    expect(machine.uses(h('h3'))).toBe(false);
  });

  it('keeps removals off the handlers while the plan moved to routes through a lost handler', () => {
    const { machine, view, installed, commands } = speakerChangeAckedBy(h('h3'));

    view.lose(h('h3'));
    machine.handle({ type: 'handler-lost', handler: h('h3') }, 12);
    installed.apply(drain(machine));
    expect(machine.transitionInFlight).toBe(true);

    const out = ack(
      machine,
      commands.find((c) => c.handler === h('h1')),
      13,
    );
    installed.apply(out);
    expect(ofType(out, 'transition')).toHaveLength(1);
    expect(ops(ofType(out, 'route-command'))).not.toContain('remove');

    installed.apply(ackUntilIdle(machine, out, 14));
    expect(installed.at(h('h1'))).toEqual(planLegsAt(machine.plan, h('h1')));
  });

  it('does not send a deferred removal of a leg the next plan keeps', () => {
    const { machine, view } = speakerMeeting();
    // d, on h1 too, sees the speaker: a speaker change moves a delivery on h1.
    machine.handle(joinInput('d', SOLO), 5);
    ackUntilIdle(machine, drain(machine), 5);
    const installed = new Installed(machine.plan);
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    const sent = drain(machine);
    installed.apply(sent);
    // Back to a before the transition is done: the next plan keeps legs this one removes.
    machine.handle({ type: 'speaker', participant: p('a') }, 10);
    installed.apply(drain(machine));
    const commands = ofType(sent, 'route-command');
    installed.apply(
      ack(
        machine,
        commands.find((c) => c.handler === h('h1')),
        11,
      ),
    );

    view.lose(h('h3'));
    machine.handle({ type: 'handler-lost', handler: h('h3') }, 12);
    const out = drain(machine);
    installed.apply(out);
    const rest = ackUntilIdle(machine, out, 13);
    installed.apply(rest);
    expect(installed.at(h('h1'))).toEqual(planLegsAt(machine.plan, h('h1')));
  });

  it('keeps removals off the handlers when an addition went to a handler lost meanwhile, even once it is back', () => {
    const { machine, view } = speakerMeeting();
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    const commands = ofType(drain(machine), 'route-command');
    view.lose(h('h3'));
    machine.handle({ type: 'handler-lost', handler: h('h3') }, 11);
    drain(machine);
    // h3 reports again before h1 acknowledges: the plan moved to no longer routes through a
    // lost handler, but h3 never took its additions.
    view.report(report('h3', 12, { region: OTHER_REGION }), 12);
    const out = ack(
      machine,
      commands.find((c) => c.handler === h('h1')),
      13,
    );
    expect(ofType(out, 'transition')).toHaveLength(1);
    expect(ops(ofType(out, 'route-command'))).not.toContain('remove');
  });
});

describe('MeetingMachine members', () => {
  it('ignores everything but joins once the meeting ended', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a'], 0);
    machine.end();
    expect(ofType(drain(machine), 'meeting-ended')).toHaveLength(1);
    machine.handle({ type: 'heartbeat', participant: p('a') }, 1);
    machine.handle({ type: 'leave', participant: p('a') }, 1);
    machine.handle({ type: 'speaker', participant: p('a') }, 1);
    // Past the session expiry and the hourly key rotation.
    machine.handleTimeout(10 * 3_600_000);
    expect(drain(machine)).toEqual([]);
  });

  it('keeps no session for a heartbeat from someone not in the meeting', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a'], 0);
    machine.handle({ type: 'heartbeat', participant: p('stranger') }, 10);
    expect(drain(machine)).toEqual([]);
    machine.handleTimeout(10 + TEST_TIMING.sessionTtlMs);
    expect(ofType(drain(machine), 'member-expired').map((o) => o.participant)).toEqual([p('a')]);
  });

  it('ignores a leave from someone not in the meeting', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a'], 0);
    machine.handle({ type: 'leave', participant: p('stranger') }, 10);
    expect(drain(machine)).toEqual([]);
    expect(machine.roster.departed).toEqual([]);
  });

  it('does not expire the session of a member who left', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b'], 0);
    machine.handle({ type: 'leave', participant: p('b') }, 10);
    expect(machine.roster.departed).toEqual([p('b')]);
    ackUntilIdle(machine, drain(machine), 10);
    machine.handle({ type: 'heartbeat', participant: p('a') }, TEST_TIMING.sessionTtlMs / 2);
    machine.handleTimeout(TEST_TIMING.sessionTtlMs);
    expect(ofType(drain(machine), 'member-expired')).toEqual([]);
  });
});

describe('MeetingMachine planning', () => {
  it('homes a member who joins a meeting where nobody publishes, and unhomes one who leaves it', () => {
    const { machine } = newMeeting(['h1'], { defaultPublishes: [] });
    joinSettled(machine, ['a'], 0);
    machine.handle(joinInput('b'), 1);
    expect(ofType(drain(machine), 'join-accepted')).toMatchObject([
      { participant: p('b'), handler: h('h1') },
    ]);
    machine.handle({ type: 'leave', participant: p('b') }, 2);
    drain(machine);
    expect(machine.plan?.homes).toEqual([{ participant: p('a'), handler: h('h1') }]);
  });

  it('replans on the next change after a handler’s health changed, even with the same demand', () => {
    const { machine, view } = newMeeting(['h1', 'h2']);
    joinSettled(machine, ['a', 'b'], 0);
    // A speaker change in a grid only moves tiles: the demand stays.
    machine.handle({ type: 'speaker', participant: p('b') }, 1);
    expect(ofType(drain(machine), 'planned')).toEqual([]);
    view.lose(h('h2'));
    machine.handle({ type: 'speaker', participant: p('a') }, 2);
    const planned = ofType(drain(machine), 'planned');
    expect(planned).toHaveLength(1);
    expect(planned[0]?.input.handlers.find((x) => x.id === h('h2'))?.healthy).toBe(false);
  });

  it('replans when a member connects away from its home, and tells it to move home', () => {
    const { machine } = newMeeting(['h1', 'h2']);
    joinSettled(machine, ['a', 'b'], 0);
    machine.handle({ type: 'connected', participant: p('a'), handler: h('h2') }, 5);
    const out = drain(machine);
    expect(ofType(out, 'planned')).toHaveLength(1);
    expect(ofType(out, 'planned')[0]?.input.participants[0]).toMatchObject({
      id: p('a'),
      currentHandler: h('h2'),
    });
    expect(ofType(out, 'move')).toMatchObject([
      { type: 'move', participant: p('a'), handler: h('h1') },
    ]);
  });

  it('offers the planner the handlers of the meeting’s own region, not only its members’', () => {
    // Members from a region without handlers: the meeting's region (h1) takes them.
    const { machine } = newMeeting(['h1']);
    machine.handle(joinInput('x', grid(), OTHER_REGION), 0);
    expect(ofType(drain(machine), 'join-accepted')).toMatchObject([
      { participant: p('x'), handler: h('h1') },
    ]);
  });

  it('leaves the other members’ layouts as they were when a join is rejected', () => {
    // 10 Mbps (8 usable) holds two members' grids at 1 Mbps a stream, not three.
    const view = viewOf(['h1'], 0, { capacityBps: 10 * MBPS });
    const { machine } = newMeeting([], {}, view);
    joinSettled(machine, ['a', 'b'], 0);
    const before = machine.demand;
    machine.handle(joinInput('c'), 10);
    expect(ofType(drain(machine), 'join-rejected')).toHaveLength(1);
    expect(machine.demand).toBe(before);
    expect(meetingDemand(machine.roster)).toEqual(before);
  });

  it('takes a reconnecting member’s new layout', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b', 'c'], 0);
    const demand = machine.demand.length;
    machine.handle(joinInput('a', SOLO), 10);
    const out = drain(machine);
    expect(ofType(out, 'join-accepted')).toMatchObject([{ participant: p('a'), reconnect: true }]);
    expect(machine.roster.members.get(p('a'))?.layout).toEqual(SOLO);
    expect(machine.demand.length).toBeLessThan(demand);
  });
});

describe('MeetingMachine sessions refresh', () => {
  it('writes the session again on a heartbeat a tenth of the TTL after the last write', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a'], 0);
    const tenth = TEST_TIMING.sessionTtlMs / 10;
    machine.handle({ type: 'heartbeat', participant: p('a') }, tenth - 1);
    expect(drain(machine)).toEqual([]);
    machine.handle({ type: 'heartbeat', participant: p('a') }, 2 * tenth - 1);
    expect(ofType(drain(machine), 'session-write')).toHaveLength(1);
  });
});

describe('sameDemand', () => {
  const d = (subscriber: string, publisher: string, kind: MediaKind): StreamDemand => ({
    subscriber: p(subscriber),
    publisher: p(publisher),
    kind,
  });

  it('compares demand lists pair by pair', () => {
    const list = [d('a', 'b', 'camera'), d('b', 'a', 'audio')];
    expect(sameDemand(list, list)).toBe(true);
    expect(sameDemand(list, [...list])).toBe(true);
    expect(sameDemand(list, list.slice(0, 1))).toBe(false);
    expect(sameDemand(list, [d('a', 'b', 'camera'), d('c', 'a', 'audio')])).toBe(false);
    expect(sameDemand(list, [d('a', 'b', 'camera'), d('b', 'c', 'audio')])).toBe(false);
    expect(sameDemand(list, [d('a', 'b', 'camera'), d('b', 'a', 'camera')])).toBe(false);
  });
});

describe('MeetingMachine speakers', () => {
  it('keeps the eight most recent speakers who are members, most recent first', () => {
    const people = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    const { machine } = newMeeting(['h1'], { defaultPublishes: [] });
    joinSettled(machine, people, 0);
    for (const who of people) machine.handle({ type: 'speaker', participant: p(who) }, 1);
    machine.handle({ type: 'speaker', participant: p('stranger') }, 2);
    expect(machine.roster.activeSpeakers).toEqual(['j', 'i', 'h', 'g', 'f', 'e', 'd', 'c'].map(p));
    machine.handle({ type: 'speaker', participant: p('e') }, 3);
    expect(machine.roster.activeSpeakers).toEqual(['e', 'j', 'i', 'h', 'g', 'f', 'd', 'c'].map(p));
  });
});

describe('MeetingMachine retransmission timing', () => {
  it('resends a command every commandRetryMs while a key resend is due later', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a'], 0);
    machine.handle({ type: 'key-ack', participant: p('a'), epoch: 0 }, 0);
    machine.handle(joinInput('b'), 0);
    expect(ofType(drain(machine), 'route-command').length).toBeGreaterThan(0);
    const retry = TEST_TIMING.commandRetryMs;
    machine.handleTimeout(retry);
    expect(ofType(drain(machine), 'route-command').every((c) => c.resend)).toBe(true);
    expect(machine.pollTimeout()).toBe(2 * retry);
    machine.handleTimeout(2 * retry);
    expect(ofType(drain(machine), 'route-command').length).toBeGreaterThan(0);
  });

  it('expires the next silent member on time after an earlier one expired', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b', 'c', 'd'], 0);
    machine.handle({ type: 'heartbeat', participant: p('b') }, 2_000);
    machine.handle({ type: 'heartbeat', participant: p('c') }, 1_000);
    machine.handle({ type: 'heartbeat', participant: p('d') }, 3_000);
    const ttl = TEST_TIMING.sessionTtlMs;
    machine.handleTimeout(ttl);
    const out = drain(machine);
    expect(ofType(out, 'member-expired').map((o) => o.participant)).toEqual([p('a')]);
    ackUntilIdle(machine, out, ttl);
    machine.handleTimeout(ttl + 1_000);
    expect(ofType(drain(machine), 'member-expired').map((o) => o.participant)).toEqual([p('c')]);
  });
});

describe('MeetingMachine adoption', () => {
  it('drops what the failed controller never sent and sends what the new one has to say', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a'], 0);
    machine.handle(joinInput('b'), 10);
    // The failed controller sent one output of the join and no more.
    expect(machine.pollOutput()).not.toBeNull();
    machine.adoptedBy(viewOf(['h1'], 20), 20);
    machine.handleTimeout(20);
    const out = drain(machine);
    expect(ofType(out, 'join-accepted')).toEqual([]);
    // The one handler's command of the join, resent, then the keys.
    expect(out.map((o) => o.type)).toEqual(['route-command', 'key', 'key']);
    expect(ofType(out, 'key')).toEqual([
      { type: 'key', epoch: 1, recipients: [p('a')], resend: true },
      { type: 'key', epoch: 1, recipients: [p('b')], resend: true },
    ]);
  });

  it('resends unacknowledged keys at once, with no command pending', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a'], 0);
    machine.adoptedBy(viewOf(['h1'], 100), 100);
    expect(machine.pollTimeout()).toBe(100);
    machine.handleTimeout(100);
    expect(ofType(drain(machine), 'key')).toEqual([
      { type: 'key', epoch: 0, recipients: [p('a')], resend: true },
    ]);
  });

  it('replans on the new controller’s view at the next change, even with the same demand', () => {
    const { machine } = newMeeting(['h1', 'h2']);
    joinSettled(machine, ['a', 'b'], 0);
    machine.adoptedBy(viewOf(['h1', 'h2'], 100), 100);
    machine.handle({ type: 'speaker', participant: p('b') }, 101);
    expect(ofType(drain(machine), 'planned')).toHaveLength(1);
  });
});

describe('MeetingMachine transitions after a handler loss', () => {
  /** Acknowledges the additions of the transition `outputs` starts; returns what follows. */
  function ackAdditions(machine: MeetingMachine, outputs: readonly MeetingOutput[], now: number) {
    const adds = ofType(outputs, 'route-command');
    expect(adds.length).toBeGreaterThan(0);
    expect(ops(adds).every((op) => op === 'add')).toBe(true);
    for (const c of adds) machine.handle({ type: 'route-ack', command: c.id }, now);
    return drain(machine);
  }

  it('sends the next transition’s removals after its additions once the meeting moved off a lost handler', () => {
    const { machine, view } = speakerMeeting();
    view.lose(h('h3'));
    machine.handle({ type: 'handler-lost', handler: h('h3') }, 10);
    // Moving off h3: its removals there are skipped.
    ackUntilIdle(machine, drain(machine), 11);
    expect(machine.uses(h('h3'))).toBe(false);

    machine.handle({ type: 'speaker', participant: p('b') }, 20);
    const after = ackAdditions(machine, drain(machine), 21);
    expect(ops(ofType(after, 'route-command'))).toContain('remove');
  });

  it('wakes a settled meeting only at its next key event once everything is acknowledged', () => {
    const { machine } = speakerMeeting();
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    ackUntilIdle(machine, drain(machine), 11);
    // Epochs 0 and 1 were superseded at 0: they are erased after the grace.
    expect(machine.pollTimeout()).toBe(TEST_TIMING.deletionGraceMs);
  });
});

describe('MeetingMachine member changes', () => {
  const demanded = (machine: MeetingMachine, publisher: string) =>
    machine.demand
      .filter((d) => d.publisher === p(publisher))
      .map((d) => `${d.kind}>${d.subscriber}`);

  it('takes a member’s new layout and replans', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b', 'c'], 0);
    machine.handle({ type: 'layout', participant: p('a'), layout: SOLO }, 10);
    expect(ofType(drain(machine), 'planned')).toHaveLength(1);
    expect(machine.roster.members.get(p('a'))?.layout).toEqual(SOLO);
    expect(machine.demand.filter((d) => d.subscriber === p('a')).length).toBeLessThan(
      machine.demand.filter((d) => d.subscriber === p('b')).length,
    );
  });

  it('adds a published kind once, and removes only the kind unpublished', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b'], 0);
    machine.handle({ type: 'unpublish', participant: p('a'), kind: 'camera' }, 10);
    expect(machine.roster.members.get(p('a'))?.publishes).toEqual(['audio']);
    expect(demanded(machine, 'a')).toEqual(['audio>b']);
    machine.handle({ type: 'publish', participant: p('a'), kind: 'camera' }, 11);
    machine.handle({ type: 'publish', participant: p('a'), kind: 'camera' }, 12);
    expect(machine.roster.members.get(p('a'))?.publishes).toEqual(['audio', 'camera']);
    // A tile shows one kind: the camera over the audio.
    expect(demanded(machine, 'a')).toEqual(['camera>b']);
  });

  it('puts a shared screen first among what a member publishes, and takes it away when sharing stops', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b'], 0);
    machine.handle({ type: 'screen-share', participant: p('a'), sharing: true }, 10);
    expect(machine.roster.members.get(p('a'))?.publishes).toEqual(['screen', 'camera', 'audio']);
    expect(demanded(machine, 'a')).toContain('screen>b');
    machine.handle({ type: 'screen-share', participant: p('a'), sharing: true }, 11);
    expect(machine.roster.members.get(p('a'))?.publishes).toEqual(['screen', 'camera', 'audio']);
    machine.handle({ type: 'screen-share', participant: p('a'), sharing: false }, 12);
    expect(machine.roster.members.get(p('a'))?.publishes).toEqual(['camera', 'audio']);
    expect(demanded(machine, 'a')).not.toContain('screen>b');
  });
});

describe('MeetingMachine moves', () => {
  it('takes a repeated connection report as nothing new: no replan, no session write', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b'], 0);
    // Connected at its home: the same to the planner as not connected.
    machine.handle({ type: 'connected', participant: p('a'), handler: h('h1') }, 0);
    expect(ofType(drain(machine), 'planned')).toEqual([]);
    machine.handle(
      { type: 'connected', participant: p('a'), handler: h('h1') },
      TEST_TIMING.sessionTtlMs / 10,
    );
    expect(drain(machine)).toEqual([]);
  });

  it('does not tell a member to move again while it is still on its way', () => {
    const { machine } = newMeeting(['h1', 'h2', 'h3']);
    joinSettled(machine, ['a', 'b'], 0);
    const home = homeIn(machine.plan, p('a'));
    const [elsewhere, third] = [h('h1'), h('h2'), h('h3')].filter((x) => x !== home);
    machine.handle({ type: 'connected', participant: p('a'), handler: elsewhere as HandlerId }, 5);
    const first = drain(machine);
    expect(ofType(first, 'move')).toMatchObject([
      { type: 'move', participant: p('a'), handler: home },
    ]);
    ackUntilIdle(machine, first, 5);
    machine.handle({ type: 'connected', participant: p('a'), handler: third as HandlerId }, 6);
    expect(ofType(drain(machine), 'move')).toEqual([]);
  });

  it('does not tell a member connected at its home to move', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b', 'c'], 0);
    machine.handle({ type: 'connected', participant: p('a'), handler: h('h1') }, 5);
    machine.handle({ type: 'layout', participant: p('a'), layout: SOLO }, 6);
    const out = drain(machine);
    expect(ofType(out, 'planned')).toHaveLength(1);
    expect(ofType(out, 'move')).toEqual([]);
  });
});

describe('MeetingMachine retransmission with keys pending', () => {
  it('keeps retransmitting commands after every key is acknowledged', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a'], 0);
    machine.handle(joinInput('b'), 0);
    expect(ofType(drain(machine), 'route-command').length).toBeGreaterThan(0);
    for (const who of ['a', 'b'])
      machine.handle({ type: 'key-ack', participant: p(who), epoch: 1 }, 1);
    machine.handleTimeout(TEST_TIMING.commandRetryMs);
    expect(ofType(drain(machine), 'route-command').length).toBeGreaterThan(0);
  });

  it('resends keys and commands each at their own times', () => {
    const { machine } = newMeeting(['h1']);
    joinSettled(machine, ['a', 'b', 'c'], 0);
    // At 1 900 a's smaller layout sends removals (retried from 2 300); the keys sent at 0 are
    // due at 2 000, then at 6 000 (the wait doubles).
    machine.handle({ type: 'layout', participant: p('a'), layout: SOLO }, 1_900);
    expect(ofType(drain(machine), 'route-command').length).toBeGreaterThan(0);
    const keys: number[] = [];
    const commands: number[] = [];
    for (let t = machine.pollTimeout(); t !== null && t <= 6_500; t = machine.pollTimeout()) {
      machine.handleTimeout(t);
      const out = drain(machine);
      if (ofType(out, 'key').length > 0) keys.push(t);
      if (ofType(out, 'route-command').length > 0) commands.push(t);
    }
    const retry = TEST_TIMING.commandRetryMs;
    expect(keys).toEqual([TEST_TIMING.keyRetryMs, 3 * TEST_TIMING.keyRetryMs]);
    expect(commands).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((n) => 1_900 + n * retry));
  });

  it('wakes for a key erasure due before a command retransmission', () => {
    const { machine } = speakerMeeting();
    const erasure = TEST_TIMING.deletionGraceMs;
    machine.handle({ type: 'speaker', participant: p('b') }, erasure - 100);
    expect(ofType(drain(machine), 'route-command').length).toBeGreaterThan(0);
    expect(machine.pollTimeout()).toBe(erasure);
  });
});

describe('MeetingMachine homes and commands', () => {
  it('tells each joining member its own home', () => {
    const { machine } = speakerMeeting();
    machine.handle(joinInput('d', SOLO, OTHER_REGION), 10);
    const out = drain(machine);
    expect(ofType(out, 'join-accepted')).toMatchObject([{ participant: p('d'), handler: h('h3') }]);
    machine.handle(joinInput('e', SOLO), 10);
    expect(ofType(drain(machine), 'join-accepted')).toMatchObject([
      { participant: p('e'), handler: h('h1') },
    ]);
  });

  it('marks only retransmitted commands as resends', () => {
    const { machine } = speakerMeeting();
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    const sent = ofType(drain(machine), 'route-command');
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((c) => !c.resend)).toBe(true);
  });

  it('rejects a reconnect whose new layout finds no room, keeping the member', () => {
    // 10 Mbps (8 usable) at 1 Mbps a stream.
    const view = viewOf(['h1'], 0, { capacityBps: 10 * MBPS });
    const { machine } = newMeeting([], {}, view);
    for (const who of ['a', 'b', 'c']) {
      machine.handle(joinInput(who, SOLO), 0);
      ackUntilIdle(machine, drain(machine), 0);
    }
    const rejected: string[] = [];
    for (const who of ['a', 'b', 'c']) {
      machine.handle(joinInput(who, grid()), 1);
      const out = drain(machine);
      ackUntilIdle(machine, out, 1);
      for (const r of ofType(out, 'join-rejected')) rejected.push(r.participant);
      expect(ofType(out, 'join-accepted').length + ofType(out, 'join-rejected').length).toBe(1);
    }
    expect(rejected.length).toBeGreaterThan(0);
    expect(machine.memberCount).toBe(3);
  });
});

describe('MeetingMachine adoption deadlines', () => {
  it('resends unacknowledged commands at once, with every key acknowledged', () => {
    const { machine } = speakerMeeting();
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    const sent = ofType(drain(machine), 'route-command');
    machine.adoptedBy(speakerMeeting().view, 20);
    expect(machine.pollTimeout()).toBe(20);
    machine.handleTimeout(20);
    expect(ofType(drain(machine), 'route-command').map((c) => c.id)).toEqual(sent.map((c) => c.id));
  });

  it('does not wake an adopted meeting with nothing unacknowledged before its next deadline', () => {
    const { machine } = speakerMeeting();
    machine.adoptedBy(speakerMeeting().view, 20);
    expect(machine.pollTimeout()).toBe(TEST_TIMING.deletionGraceMs);
  });
});

describe('MeetingMachine stranded after a handler loss', () => {
  /** h1 at 7 Mbps cannot take c as well: a replan after losing h3 finds no room. */
  function strandable() {
    const view = viewOf(['h1'], 0, { capacityBps: 7 * MBPS });
    view.report(report('h3', 0, { region: OTHER_REGION }), 0);
    const { machine } = newMeeting([], {}, view);
    for (const [who, region] of [
      ['a', REGION],
      ['b', REGION],
      ['c', OTHER_REGION],
      ['d', REGION],
    ] as const) {
      machine.handle(joinInput(who, SOLO, region), 0);
      ackUntilIdle(machine, drain(machine), 0);
    }
    return { machine, view };
  }

  it('sends a later transition’s removals once a handler lost with only removals pending is back', () => {
    const { machine, view } = strandable();
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    for (const c of ofType(drain(machine), 'route-command'))
      machine.handle({ type: 'route-ack', command: c.id }, 11);
    const removals = ofType(drain(machine), 'route-command');
    expect(removals.some((c) => c.handler === h('h3'))).toBe(true);
    view.lose(h('h3'));
    machine.handle({ type: 'handler-lost', handler: h('h3') }, 12);
    const lost = drain(machine);
    expect(ofType(lost, 'plan-failed')).toHaveLength(1);
    // h1's removal is still unacknowledged: the transition is not done.
    expect(ofType(lost, 'transition-done')).toEqual([]);
    expect(machine.transitionInFlight).toBe(true);
    for (const c of removals)
      if (c.handler !== h('h3')) machine.handle({ type: 'route-ack', command: c.id }, 13);
    drain(machine);
    expect(machine.transitionInFlight).toBe(false);

    view.report(report('h3', 20, { region: OTHER_REGION }), 20);
    machine.handle({ type: 'speaker', participant: p('a') }, 21);
    const adds = ofType(drain(machine), 'route-command');
    expect(ops(adds).every((op) => op === 'add')).toBe(true);
    for (const c of adds) machine.handle({ type: 'route-ack', command: c.id }, 22);
    expect(ops(ofType(drain(machine), 'route-command'))).toContain('remove');
  });

  it('keeps removals off the handlers when a transition’s additions could not be sent to a lost handler, even once it is back', () => {
    const { machine, view } = strandable();
    machine.handle({ type: 'speaker', participant: p('b') }, 10);
    for (const c of ofType(drain(machine), 'route-command'))
      machine.handle({ type: 'route-ack', command: c.id }, 11);
    const removals = ofType(drain(machine), 'route-command');
    // A plan through h3 is made while the transition is in flight; then h3 is lost.
    machine.handle({ type: 'speaker', participant: p('a') }, 12);
    drain(machine);
    view.lose(h('h3'));
    machine.handle({ type: 'handler-lost', handler: h('h3') }, 13);
    expect(ofType(drain(machine), 'plan-failed')).toHaveLength(1);
    for (const c of removals)
      if (c.handler !== h('h3')) machine.handle({ type: 'route-ack', command: c.id }, 14);
    // The next transition's additions to h3 are not sent; h3 reports again meanwhile.
    const next = drain(machine);
    const adds = ofType(next, 'route-command');
    expect(adds.map((c) => c.handler)).toEqual([h('h1')]);
    view.report(report('h3', 15, { region: OTHER_REGION }), 15);
    for (const c of adds) machine.handle({ type: 'route-ack', command: c.id }, 16);
    expect(ops(ofType(drain(machine), 'route-command'))).not.toContain('remove');
  });
});
