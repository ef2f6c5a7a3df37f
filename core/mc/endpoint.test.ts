import { describe, expect, it } from 'vitest';
import { meetingId, type HandlerId, type MeetingId } from '../ids.ts';
import { ControllerEndpoint, ENDED_MEETINGS_KEPT, type ControllerOutput } from './endpoint.ts';
import { homeIn, type MeetingInput, type MeetingOutput } from './meeting.ts';
import {
  OTHER_REGION,
  REGION,
  SOLO,
  TEST_TIMING,
  TEST_VIEW_POLICY,
  controllerConfig,
  h,
  joinInput,
  p,
  report,
} from './testing.ts';

const m1 = meetingId('m1');
const m2 = meetingId('m2');

function drainEndpoint(endpoint: ControllerEndpoint): ControllerOutput[] {
  const out: ControllerOutput[] = [];
  for (let o = endpoint.pollOutput(); o !== null; o = endpoint.pollOutput()) out.push(o);
  return out;
}

function meetingOutputs(out: readonly ControllerOutput[], meeting?: MeetingId): MeetingOutput[] {
  return out.flatMap((o) =>
    o.type === 'meeting' && (meeting === undefined || o.meeting.id === meeting) ? [o.output] : [],
  );
}

function commands(out: readonly ControllerOutput[], meeting?: MeetingId) {
  return meetingOutputs(out, meeting).filter(
    (o): o is Extract<MeetingOutput, { type: 'route-command' }> => o.type === 'route-command',
  );
}

function toMeeting(
  endpoint: ControllerEndpoint,
  meeting: MeetingId,
  input: MeetingInput,
  now: number,
): ControllerOutput[] {
  endpoint.handle({ type: 'meeting', meeting, meetingRegion: REGION, input }, now);
  return drainEndpoint(endpoint);
}

/** Acknowledges route commands until none is sent. */
function settle(endpoint: ControllerEndpoint, out: readonly ControllerOutput[], now: number) {
  let batch = out;
  for (let i = 0; i < 50; i++) {
    const sent = commands(batch);
    if (sent.length === 0) return;
    const next: ControllerOutput[] = [];
    for (const c of sent)
      next.push(...toMeeting(endpoint, c.meeting, { type: 'route-ack', command: c.id }, now));
    batch = next;
  }
  throw new Error('never settled');
}

/** An endpoint that has heard h1 (and h3 in the other region) at `now`. */
function endpointWith(now = 0): ControllerEndpoint {
  const endpoint = new ControllerEndpoint(controllerConfig(), now);
  endpoint.handle(
    {
      type: 'load-reports',
      reports: [report('h1', now), report('h3', now, { region: OTHER_REGION })],
    },
    now,
  );
  drainEndpoint(endpoint);
  return endpoint;
}

/** m1 with a and b in REGION and c in OTHER_REGION, in speaker view, settled. */
function speakerMeetingOn(endpoint: ControllerEndpoint, meeting: MeetingId, now: number) {
  for (const [who, region] of [
    ['a', REGION],
    ['b', REGION],
    ['c', OTHER_REGION],
  ] as const) {
    settle(endpoint, toMeeting(endpoint, meeting, joinInput(who, SOLO, region), now), now);
  }
}

