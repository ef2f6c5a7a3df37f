import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../run.ts';
import { builtinScenario } from '../scenario/builtin.ts';
import type { Scenario } from '../scenario/schema.ts';
import { queued } from './messaging.ts';
import { quantileByLoad, quantileOf } from './service-times.ts';
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

describe('the forwarding time by handler load', () => {
  /** Distributions at increasing utilisations. */
  const points = fc
    .array(fc.tuple(fc.double({ min: 0, max: 2, noNaN: true }), distribution), {
      minLength: 1,
      maxLength: 5,
    })
    .map((pairs) => {
      const sorted = [...pairs].sort((a, b) => a[0] - b[0]);
      return sorted
        .filter((p, i) => i === 0 || p[0] > (sorted[i - 1] as (typeof sorted)[number])[0])
        .map(([utilisation, steps]) => ({ utilisation, distribution: steps }));
    });

  it('gives each measured load its own distribution, the nearest outside them', () => {
    fc.assert(
      fc.property(points, fc.double({ min: 0, max: 1, noNaN: true }), (at, u) => {
        for (const p of at)
          expect(quantileByLoad(at, p.utilisation, u)).toBe(quantileOf(p.distribution, u));
        const first = at[0] as (typeof at)[number];
        const last = at[at.length - 1] as (typeof at)[number];
        expect(quantileByLoad(at, first.utilisation - 0.5, u)).toBe(
          quantileOf(first.distribution, u),
        );
        expect(quantileByLoad(at, last.utilisation + 0.5, u)).toBe(
          quantileOf(last.distribution, u),
        );
      }),
    );
  });

  it('lies between the two measured loads around it, linear in utilisation', () => {
    fc.assert(
      fc.property(
        points.filter((at) => at.length >= 2),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (at, u, share) => {
          for (let i = 1; i < at.length; i++) {
            const below = at[i - 1] as (typeof at)[number];
            const above = at[i] as (typeof at)[number];
            const utilisation = below.utilisation + share * (above.utilisation - below.utilisation);
            const from = quantileOf(below.distribution, u);
            const to = quantileOf(above.distribution, u);
            expect(quantileByLoad(at, utilisation, u)).toBeCloseTo(from + share * (to - from), 9);
          }
        },
      ),
    );
  });

  it('increases with the fraction at any load', () => {
    fc.assert(
      fc.property(
        points,
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (at, utilisation, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(quantileByLoad(at, utilisation, low)).toBeLessThanOrEqual(
            quantileByLoad(at, utilisation, high) + 1e-12,
          );
        },
      ),
    );
  });

  it("draws each datagram at its handler's load in a run", () => {
    // The built-in loopback scenario's two handlers rise to 31 % of capacity each as the
    // meetings start: a slow distribution measured at 70 % and a fast one at 80 % give every
    // datagram the slow one (every handler is below both); measured at 1 % and 2 %, the fast
    // one. (compare-rows.test.ts tells two handlers at different loads apart.)
    const constant = (ms: number) => [
      { upToMs: ms, fraction: 0 },
      { upToMs: ms, fraction: 1 },
    ];
    const run = (low: number, high: number) => {
      const base = builtinScenario('loopback') as Scenario;
      const scenario: Scenario = {
        ...base,
        durationSeconds: 10,
        media: { ...base.media, packetSample: 1 },
        serviceTimes: {
          ...base.serviceTimes,
          forwardingByLoad: [
            { utilisation: low, distribution: constant(0.2) },
            { utilisation: high, distribution: constant(0.01) },
          ],
        },
      };
      return runScenario({ scenario, seed: 1 }).report.latency.forwarding;
    };
    const below = run(0.7, 0.8);
    const above = run(0.01, 0.02);
    expect(below.count).toBeGreaterThan(1_000);
    expect(below.p50Ms).toBeCloseTo(0.2, 2);
    expect(above.p99Ms).toBeCloseTo(0.01, 2);
    // Measured at 0 % and 100 %: the handlers' loads (up to 31 %) put the draws in between.
    const between = run(0, 1);
    expect(between.p50Ms).toBeGreaterThan(0.06);
    expect(between.p50Ms).toBeLessThan(0.19);
  });
});

describe("the join steps' spread", () => {
  const run = (spread?: Scenario['serviceTimes']['serviceTimeSpread']) => {
    const base = builtinScenario('loopback') as Scenario;
    const scenario: Scenario = {
      ...base,
      durationSeconds: 10,
      workload: { ...base.workload, concurrentMeetings: 12 },
      media: { ...base.media, streamKbps: 50 },
      serviceTimes: {
        ...base.serviceTimes,
        joinProcessingMs: 2,
        meetingLookupMs: 2,
        ...(spread === undefined ? {} : { serviceTimeSpread: spread }),
      },
    };
    const report = runScenario({ scenario, seed: 1 }).report;
    const stage = (name: string) => report.joinStages.find((s) => s.stage === name)?.latency;
    return { controller: stage('join at controller'), lookup: stage('meeting info') };
  };

  it("draws each request of a join step as its constant times a factor from the step's spread", () => {
    // Nine requests in ten at the constant, one in ten at ten times it.
    const tenth = [
      { factor: 1, fraction: 0 },
      { factor: 1, fraction: 0.9 },
      { factor: 10, fraction: 0.9 },
      { factor: 10, fraction: 1 },
    ];
    const without = run();
    const spread = run({ meetingLookup: tenth, joinProcessing: tenth });
    expect(spread.controller?.count).toBeGreaterThan(30);
    // The median request is the constant's; the slowest tenth take ten times as long.
    expect(spread.controller?.p50Ms).toBeCloseTo(without.controller?.p50Ms ?? NaN, 1);
    expect(spread.lookup?.p50Ms).toBeCloseTo(without.lookup?.p50Ms ?? NaN, 1);
    expect(spread.controller?.p99Ms).toBeGreaterThan(15);
    expect(spread.lookup?.p99Ms).toBeGreaterThan(15);
    expect(without.controller?.p99Ms).toBeLessThan(5);
    // Every request at twice its constant: twice the lookup.
    const double = [
      { factor: 2, fraction: 0 },
      { factor: 2, fraction: 1 },
    ];
    const twice = run({ meetingLookup: double });
    expect(twice.lookup?.p50Ms).toBeCloseTo(2 * (without.lookup?.p50Ms ?? NaN) - 0.2, 1);
    // Each step draws from its own: the lookup's spread leaves the join's time alone.
    expect(twice.controller?.p50Ms).toBeCloseTo(without.controller?.p50Ms ?? NaN, 1);
    expect(run({ joinProcessing: tenth }).lookup?.p99Ms).toBeLessThan(5);
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
