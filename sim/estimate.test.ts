import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RandomStreams } from './engine/random.ts';
import { builtinScenario } from './scenario/builtin.ts';
import { scenarioSchema, type Scenario, type ScenarioInput } from './scenario/schema.ts';
import { drawMeetingSize } from './world/workload.ts';
import {
  determinismCheck,
  estimateRun,
  expectedMeetingSize,
  inSequence,
  judgeRun,
  LARGE_RUN,
  MAX_CPU_SECONDS,
  type MachineLimits,
} from './estimate.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
/** The machine the constants were measured on, as Node reports it. */
const machine: MachineLimits = { totalMemoryBytes: 23.5 * GiB, heapLimitBytes: 4.375 * GiB };

const builtin = (name: string): Scenario => builtinScenario(name) as Scenario;
const variant = (name: string, change: (input: ScenarioInput) => ScenarioInput): Scenario => {
  const base = builtin(name);
  return scenarioSchema.parse(change(base as ScenarioInput));
};
const regions = (controllers: number, handlers: number) =>
  ['us-west-1', 'us-east-1', 'eu-west-1'].map((name) => ({
    name,
    meetingControllers: controllers,
    mediaHandlers: handlers,
  }));

describe('meeting size', () => {
  it.each([
    { mean: 6, min: 2, max: 16 },
    { mean: 10, min: 2, max: 40 },
    { mean: 3, min: 2, max: 6 },
    { mean: 70, min: 40, max: 120 },
  ])('matches the mean of the sizes the workload draws for %o', (participants) => {
    const random = new RandomStreams(1).stream('test/sizes');
    let total = 0;
    const draws = 20_000;
    for (let i = 0; i < draws; i++) total += drawMeetingSize(random, participants);
    expect(expectedMeetingSize(participants)).toBeCloseTo(total / draws, 0);
  });

  it('property: lies between the minimum and both the mean and the maximum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (min, spread, at) => {
          const max = min + spread;
          const mean = min + at * spread;
          const size = expectedMeetingSize({ mean, min, max });
          expect(size).toBeGreaterThanOrEqual(min);
          expect(size).toBeLessThanOrEqual(mean + 1e-9);
        },
      ),
    );
  });
});

