import { describe, expect, it } from 'vitest';
import { meetingId, type MeetingId } from '../ids.ts';
import { ControllerEndpoint, type ControllerOutput } from './endpoint.ts';
import type { MeetingInput, MeetingOutput } from './meeting.ts';
import {
  REGION,
  TEST_TIMING,
  TEST_VIEW_POLICY,
  controllerConfig,
  joinInput,
  p,
  report,
} from './testing.ts';

const QUIET = 1_000_000_000;

function drainEndpoint(endpoint: ControllerEndpoint): ControllerOutput[] {
  const out: ControllerOutput[] = [];
  for (let o = endpoint.pollOutput(); o !== null; o = endpoint.pollOutput()) out.push(o);
  return out;
}

function toMeeting(
  endpoint: ControllerEndpoint,
  meeting: MeetingId,
  input: MeetingInput,
  now: number,
): MeetingOutput[] {
  endpoint.handle({ type: 'meeting', meeting, meetingRegion: REGION, input }, now);
  return drainEndpoint(endpoint).flatMap((o) => (o.type === 'meeting' ? [o.output] : []));
}

/** An endpoint whose heartbeats and handler silence never come due, with h1 known. */
function quietEndpoint(): ControllerEndpoint {
  const endpoint = new ControllerEndpoint(
    controllerConfig({
      heartbeatIntervalMs: QUIET,
      handlerView: { reportIntervalMs: 1_000, detectionMs: QUIET },
    }),
    0,
  );
  endpoint.handle({ type: 'load-reports', reports: [report('h1', 0)] }, 0);
  endpoint.handleTimeout(0);
  drainEndpoint(endpoint);
  return endpoint;
}

function resentKeys(out: readonly ControllerOutput[]): MeetingId[] {
  return out.flatMap((o) =>
    o.type === 'meeting' && o.output.type === 'key' && o.output.resend ? [o.meeting.id] : [],
  );
}

describe('ControllerEndpoint settings', () => {
  it('loses handlers after the silence its handler view policy sets', () => {
    const endpoint = new ControllerEndpoint(
      controllerConfig({ handlerView: { reportIntervalMs: 1_000, detectionMs: 7_000 } }),
      0,
    );
    endpoint.handle({ type: 'load-reports', reports: [report('h1', 100)] }, 100);
    expect(endpoint.handlers.nextExpiry()).toBe(7_100);
    endpoint.handleTimeout(7_099);
    expect(endpoint.handlers.isHealthy(report('h1', 0).handlerId)).toBe(true);
  });
});

describe('ControllerEndpoint timeout', () => {
  it('is the next heartbeat when handler silence and meeting deadlines come later', () => {
    const endpoint = new ControllerEndpoint(controllerConfig({ heartbeatIntervalMs: 1_000 }), 0);
    endpoint.handle({ type: 'load-reports', reports: [report('h1', 0)] }, 0);
    toMeeting(endpoint, meetingId('m1'), joinInput('a'), 0);
    endpoint.handleTimeout(0);
    drainEndpoint(endpoint);
    // The key resend is due at keyRetryMs, handler silence at detectionMs: both after 1 000.
    expect(endpoint.meeting(meetingId('m1'))?.pollTimeout()).toBe(TEST_TIMING.keyRetryMs);
    expect(endpoint.handlers.nextExpiry()).toBe(TEST_VIEW_POLICY.detectionMs);
    expect(endpoint.pollTimeout()).toBe(1_000);
  });

  it('still wakes a meeting whose deadline moved later', () => {
    const endpoint = quietEndpoint();
    const m1 = meetingId('m1');
    toMeeting(endpoint, m1, joinInput('a'), 0);
    expect(endpoint.pollTimeout()).toBe(TEST_TIMING.keyRetryMs);
    toMeeting(endpoint, m1, { type: 'key-ack', participant: p('a'), epoch: 0 }, 10);
    // Nothing left to resend: the next deadline is the member's session expiry.
    expect(endpoint.pollTimeout()).toBe(TEST_TIMING.sessionTtlMs);
    endpoint.handleTimeout(TEST_TIMING.sessionTtlMs);
    expect(drainEndpoint(endpoint)).toContainEqual({
      type: 'meeting',
      meeting: endpoint.meeting(m1),
      output: { type: 'member-expired', participant: p('a') },
    });
  });

  it('fires meetings due at the same time in the order their deadlines were filed', () => {
    const endpoint = quietEndpoint();
    const ids = [3, 0, 4, 1, 2].map((i) => meetingId(`m${i}`));
    for (const id of ids) toMeeting(endpoint, id, joinInput('a'), 0);
    endpoint.handleTimeout(TEST_TIMING.keyRetryMs);
    expect(resentKeys(drainEndpoint(endpoint))).toEqual(ids);
  });

  it('fires many meetings’ deadlines in time order', () => {
    const endpoint = quietEndpoint();
    // Joins at scrambled times: each meeting's first deadline is its join plus keyRetryMs.
    const joins = Array.from({ length: 40 }, (_, i) => (i * 37) % 41);
    joins.forEach((at, i) => toMeeting(endpoint, meetingId(`m${i}`), joinInput('a'), at));
    const fired: number[] = [];
    for (let round = 0; round < joins.length; round++) {
      const deadline = endpoint.pollTimeout() as number;
      endpoint.handleTimeout(deadline);
      for (const _ of resentKeys(drainEndpoint(endpoint))) fired.push(deadline);
    }
    expect(fired).toEqual(joins.map((at) => at + TEST_TIMING.keyRetryMs).sort((x, y) => x - y));
  });
});
