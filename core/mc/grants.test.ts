import { describe, expect, it } from 'vitest';
import { handlerId } from '../ids.ts';
import { Forwarder } from '../mh/forwarder.ts';
import type { MhOutput } from '../mh/types.ts';
import { DEFAULT_MEETING_TIMING, holds } from './meeting.ts';
import {
  drain,
  h,
  joinInput,
  joinSettled,
  newMeeting,
  ofType,
  p,
  REGION,
  twoRegionMeeting,
} from './testing.ts';

function outputsOf(forwarder: Forwarder): MhOutput[] {
  const out: MhOutput[] = [];
  for (let o = forwarder.pollOutput(); o !== null; o = forwarder.pollOutput()) out.push(o);
  return out;
}

describe('MeetingMachine connection grants', () => {
  it('grants a joining member a token for its home handler that the handler accepts once', () => {
    const { machine } = newMeeting(['h1']);
    machine.handle(joinInput('a'), 1_000);
    const [accepted] = ofType(drain(machine), 'join-accepted');
    expect(accepted?.token).toEqual({
      meeting: machine.id,
      participant: p('a'),
      handler: h('h1'),
      issuedAtMs: 1_000,
      expiresAtMs: 1_000 + DEFAULT_MEETING_TIMING.connectionTokenTtlMs,
    });
    const forwarder = new Forwarder({ handler: h('h1'), region: REGION, capacityBps: 1e9 });
    const claims = { ...accepted!.token, nonce: 'n1' };
    forwarder.handle({ type: 'session-open', connection: 1, claims }, 1_010);
    forwarder.handle({ type: 'session-open', connection: 2, claims }, 1_020);
    expect(outputsOf(forwarder).map((o) => o.type)).toEqual([
      'session-accepted',
      'session-rejected',
    ]);
    // Another handler refuses it.
    const other = new Forwarder({ handler: h('h2'), region: REGION, capacityBps: 1e9 });
    other.handle(
      { type: 'session-open', connection: 1, claims: { ...claims, nonce: 'n2' } },
      1_010,
    );
    expect(outputsOf(other)).toEqual([
      { type: 'session-rejected', connection: 1, reason: 'wrong-handler', retryAfterMs: null },
    ]);
  });

  it('grants a member a token for the handler it was redirected to, while that handler is healthy', () => {
    const { machine, view } = newMeeting(['h1', 'h2']);
    joinSettled(machine, ['a'], 0);
    machine.handle({ type: 'token-request', participant: p('a'), handler: h('h2') }, 70);
    expect(drain(machine)).toContainEqual({
      type: 'connection-token',
      token: {
        meeting: machine.id,
        participant: p('a'),
        handler: h('h2'),
        issuedAtMs: 70,
        expiresAtMs: 70 + DEFAULT_MEETING_TIMING.connectionTokenTtlMs,
      },
    });
    view.lose(h('h2'));
    machine.handle({ type: 'token-request', participant: p('a'), handler: h('h2') }, 80);
    expect(ofType(drain(machine), 'token-refused')).toEqual([
      {
        type: 'token-refused',
        participant: p('a'),
        handler: h('h2'),
        reason: 'handler-unavailable',
      },
    ]);
    machine.handle({ type: 'token-request', participant: p('z'), handler: h('h1') }, 90);
    expect(ofType(drain(machine), 'token-refused')).toEqual([
      { type: 'token-refused', participant: p('z'), handler: h('h1'), reason: 'not-a-member' },
    ]);
  });

  it('sends a cascade leg to both of its ends, and every other leg to its one handler', () => {
    const { outputs: all } = twoRegionMeeting();
    const commands = ofType(all, 'route-command');
    const cascades = commands.flatMap((c) =>
      c.steps.filter((s) => s.route.type === 'cascade').map((s) => ({ c, s })),
    );
    expect(cascades.length).toBeGreaterThan(0);
    for (const { c, s } of commands.flatMap((c) => c.steps.map((s) => ({ c, s }))))
      expect(holds(c.handler, s.route)).toBe(true);
    // Each cascade step went to its sender and to its receiver.
    for (const { s } of cascades) {
      const route = s.route;
      if (route.type !== 'cascade') continue;
      const to = commands.filter((c) => c.steps.includes(s)).map((c) => c.handler);
      expect(to.sort()).toEqual([route.from, route.to].sort());
    }
    expect(holds(handlerId('elsewhere'), cascades[0]!.s.route)).toBe(false);
  });
});