describe('run estimate', () => {
  // Peak resident memory and CPU time measured for these runs (see RUN_COST): the memory
  // estimate stays above each and within 1.6 times it, the CPU estimate within a factor of 2.
  it.each([
    ['baseline, 120 s', builtin('baseline'), 120, 554, 15.1],
    ['baseline, 300 s', builtin('baseline'), 300, 603, 35.9],
    [
      'baseline with 3,000 meetings, 60 s',
      variant('baseline', (s) => ({
        ...s,
        regions: regions(4, 30),
        workload: { ...s.workload, concurrentMeetings: 3000 },
      })),
      60,
      910,
      53.1,
    ],
    [
      '8,000 meetings of 2-6 in speaker view, 45 s',
      variant('baseline', (s) => ({
        ...s,
        regions: regions(4, 10),
        workload: {
          ...s.workload,
          concurrentMeetings: 8000,
          participants: { mean: 3, min: 2, max: 6 },
          layouts: { speaker: 1 },
        },
      })),
      45,
      696,
      23.6,
    ],
  ])('matches the measured memory and CPU time of %s', (_, scenario, duration, rssMiB, cpu) => {
    const estimate = estimateRun(scenario, duration);
    expect(estimate.memoryBytes).toBeGreaterThan(rssMiB * MiB);
    expect(estimate.memoryBytes).toBeLessThan(1.6 * rssMiB * MiB);
    expect(estimate.cpuSeconds).toBeGreaterThan(cpu / 2);
    expect(estimate.cpuSeconds).toBeLessThan(cpu * 2);
  });

  it('counts the joins of the meetings a run starts', () => {
    // Measured: 10,598 joins in 120 s of the baseline.
    const joins = estimateRun(builtin('baseline'), 120).joins;
    expect(joins).toBeGreaterThan(10_000);
    expect(joins).toBeLessThan(12_000);
  });

  it('property: more meetings, participants, time or packets never cost less', () => {
    const base = builtin('default');
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50_000 }),
        fc.integer({ min: 1, max: 50_000 }),
        fc.integer({ min: 2, max: 500 }),
        fc.double({ min: 1, max: 86_400, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (a, b, size, duration, sample) => {
          const at = (meetings: number) =>
            estimateRun(
              {
                ...base,
                workload: {
                  ...base.workload,
                  concurrentMeetings: meetings,
                  participants: { min: 2, mean: size, max: size },
                },
                media: { ...base.media, packetSample: sample },
              },
              duration,
            );
          const [small, large] = a <= b ? [at(a), at(b)] : [at(b), at(a)];
          expect(large.memoryBytes).toBeGreaterThanOrEqual(small.memoryBytes);
          expect(large.cpuSeconds).toBeGreaterThanOrEqual(small.cpuSeconds);
          expect(estimateRun(base, duration * 2).cpuSeconds).toBeGreaterThan(
            estimateRun(base, duration).cpuSeconds,
          );
        },
      ),
      { numRuns: 50 },
    );
  });

  it('adds swarm runs one after another and doubles a determinism check', () => {
    const one = estimateRun(builtin('default'));
    const swarm = inSequence([one, one, one]);
    expect(swarm.memoryBytes).toBe(one.memoryBytes);
    expect(swarm.cpuSeconds).toBeCloseTo(3 * one.cpuSeconds);
    const check = determinismCheck(one, 1000);
    expect(check.memoryBytes).toBeGreaterThan(2 * one.memoryBytes);
    expect(check.cpuSeconds).toBeCloseTo(2 * one.cpuSeconds);
  });
});

describe('whether a run fits the machine', () => {
  const meetings = (count: number) => {
    const base = builtin('baseline');
    return { ...base, workload: { ...base.workload, concurrentMeetings: count } };
  };

  it('lets the default scenario run without a word and calls the baseline day large', () => {
    expect(judgeRun(estimateRun(builtin('default')), machine).kind).toBe('small');
    expect(judgeRun(estimateRun(builtin('baseline'), 86_400), machine).kind).toBe('large');
    expect(LARGE_RUN.cpuSeconds).toBeGreaterThan(estimateRun(builtin('default')).cpuSeconds);
  });

  it('refuses 10 million meetings, and 100,000 meetings of 10, as more than 70 % of memory', () => {
    for (const count of [10_000_000, 100_000]) {
      const verdict = judgeRun(estimateRun(meetings(count)), machine);
      expect(verdict.kind).toBe('too-large');
      if (verdict.kind === 'too-large')
        expect(verdict.reason).toMatch(/more than 70 % of this machine's 23.5 GiB/);
    }
  });

  it('refuses what would pass the Node heap limit and names the option that raises it', () => {
    const verdict = judgeRun(estimateRun(meetings(20_000)), machine);
    expect(verdict.kind).toBe('too-large');
    if (verdict.kind === 'too-large') {
      expect(verdict.reason).toMatch(/more than Node's heap limit of 4.4 GiB/);
      expect(verdict.reason).toMatch(/NODE_OPTIONS=--max-old-space-size=\d+/);
    }
    const roomy = { ...machine, heapLimitBytes: 16 * GiB };
    expect(judgeRun(estimateRun(meetings(20_000)), roomy).kind).toBe('large');
  });

  it('refuses a run of more CPU time than the machine gives one', () => {
    const verdict = judgeRun(
      {
        peakParticipants: 1,
        peakStreams: 1,
        joins: 1,
        memoryBytes: 1,
        cpuSeconds: MAX_CPU_SECONDS + 1,
      },
      machine,
    );
    expect(verdict.kind).toBe('too-large');
    if (verdict.kind === 'too-large')
      expect(verdict.reason).toMatch(/of CPU time, more than the 24.0 h/);
  });
});
