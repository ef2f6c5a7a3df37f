import { describe, expect, it } from 'vitest';
import { runScenario } from '../run.ts';
import { builtinScenario } from '../scenario/builtin.ts';
import type { Scenario } from '../scenario/schema.ts';

/** The first-frame stage's median (ms) over meetings of `size`, publishers' frames 1 s apart. */
function firstFrameMedian(size: number): number {
  const base = builtinScenario('loopback');
  if (base === undefined) throw new Error('no loopback scenario');
  const scenario: Scenario = {
    ...base,
    faults: [],
    serviceTimes: { ...base.serviceTimes, firstFrameMs: 1000 },
    workload: {
      ...base.workload,
      concurrentMeetings: 24,
      participants: { mean: size, min: size, max: size },
      joinSpreadSeconds: 4,
    },
    media: { ...base.media, handlerCapacityMbps: 10_000 },
  };
  const { report } = runScenario({ scenario, seed: 2, durationSeconds: 10 });
  const stage = report.joinStages.find((s) => s.stage === 'first frame')?.latency;
  if (stage === undefined || stage.count === 0) throw new Error('no first frames');
  return stage.p50Ms;
}

describe("a new member's first frame", () => {
  it('is the next frame of any publisher it receives, each at a phase of its own', () => {
    // Meetings of two: one publisher for each first frame, a uniform wait in the frame time
    // (median 500 ms). Meetings of six: a later joiner receives up to five publishers, and the
    // least of their waits comes sooner.
    const two = firstFrameMedian(2);
    const six = firstFrameMedian(6);
    expect(two).toBeGreaterThan(300);
    expect(two).toBeLessThan(700);
    expect(six).toBeLessThan(0.7 * two);
  });
});