describe('ControllerEndpoint', () => {
  it('creates a meeting on its first input with a region, and answers unknown-meeting without', () => {
    const endpoint = endpointWith();
    endpoint.handle({ type: 'meeting', meeting: m2, input: joinInput('a') }, 1);
    expect(drainEndpoint(endpoint)).toEqual([{ type: 'unknown-meeting', meeting: m2 }]);
    expect(endpoint.meetingCount).toBe(0);

    const out = toMeeting(endpoint, m1, joinInput('a'), 2);
    expect(endpoint.meeting(m1)?.config.region).toBe(REGION);
    expect(meetingOutputs(out, m1)).toContainEqual(
      expect.objectContaining({ type: 'join-accepted', participant: p('a'), handler: h('h1') }),
    );
    // Later inputs need no region.
    endpoint.handle({ type: 'meeting', meeting: m1, input: joinInput('b') }, 3);
    expect(meetingOutputs(drainEndpoint(endpoint))).toContainEqual(
      expect.objectContaining({ type: 'join-accepted', participant: p('b') }),
    );
    expect(endpoint.meetingCount).toBe(1);
  });

  it('sends a heartbeat every heartbeatIntervalMs with its meeting count', () => {
    const endpoint = new ControllerEndpoint(controllerConfig({ heartbeatIntervalMs: 1_000 }), 0);
    const beats: number[] = [];
    for (let t = 0; t <= 3_500; t += 250) {
      endpoint.handleTimeout(t);
      for (const o of drainEndpoint(endpoint)) {
        if (o.type === 'heartbeat') {
          expect(o).toEqual({ type: 'heartbeat', controller: 'mc-1', meetingCount: 0, ended: [] });
          beats.push(t);
        }
      }
    }
    expect(beats).toEqual([0, 1_000, 2_000, 3_000]);
    expect(endpoint.pollTimeout()).toBe(4_000);
  });

  it('loses a handler silent for detectionMs and replans the meetings using it; a newer report brings it back', () => {
    const endpoint = endpointWith(0);
    speakerMeetingOn(endpoint, m1, 0);
    toMeeting(endpoint, m2, joinInput('z'), 0);
    endpoint.handleTimeout(0);
    drainEndpoint(endpoint);
    const detection = TEST_VIEW_POLICY.detectionMs;
    // h1 keeps reporting; h3 falls silent after its report at 0.
    endpoint.handle({ type: 'load-reports', reports: [report('h1', 2_000)] }, 2_000);
    expect(endpoint.handlers.nextExpiry()).toBe(detection);
    expect(endpoint.pollTimeout()).toBeLessThanOrEqual(detection);
    endpoint.handleTimeout(detection - 1);
    expect(drainEndpoint(endpoint).filter((o) => o.type === 'handler-lost')).toEqual([]);
    endpoint.handleTimeout(detection);
    const out = drainEndpoint(endpoint);
    expect(out.filter((o) => o.type !== 'meeting' && o.type !== 'heartbeat')).toEqual([
      { type: 'handler-lost', handler: h('h3') },
    ]);
    expect(meetingOutputs(out, m1).some((o) => o.type === 'planned')).toBe(true);
    expect(meetingOutputs(out, m2)).toEqual([]);
    expect(endpoint.meeting(m1)?.plan?.loads.map((l) => l.handler)).toEqual([h('h1')]);
    expect(endpoint.handlers.isHealthy(h('h3'))).toBe(false);

    // A report no newer than the last one heard changes nothing.
    const version = endpoint.handlers.healthVersion;
    endpoint.handle(
      { type: 'load-reports', reports: [report('h3', 0, { region: OTHER_REGION })] },
      2_600,
    );
    expect(endpoint.handlers.isHealthy(h('h3'))).toBe(false);
    expect(endpoint.handlers.healthVersion).toBe(version);
    endpoint.handle(
      { type: 'load-reports', reports: [report('h3', 2_600, { region: OTHER_REGION })] },
      2_600,
    );
    expect(endpoint.handlers.isHealthy(h('h3'))).toBe(true);
    expect(endpoint.handlers.healthVersion).toBe(version + 1);
  });

  it('moves the meetings on a handler that reports draining off it, without losing it', () => {
    const endpoint = endpointWith(0);
    endpoint.handle({ type: 'load-reports', reports: [report('h2', 0)] }, 0);
    speakerMeetingOn(endpoint, m1, 0);
    const before = endpoint.meeting(m1)?.plan?.loads.map((l) => l.handler) ?? [];
    const inRegion = before.find((x) => x === h('h1') || x === h('h2'));
    expect(inRegion).toBeDefined();
    const other = inRegion === h('h1') ? 'h2' : 'h1';
    for (const who of ['a', 'b', 'c']) {
      const home = homeIn(endpoint.meeting(m1)?.plan ?? null, p(who)) as HandlerId;
      toMeeting(endpoint, m1, { type: 'connected', participant: p(who), handler: home }, 500);
    }
    endpoint.handle(
      {
        type: 'load-reports',
        reports: [report(inRegion as string, 1_000, { draining: true }), report(other, 1_000)],
      },
      1_000,
    );
    const out = drainEndpoint(endpoint);
    expect(out.filter((o) => o.type === 'handler-lost')).toEqual([]);
    const plan = endpoint.meeting(m1)?.plan;
    expect(plan?.loads.map((l) => l.handler)).not.toContain(inRegion);
    const moves = meetingOutputs(out, m1).filter((o) => o.type === 'move');
    expect(moves.map((o) => (o.type === 'move' ? o.handler : undefined))).toContain(h(other));
    expect(endpoint.handlers.isHealthy(inRegion as HandlerId)).toBe(true);
    // The removals on the draining handler follow the additions and are acknowledged by it.
    settle(endpoint, out, 1_000);
    expect(endpoint.meeting(m1)?.transitionInFlight).toBe(false);
    expect(endpoint.meeting(m1)?.uses(inRegion as HandlerId)).toBe(false);
  });

  it('loses a handler whose connection closed at once, once', () => {
    const endpoint = endpointWith(0);
    speakerMeetingOn(endpoint, m1, 0);
    endpoint.handle({ type: 'handler-lost', handler: h('h3') }, 10);
    const out = drainEndpoint(endpoint);
    expect(out[0]).toEqual({ type: 'handler-lost', handler: h('h3') });
    expect(meetingOutputs(out, m1).some((o) => o.type === 'planned')).toBe(true);
    endpoint.handle({ type: 'handler-lost', handler: h('h3') }, 11);
    expect(drainEndpoint(endpoint)).toEqual([]);
  });

  it('loses a handler once two members lost their media sessions to it since its last report', () => {
    const endpoint = endpointWith(0);
    endpoint.handle({ type: 'load-reports', reports: [report('h2', 0)] }, 0);
    speakerMeetingOn(endpoint, m1, 0);
    const home = homeIn(endpoint.meeting(m1)?.plan ?? null, p('a')) as HandlerId;
    expect(homeIn(endpoint.meeting(m1)?.plan ?? null, p('b'))).toBe(home);
    for (const who of ['a', 'b'])
      toMeeting(endpoint, m1, { type: 'connected', participant: p(who), handler: home }, 100);
    const lost = (who: string, at: number) =>
      toMeeting(endpoint, m1, { type: 'connected', participant: p(who), handler: undefined }, at);
    const handlerLost = (out: ControllerOutput[]) => out.filter((o) => o.type === 'handler-lost');

    // One member's loss may be its own network's.
    expect(handlerLost(lost('a', 200))).toEqual([]);
    expect(endpoint.handlers.isHealthy(home)).toBe(true);
    // The same member again is still one.
    toMeeting(endpoint, m1, { type: 'connected', participant: p('a'), handler: home }, 250);
    expect(handlerLost(lost('a', 300))).toEqual([]);
    // A report from the handler since says it is alive: the count starts again.
    endpoint.handle({ type: 'load-reports', reports: [report(home, 400)] }, 400);
    toMeeting(endpoint, m1, { type: 'connected', participant: p('a'), handler: home }, 450);
    expect(handlerLost(lost('b', 500))).toEqual([]);
    // A second member since that report: lost now, long before its silence would tell.
    const out = lost('a', 600);
    expect(handlerLost(out)).toEqual([{ type: 'handler-lost', handler: home }]);
    expect(endpoint.handlers.isHealthy(home)).toBe(false);
    expect(endpoint.meeting(m1)?.plan?.loads.map((l) => l.handler)).not.toContain(home);
    expect(meetingOutputs(out, m1).some((o) => o.type === 'planned')).toBe(true);
    // Its next report brings it back.
    endpoint.handle({ type: 'load-reports', reports: [report(home, 900)] }, 900);
    expect(endpoint.handlers.isHealthy(home)).toBe(true);
  });

  it('takes no member loss for a handler with mediaLossReports 0', () => {
    const endpoint = new ControllerEndpoint(
      controllerConfig({ handlerView: { ...TEST_VIEW_POLICY, mediaLossReports: 0 } }),
      0,
    );
    endpoint.handle({ type: 'load-reports', reports: [report('h1', 0)] }, 0);
    settle(endpoint, toMeeting(endpoint, m1, joinInput('a'), 0), 0);
    settle(endpoint, toMeeting(endpoint, m1, joinInput('b'), 0), 0);
    for (const who of ['a', 'b'])
      toMeeting(endpoint, m1, { type: 'connected', participant: p(who), handler: h('h1') }, 10);
    for (const who of ['a', 'b'])
      toMeeting(endpoint, m1, { type: 'connected', participant: p(who), handler: undefined }, 20);
    expect(endpoint.handlers.isHealthy(h('h1'))).toBe(true);
  });

  it('fires meeting deadlines in deadline order and reports the earliest', () => {
    const endpoint = endpointWith(0);
    endpoint.handleTimeout(0);
    drainEndpoint(endpoint);
    speakerMeetingOn(endpoint, m1, 0);
    speakerMeetingOn(endpoint, m2, 0);
    for (const m of [m1, m2])
      for (const who of ['a', 'b', 'c'])
        toMeeting(endpoint, m, { type: 'key-ack', participant: p(who), epoch: 2 }, 0);
    // m2's commands go out at 100, m1's at 300: m2's retransmission is due first.
    expect(
      commands(toMeeting(endpoint, m2, { type: 'speaker', participant: p('b') }, 100)),
    ).not.toEqual([]);
    expect(
      commands(toMeeting(endpoint, m1, { type: 'speaker', participant: p('b') }, 300)),
    ).not.toEqual([]);
    expect(endpoint.pollTimeout()).toBe(100 + TEST_TIMING.commandRetryMs);
    endpoint.handle(
      {
        type: 'load-reports',
        reports: [report('h1', 900), report('h3', 900, { region: OTHER_REGION })],
      },
      900,
    );

    endpoint.handleTimeout(100 + TEST_TIMING.commandRetryMs);
    const first = commands(drainEndpoint(endpoint));
    expect(first.length).toBeGreaterThan(0);
    expect(first.every((c) => c.meeting === m2 && c.resend)).toBe(true);
    expect(endpoint.pollTimeout()).toBe(300 + TEST_TIMING.commandRetryMs);
    endpoint.handleTimeout(300 + TEST_TIMING.commandRetryMs);
    const second = commands(drainEndpoint(endpoint));
    expect(second.length).toBeGreaterThan(0);
    expect(second.every((c) => c.meeting === m1 && c.resend)).toBe(true);
    expect(endpoint.pollTimeout()).toBe(100 + 2 * TEST_TIMING.commandRetryMs);
  });

  it('adopting a meeting resends its unacknowledged commands at once', () => {
    const failed = endpointWith(0);
    speakerMeetingOn(failed, m1, 0);
    const sent = commands(toMeeting(failed, m1, { type: 'speaker', participant: p('b') }, 10));
    expect(sent.length).toBe(2);
    const machine = failed.meeting(m1);
    if (machine === undefined) throw new Error('no meeting');

    const taker = endpointWith(20);
    taker.handle({ type: 'adopt', machine }, 20);
    expect(taker.meeting(m1)).toBe(machine);
    expect(taker.pollTimeout()).toBeLessThanOrEqual(20);
    taker.handleTimeout(20);
    const resent = commands(drainEndpoint(taker), m1);
    expect(resent.map((c) => ({ id: c.id, handler: c.handler, steps: c.steps }))).toEqual(
      sent.map((c) => ({ id: c.id, handler: c.handler, steps: c.steps })),
    );
    expect(resent.every((c) => c.resend)).toBe(true);
    // The plan in force now counts on the taker's view.
    expect(taker.handlers.estimatedBps(h('h1'))).toBeGreaterThan(0);
  });

  it('stops running a released meeting without ending it', () => {
    const endpoint = endpointWith(0);
    speakerMeetingOn(endpoint, m1, 0);
    toMeeting(endpoint, m1, { type: 'speaker', participant: p('b') }, 10);
    const machine = endpoint.meeting(m1);
    endpoint.handle({ type: 'release', meeting: m1 }, 20);
    expect(endpoint.meeting(m1)).toBeUndefined();
    expect(endpoint.meetingCount).toBe(0);
    endpoint.handleTimeout(10 + TEST_TIMING.commandRetryMs);
    expect(commands(drainEndpoint(endpoint))).toEqual([]);
    // Not ended: the machine still holds its plan and resends when driven by another.
    expect(machine?.plan).not.toBeNull();
    machine?.handleTimeout(10 + TEST_TIMING.commandRetryMs);
    expect(machine?.pollOutput()).toMatchObject({ type: 'route-command', resend: true });
    endpoint.handle({ type: 'meeting', meeting: m1, input: joinInput('d') }, 30);
    expect(drainEndpoint(endpoint)).toEqual([{ type: 'unknown-meeting', meeting: m1 }]);
  });

  it('ends a meeting: its plan leaves the handler estimate and its deadlines stop', () => {
    const endpoint = endpointWith(0);
    speakerMeetingOn(endpoint, m1, 0);
    expect(endpoint.handlers.estimatedBps(h('h1'))).toBeGreaterThan(0);
    toMeeting(endpoint, m1, { type: 'speaker', participant: p('b') }, 10);
    endpoint.handle({ type: 'end-meeting', meeting: m1 }, 20);
    expect(endpoint.meetingCount).toBe(0);
    expect(endpoint.handlers.estimatedBps(h('h1'))).toBe(0);
    endpoint.handleTimeout(10 + TEST_TIMING.commandRetryMs);
    expect(commands(drainEndpoint(endpoint))).toEqual([]);
  });

  it('tells a meeting of a lost handler it still has unacknowledged removals on', () => {
    const endpoint = endpointWith(0);
    speakerMeetingOn(endpoint, m1, 0);
    // c leaves: the new plan no longer uses h3, but the removals of c's legs go to h3.
    const out = toMeeting(endpoint, m1, { type: 'leave', participant: p('c') }, 10);
    let pending = commands(out);
    for (let i = 0; i < 3 && !pending.some((c) => c.handler === h('h3')); i++) {
      const next: ControllerOutput[] = [];
      for (const c of pending)
        next.push(...toMeeting(endpoint, m1, { type: 'route-ack', command: c.id }, 10));
      pending = commands(next);
    }
    expect(pending.some((c) => c.handler === h('h3'))).toBe(true);
    for (const c of pending)
      if (c.handler !== h('h3')) toMeeting(endpoint, m1, { type: 'route-ack', command: c.id }, 11);
    endpoint.handle({ type: 'handler-lost', handler: h('h3') }, 12);
    drainEndpoint(endpoint);
    expect(endpoint.meeting(m1)?.transitionInFlight).toBe(false);
    // Nothing is retransmitted to the lost handler, and later changes still move the handlers.
    endpoint.handleTimeout(12 + 5 * TEST_TIMING.commandRetryMs);
    expect(commands(drainEndpoint(endpoint)).filter((c) => c.handler === h('h3'))).toEqual([]);
    const later = commands(toMeeting(endpoint, m1, joinInput('d', SOLO), 3_000));
    expect(later.length).toBeGreaterThan(0);
  });
});

