import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runScenario } from '../../sim/run.ts';
import { comparisonRows, mergeBuckets, renderComparisonRows } from './compare-rows.ts';
import type { LoadResult } from './load.ts';
import { loadPlanFrom } from './scenario.ts';

const plan = (() => {
  const read = loadPlanFrom(
    parse(readFileSync(new URL('./scenarios/basic.yaml', import.meta.url), 'utf8')),
  );
  if (!read.ok) throw new Error('basic scenario');
  return read.value;
})();
const predicted = runScenario({ scenario: plan.scenario, seed: 1 }).report;

/** The parts of a load result the comparison reads. */
function measured(options: { forwardingUs: number; utilisation: number; e2eUs: number }) {
  const bound = options.forwardingUs / 1e6;
  return {
    handlers: [
      {
        forwardingBuckets: { bounds: [bound, Infinity], cumulative: [100, 100] },
        utilisation: { meanPercent: options.utilisation, maxPercent: options.utilisation },
      },
    ],
    endToEndLatencyUs: { count: 10, p50: options.e2eUs, p99: options.e2eUs },
    sessions: {
      accepted: predicted.joins.admitted,
      redirectsFollowed: 0,
      redirectedMidMeeting: 0,
      refused: {},
    },
  } as unknown as LoadResult;
}

describe('predicted vs measured', () => {
  it('explains a difference over 10 % by the model parameter behind it, and not one within', () => {
    const rows = comparisonRows(
      plan,
      predicted,
      measured({
        forwardingUs: 5,
        utilisation: predicted.utilisation.meanPercent * 1.05,
        e2eUs: predicted.latency.mediaPath.p50Ms * 1000,
      }),
    );
    const row = (name: string) => rows.find((r) => r.name === name);
    expect(predicted.latency.forwarding.p50Ms).toBe(plan.scenario.serviceTimes.forwardingMs);
    expect(row('forwarding latency p50')?.measured).toBeCloseTo(0.0025, 6);
    expect(row('forwarding latency p50')?.differencePercent).toBeLessThan(-10);
    expect(row('forwarding latency p50')?.explanation).toContain('serviceTimes.forwardingMs');
    expect(row('handler utilisation mean')?.differencePercent).toBeCloseTo(5, 0);
    expect(row('handler utilisation mean')?.explanation).toBeNull();
    expect(row('media path (end to end) p50')?.explanation).toBeNull();
    expect(row('sessions admitted')?.differencePercent).toBe(0);
    expect(row('join-to-media p99')).toMatchObject({ measured: null, differencePercent: null });
    expect(row('join-to-media p99')?.explanation).toContain('Meeting Controller');
    const text = renderComparisonRows('basic', rows);
    expect(text).toContain('forwarding latency p50');
    expect(text).toMatch(/\[1\] serviceTimes\.forwardingMs/);
  });

  it('puts a utilisation difference on admission when the two admitted different numbers', () => {
    const result = measured({
      forwardingUs: 300,
      utilisation: predicted.utilisation.meanPercent * 1.3,
      e2eUs: 500,
    });
    const shifted = {
      ...result,
      sessions: { ...result.sessions, accepted: predicted.joins.admitted + 2 },
    } as LoadResult;
    const rows = comparisonRows(plan, predicted, shifted);
    expect(rows.find((r) => r.name === 'handler utilisation mean')?.explanation).toMatch(
      /^admission/,
    );
    expect(rows.find((r) => r.name === 'sessions admitted')?.explanation).toContain('load report');
    const same = comparisonRows(plan, predicted, result);
    expect(same.find((r) => r.name === 'handler utilisation mean')?.explanation).toMatch(
      /^placement/,
    );
  });

  it('adds handlers\u2019 histograms bucket by bucket', () => {
    expect(
      mergeBuckets([
        { bounds: [1, Infinity], cumulative: [2, 3] },
        { bounds: [1, Infinity], cumulative: [5, 5] },
      ]),
    ).toEqual({ bounds: [1, Infinity], cumulative: [7, 8] });
    expect(mergeBuckets([])).toEqual({ bounds: [], cumulative: [] });
  });
});
