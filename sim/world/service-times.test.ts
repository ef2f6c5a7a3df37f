import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../run.ts';
import { builtinScenario } from '../scenario/builtin.ts';
import type { Scenario } from '../scenario/schema.ts';
import { queued } from './messaging.ts';
import { quantileOf } from './service-times.ts';
import type { World } from './world.ts';

/** A cumulative distribution: increasing bounds and fractions, the last fraction 1. */
const distribution = fc
  .array(
    fc.tuple(
      fc.double({ min: 0.001, max: 5, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
    ),
    {
      minLength: 1,
      maxLength: 12,
    },
  )
  .map((pairs) => {
    const bounds = pairs.map((p) => p[0]).sort((a, b) => a - b);
    const fractions = pairs.map((p) => p[1]).sort((a, b) => a - b);
    fractions[fractions.length - 1] = 1;
    return bounds.map((upToMs, i) => ({ upToMs, fraction: fractions[i] as number }));
  });

describe('a calibrated distribution of service times', () => {
  it('gives values in its range, increasing with the fraction', () => {
    fc.assert(
      fc.property(
        distribution,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (steps, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          const last = steps[steps.length - 1]?.upToMs ?? 0;
          const x = quantileOf(steps, low);
          const y = quantileOf(steps, high);
          expect(x).toBeGreaterThanOrEqual(0);
          expect(y).toBeLessThanOrEqual(last);
          expect(x).toBeLessThanOrEqual(y + 1e-12);
        },
      ),
    );
  });

  it('never gives a value past the top of a step, rounding included', () => {
    const steps = [
      { upToMs: 0.0056210390352431465, fraction: 0 },
      { upToMs: 0.048019512012960806, fraction: 1 },
    ];
    expect(quantileOf(steps, 1)).toBeLessThanOrEqual(0.048019512012960806);
  });

  it('puts each step’s fraction of the values at or below its bound', () => {
    const steps = [
      { upToMs: 0.025, fraction: 0.1 },
      { upToMs: 0.05, fraction: 0.9 },
      { upToMs: 0.25, fraction: 1 },
    ];
    expect(quantileOf(steps, 0.05)).toBeCloseTo(0.0125, 9);
    expect(quantileOf(steps, 0.1)).toBeCloseTo(0.025, 9);
    expect(quantileOf(steps, 0.5)).toBeCloseTo(0.0375, 9);
    expect(quantileOf(steps, 0.95)).toBeCloseTo(0.15, 9);
    expect(quantileOf(steps, 1)).toBeCloseTo(0.25, 9);
  });
});

describe('queueing at a service process', () => {
  const world = (queueing: boolean | undefined) =>
    ({
      scenario: { serviceTimes: queueing === undefined ? {} : { queueing } },
      sim: { now: 1_000 },
      busyUntil: new Map<string, number>(),
    }) as unknown as World;
  const node = { id: 'mc-1' } as Parameters<typeof queued>[1];

  it('serves requests that arrive together one after the other', () => {
    const w = world(true);
    expect(queued(w, node, 100, 500)).toBe(500);
    expect(queued(w, node, 100, 500)).toBe(1_000);
    // One arriving after the others are done waits for nothing.
    expect(queued(w, node, 5_000, 500)).toBe(500);
    // Another process has its own queue.
    expect(queued(w, { id: 'mh-1' } as typeof node, 100, 500)).toBe(500);
  });

  it('serves every request at once without the model', () => {
    for (const w of [world(undefined), world(false)]) {
      expect(queued(w, node, 100, 500)).toBe(500);
      expect(queued(w, node, 100, 500)).toBe(500);
    }
  });
});

describe('connection handshakes and loss notice', () => {
  const base = builtinScenario('loopback') as Scenario;
  const run = (extra: Partial<Scenario['serviceTimes']>) => {
    const { report } = runScenario({
      scenario: { ...base, serviceTimes: { ...base.serviceTimes, ...extra } },
      seed: 1,
      durationSeconds: 12,
    });
    const p50 = (stage: string) =>
      report.joinStages.find((s) => s.stage === stage)?.latency.p50Ms ?? NaN;
    return { report, p50 };
  };
  // Loopback: 50 us access + 50 us in the region, a 0.2 ms round trip client to service.
  const rtt = 2 * (base.network.clientAccessMs + base.network.intraRegionMs);
  const plain = run({});

  it("adds the signaling connection's round trips and CPU before the join request", () => {
    const opened = run({ signalingConnect: { roundTrips: 2, cpuMs: 1.5 } });
    expect(opened.p50('join at controller') - plain.p50('join at controller')).toBeCloseTo(
      2 * rtt + 1.5,
      2,
    );
    expect(opened.p50('media session')).toBeCloseTo(plain.p50('media session'), 2);
  });

  it("adds the media transport's handshake round trips before the hello", () => {
    const shaken = run({ mediaHandshakeRoundTrips: 2 });
    expect(shaken.p50('media session') - plain.p50('media session')).toBeCloseTo(2 * rtt, 2);
    expect(shaken.p50('join at controller')).toBeCloseTo(plain.p50('join at controller'), 2);
  });

  it('runs the same without queueing as with it unset', () => {
    expect(run({ queueing: false }).report.traceHash).toBe(plain.report.traceHash);
  });
});