describe('ControllerEndpoint deadlines', () => {
  it('fires many meetings’ deadlines in time order, whatever order they were filed in', () => {
    const endpoint = new ControllerEndpoint(
      controllerConfig({
        heartbeatIntervalMs: 1_000_000,
        handlerView: { reportIntervalMs: 1_000, detectionMs: 1_000_000 },
      }),
      0,
    );
    endpoint.handle({ type: 'load-reports', reports: [report('h1', 0)] }, 0);
    endpoint.handleTimeout(0);
    const joins = [300, 100, 400, 0, 200, 150, 350];
    joins.forEach((at, i) => toMeeting(endpoint, meetingId(`m${i}`), joinInput('a'), at));
    const fired: [number, string][] = [];
    for (let round = 0; round < joins.length; round++) {
      const deadline = endpoint.pollTimeout();
      if (deadline === null) break;
      endpoint.handleTimeout(deadline);
      for (const o of drainEndpoint(endpoint))
        if (o.type === 'meeting' && o.output.type === 'key') fired.push([deadline, o.meeting.id]);
    }
    const expected = joins
      .map((at, i) => [at + TEST_TIMING.keyRetryMs, `m${i}`] as [number, string])
      .sort((x, y) => x[0] - y[0]);
    expect(fired).toEqual(expected);
  });

  it('reports the earliest of heartbeat, handler silence and meeting deadlines', () => {
    const endpoint = new ControllerEndpoint(controllerConfig({ heartbeatIntervalMs: 60_000 }), 0);
    expect(endpoint.pollTimeout()).toBe(0);
    endpoint.handleTimeout(0);
    expect(drainEndpoint(endpoint)).toEqual([
      { type: 'heartbeat', controller: 'mc-1', meetingCount: 0, ended: [] },
    ]);
    expect(endpoint.pollTimeout()).toBe(60_000);
    endpoint.handle({ type: 'load-reports', reports: [report('h1', 100)] }, 100);
    expect(endpoint.pollTimeout()).toBe(100 + TEST_VIEW_POLICY.detectionMs);
    toMeeting(endpoint, m1, joinInput('a'), 200);
    endpoint.handle({ type: 'load-reports', reports: [report('h1', 50_000)] }, 50_000);
    expect(endpoint.pollTimeout()).toBe(200 + TEST_TIMING.keyRetryMs);
    endpoint.handleTimeout(60_000);
    expect(drainEndpoint(endpoint).filter((o) => o.type === 'heartbeat')).toEqual([
      { type: 'heartbeat', controller: 'mc-1', meetingCount: 1, ended: [] },
    ]);
  });

  it('ignores releasing a meeting it does not run; one it does not run ended at GC stays ended', () => {
    const endpoint = endpointWith(0);
    endpoint.handle({ type: 'end-meeting', meeting: m2 }, 1);
    endpoint.handle({ type: 'release', meeting: m2 }, 1);
    expect(drainEndpoint(endpoint)).toEqual([]);
    expect(endpoint.meetingCount).toBe(0);
    expect(endpoint.hasEnded(m2)).toBe(true);
    endpoint.handle(
      { type: 'meeting', meeting: m2, meetingRegion: REGION, input: joinInput('a') },
      2,
    );
    expect(drainEndpoint(endpoint)).toMatchObject([
      {
        type: 'meeting',
        output: { type: 'join-rejected', participant: 'a', reason: 'meeting-ended' },
      },
    ]);
    expect(endpoint.meetingCount).toBe(0);
  });

  it('ends a meeting at GC’s word: sessions deleted, members and handlers told, later joins rejected, acknowledged once in the next heartbeat', () => {
    const endpoint = endpointWith(0);
    speakerMeetingOn(endpoint, m1, 0);
    drainEndpoint(endpoint);
    endpoint.handle({ type: 'end-meeting', meeting: m1 }, 20);
    const out = drainEndpoint(endpoint).flatMap((o) => (o.type === 'meeting' ? [o.output] : []));
    const members = ['a', 'b', 'c'].map(p);
    expect(out.filter((o) => o.type === 'session-delete').map((o) => o.participant)).toEqual(
      members,
    );
    expect(out.filter((o) => o.type === 'meeting-ended')).toMatchObject([{ meeting: m1, members }]);
    expect(endpoint.meetingCount).toBe(0);
    // A join after the end: rejected, and the meeting is not started again.
    endpoint.handle(
      { type: 'meeting', meeting: m1, meetingRegion: REGION, input: joinInput('d') },
      30,
    );
    expect(drainEndpoint(endpoint)).toMatchObject([
      {
        type: 'meeting',
        output: { type: 'join-rejected', participant: 'd', reason: 'meeting-ended' },
      },
    ]);
    expect(endpoint.meetingCount).toBe(0);
    // GC says it again (its answer to a heartbeat crossed the acknowledgement): nothing new.
    endpoint.handle({ type: 'end-meeting', meeting: m1 }, 40);
    expect(drainEndpoint(endpoint)).toEqual([]);
    endpoint.handleTimeout(1_000);
    expect(drainEndpoint(endpoint).filter((o) => o.type === 'heartbeat')).toEqual([
      { type: 'heartbeat', controller: 'mc-1', meetingCount: 0, ended: [m1] },
    ]);
    endpoint.handleTimeout(2_000);
    expect(drainEndpoint(endpoint).filter((o) => o.type === 'heartbeat')).toMatchObject([
      { ended: [] },
    ]);
  });

  it('remembers the most recent ended meetings only', () => {
    const endpoint = endpointWith(0);
    for (let i = 0; i <= ENDED_MEETINGS_KEPT; i++)
      endpoint.handle({ type: 'end-meeting', meeting: meetingId(`e${i}`) }, 1);
    expect(endpoint.hasEnded(meetingId('e0'))).toBe(false);
    expect(endpoint.hasEnded(meetingId('e1'))).toBe(true);
    expect(endpoint.hasEnded(meetingId(`e${ENDED_MEETINGS_KEPT}`))).toBe(true);
  });
});

describe('ControllerEndpoint defaults', () => {
  it('takes the default handler view policy when given none', () => {
    const { handlerView: _unused, ...config } = controllerConfig();
    const endpoint = new ControllerEndpoint(config, 0);
    endpoint.handle({ type: 'load-reports', reports: [report('h1', 0)] }, 0);
    expect(endpoint.handlers.nextExpiry()).toBe(2_500);
  });
});
