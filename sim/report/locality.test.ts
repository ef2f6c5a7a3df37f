import { describe, expect, it } from 'vitest';
import { builtinScenario } from '../scenario/builtin.ts';
import { runScenario } from '../run.ts';
import { LocalityLatency } from './metrics.ts';
import { summariseByLocality } from './summary.ts';

const ms = (n: number) => n * 1000;

describe('service levels by locality', () => {
  it('splits the default run by locality, each above its network floor, and explains its misses', () => {
    const scenario = builtinScenario('default');
    if (scenario === undefined) throw new Error('no default scenario');
    const { report } = runScenario({ scenario, seed: 1 });
    for (const level of [report.locality.joinToMedia, report.locality.signaling]) {
      for (const l of [level.sameRegion, level.crossRegion]) {
        expect(l.count).toBeGreaterThan(0);
        // Every sample is at least its own floor, so its p99 is at least the floors' p99.
        expect(l.p99Ms).toBeGreaterThanOrEqual(l.floorP99Ms);
        expect(l.floorP99Ms).toBeGreaterThan(0);
      }
      expect(level.crossRegion.floorP99Ms).toBeGreaterThan(level.sameRegion.floorP99Ms);
    }
    expect(
      report.locality.joinToMedia.sameRegion.count + report.locality.joinToMedia.crossRegion.count,
    ).toBe(report.latency.joinToMedia.count);
    expect(
      report.locality.signaling.sameRegion.count + report.locality.signaling.crossRegion.count,
    ).toBe(report.latency.signaling.count);
    expect(report.latency.signaling.met).toBe(false);
    expect(report.locality.signaling.explanation).toMatch(
      /^signaling misses p99 < 100 ms: cross-region/,
    );
  });

  it('breaks every join-to-media sample into its stages', () => {
    const scenario = builtinScenario('default');
    if (scenario === undefined) throw new Error('no default scenario');
    const { report } = runScenario({ scenario, seed: 1, durationSeconds: 30 });
    const stages = Object.fromEntries(report.joinStages.map((s) => [s.stage, s.latency]));
    const joins = report.latency.joinToMedia.count;
    expect(Object.keys(stages)).toEqual([
      'token',
      'meeting info',
      'join at controller',
      'media session',
      'first frame',
    ]);
    expect(joins).toBeGreaterThan(0);
    for (const stage of ['join at controller', 'media session', 'first frame'])
      expect(stages[stage]?.count).toBe(joins);
    // A reconnect keeps its token and controller: those stages can have fewer samples.
    expect(stages['token']?.count).toBeLessThanOrEqual(joins);
    // No stage takes longer than the whole join.
    for (const s of report.joinStages)
      expect(s.latency.maxMs).toBeLessThanOrEqual(report.latency.joinToMedia.maxMs);
  });

  it('calls a miss physics when the floor alone is over the target, design otherwise', () => {
    const level = new LocalityLatency();
    for (let i = 0; i < 100; i++) {
      level.record(ms(150), ms(40), false);
      level.record(ms(300), ms(180), true);
    }
    const summary = summariseByLocality('signaling', level, 100);
    expect(summary.sameRegion).toMatchObject({ count: 100, p99Ms: 150, floorP99Ms: 40 });
    expect(summary.explanation).toBe(
      "signaling misses p99 < 100 ms: same-region p99 150.0 ms against a network floor of 40.0 ms (design: 110.0 ms above it); cross-region p99 300.0 ms: the network's floor alone is 180.0 ms (physics)",
    );
    const met = new LocalityLatency();
    met.record(ms(50), ms(20), false);
    expect(summariseByLocality('signaling', met, 100).explanation).toBeNull();
  });
});
