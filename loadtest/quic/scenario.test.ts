import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  describeLoadScenarioError,
  firstHandlerOf,
  LOAD_BOUNDS,
  loadPlanFrom,
  meetingStartSeconds,
} from './scenario.ts';

const file = (name: string) =>
  parse(readFileSync(new URL(`./scenarios/${name}.yaml`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

describe('load scenarios', () => {
  it('derive the run from the simulator fields: basic', () => {
    const plan = loadPlanFrom(file('basic'));
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(plan.value).toMatchObject({
      meetings: 4,
      participantsPerMeeting: 4,
      publishersPerMeeting: 4,
      handlers: 2,
      datagramsPerSecond: 50,
      datagramBytes: 1_200,
      capacityBps: 50_000_000,
      rampSeconds: 4,
      placement: 'round-robin',
    });
    // 16 streams in and out of a meeting's handler: 4 in, 12 out, 480 kbit/s each.
    expect(plan.value.expected.utilisationPerMeeting).toBeCloseTo((16 * 480_000) / 50e6);
    expect(plan.value.expected.datagramsOutPerSecond).toBe(4 * 4 * 3 * 50);
    expect(firstHandlerOf(plan.value, 3)).toBe(1);
    expect(meetingStartSeconds(plan.value, 2)).toBe(2);
  });

  it('every shipped scenario is valid and fits the bounds', () => {
    for (const name of ['basic', 'overload', 'smoke']) {
      const plan = loadPlanFrom(file(name));
      expect(plan.ok, name).toBe(true);
    }
    const overload = loadPlanFrom(file('overload'));
    // The overload run's premise: three meetings take a handler past 80 %.
    if (overload.ok) {
      expect(overload.value.expected.utilisationPerMeeting * 2).toBeLessThan(0.8);
      expect(overload.value.expected.utilisationPerMeeting * 3).toBeGreaterThan(0.8);
      expect(firstHandlerOf(overload.value, 5)).toBe(0);
    }
  });

  it('refuse a run too large for the machine, naming every bound it passes', () => {
    const big = file('basic');
    big.durationSeconds = 600;
    big.workload = {
      ...(big.workload as object),
      concurrentMeetings: 100,
      participants: { mean: 10, min: 10, max: 10 },
    };
    const plan = loadPlanFrom(big);
    expect(plan.ok).toBe(false);
    if (plan.ok) return;
    expect(plan.error.kind).toBe('too-large');
    const message = describeLoadScenarioError('big.yaml', plan.error);
    expect(message).toContain(
      `durationSeconds 600 is above the bound ${LOAD_BOUNDS.durationSeconds}`,
    );
    expect(message).toContain(`participants 1000 is above the bound ${LOAD_BOUNDS.participants}`);
    expect(message).toContain('datagrams out per second');
  });

  it('name every invalid field, the simulator schema and the load section alike', () => {
    const bad = file('basic');
    bad.load = { placement: 'random', extra: 1 };
    bad.workload = { ...(bad.workload as object), participants: { mean: 4, min: 2, max: 6 } };
    bad.media = { streamKbps: 8, packetsPerSecond: 50 };
    const plan = loadPlanFrom(bad);
    expect(plan.ok).toBe(false);
    if (plan.ok || plan.error.kind !== 'invalid') return;
    const paths = plan.error.issues.map((i) => i.path);
    expect(paths).toContain('load.placement');
    expect(paths).toContain('load');
    // The load section's problems are found with the simulator's: the fixed size and datagram
    // size are checked once the file parses.
    const fixed = file('basic');
    fixed.workload = { ...(fixed.workload as object), participants: { mean: 4, min: 2, max: 6 } };
    fixed.media = { streamKbps: 8, packetsPerSecond: 50 };
    const second = loadPlanFrom(fixed);
    expect(second.ok).toBe(false);
    if (second.ok || second.error.kind !== 'invalid') return;
    expect(second.error.issues.map((i) => i.path)).toEqual([
      'workload.participants',
      'media.streamKbps',
    ]);
    expect(loadPlanFrom([1, 2]).ok).toBe(false);
  });

  it('refuse more publishers than members and a region count other than one', () => {
    const bad = file('smoke');
    bad.load = { publishersPerMeeting: 9 };
    bad.regions = [
      { name: 'a', mediaHandlers: 1 },
      { name: 'b', mediaHandlers: 1 },
    ];
    bad.network = { ...(bad.network as object), rttMs: { a: { b: 1 } } };
    const plan = loadPlanFrom(bad);
    expect(
      !plan.ok && plan.error.kind === 'invalid' && plan.error.issues.map((i) => i.path),
    ).toEqual(['regions', 'load.publishersPerMeeting']);
  });
});
