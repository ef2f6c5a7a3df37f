import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { builtinScenario } from '../../sim/scenario/builtin.ts';
import { LOOPBACK_SERVICE_TIMES } from '../../sim/scenario/loopback.ts';
import { comparisonRows, EXPLAIN_OVER_PERCENT, renderComparisonRows } from './compare-rows.ts';
import { predict } from './predict.ts';
import { loadPlanFrom } from './scenario.ts';
import { measuredLatency, type StackResult } from './stack-run.ts';
import { mergeBuckets } from './stats.ts';

const plan = (() => {
  const read = loadPlanFrom(
    parse(readFileSync(new URL('./scenarios/basic.yaml', import.meta.url), 'utf8')),
  );
  if (!read.ok) throw new Error('basic scenario');
  return read.value;
})();
const prediction = predict(plan);
const { firstFrameMs: _frame, ...LOOPBACK_SERVICE_TIMES_BUT_FIRST_FRAME } = LOOPBACK_SERVICE_TIMES;
const stage = (name: string) =>
  prediction.report.joinStages.find((s) => s.stage === name)?.latency.p50Ms as number;

/** A measurement `factor` times the prediction on every latency, utilisation as predicted. */
function measured(factor: number, failoverMs: number | null): StackResult {
  const at = (ms: number) => measuredLatency([ms * factor]);
  return {
    scenario: 'basic',
    startedAt: '',
    wallSeconds: 1,
    loadAverage: { atStart: 1, atEnd: 1 },
    joins: { attempted: 16, joined: 16, failed: {} },
    stages: {
      meetingInfo: at(stage('meeting info')),
      joinAtController: at(stage('join at controller')),
      mediaSession: at(stage('media session')),
      firstFrame: at(stage('first frame')),
    },
    signalingRoundTrip: at(stage('join at controller')),
    joinToFirstFrame: at(prediction.report.latency.joinToMedia.p50Ms - stage('token')),
    forwarding: {
      p50Ms: LOOPBACK_SERVICE_TIMES.forwardingMs * factor,
      p99Ms: LOOPBACK_SERVICE_TIMES.forwardingMs * factor,
    },
    utilisation: {
      meanPercent: prediction.report.utilisation.meanPercent,
      maxPercent: prediction.report.utilisation.maxPercent,
    },
    handlers: [],
    frames: { sent: 1, received: 1, skipped: 0 },
    failover:
      failoverMs === null
        ? null
        : {
            killedHandler: 'load-mh-1',
            killedAtSeconds: 20,
            members: 1,
            killToFirstFrameMs: [failoverMs],
            maxMs: failoverMs,
            moves: [],
            told: [],
          },
  };
}

describe('predicted vs measured', () => {
  it('predicts a failover for the scenario with a handler crash, and every other row', () => {
    expect(prediction.failover?.members).toBeGreaterThan(0);
    expect(prediction.failover?.maxMs).toBeGreaterThan(0);
    // The loopback model, not the scenario file's service times.
    expect(prediction.scenario.serviceTimes).toMatchObject(LOOPBACK_SERVICE_TIMES_BUT_FIRST_FRAME);
    expect(prediction.scenario.serviceTimes.firstFrameMs).toBe(1000 / 50);
  });

  it('marks rows within 10 % and explains the others by their model parameter', () => {
    const close = comparisonRows(plan, prediction, measured(1.05, prediction.failover?.maxMs ?? 1));
    for (const row of close) {
      expect(row.predicted, row.name).not.toBeNull();
      expect(row.measured, row.name).not.toBeNull();
      // The p99 row: one sample in the fake, so p99 is p50 and the prediction's p99 differs.
      if (row.name.endsWith('p99') && row.name.startsWith('join')) continue;
      expect(row.within, row.name).toBe(true);
      expect(row.explanation, row.name).toBeNull();
    }
    const far = comparisonRows(plan, prediction, measured(3, 60));
    const row = (name: string) => far.find((r) => r.name === name);
    expect(row('signaling round trip: join p50')?.differencePercent).toBeCloseTo(200, 0);
    expect(row('signaling round trip: join p50')?.within).toBe(false);
    expect(row('signaling round trip: join p50')?.explanation).toContain(
      'serviceTimes.joinProcessingMs',
    );
    expect(row('forwarding latency p50')?.explanation).toContain('serviceTimes.forwardingMs');
    expect(row('failover after a handler kill (last member back)')?.explanation).toContain(
      'mediaLossReports',
    );
    expect(Math.abs(row('handler utilisation mean')?.differencePercent ?? 99)).toBeLessThanOrEqual(
      EXPLAIN_OVER_PERCENT,
    );
    const text = renderComparisonRows('basic', far);
    expect(text).toContain('signaling round trip: join p50');
    expect(text).toMatch(/\[\d+\] serviceTimes\.joinProcessingMs/);
  });

  it('says why a side is missing', () => {
    const rows = comparisonRows(plan, prediction, measured(1, null));
    const failover = rows.find((r) => r.name.startsWith('failover'));
    expect(failover).toMatchObject({ measured: null, differencePercent: null, within: false });
    expect(failover?.explanation).toContain('not measured');
  });

  it('adds handlers’ forwarding buckets', () => {
    expect(
      mergeBuckets([
        { bounds: [1, 2], cumulative: [1, 3] },
        { bounds: [1, 2], cumulative: [2, 2] },
      ]),
    ).toEqual({ bounds: [1, 2], cumulative: [3, 5] });
    expect(mergeBuckets([])).toEqual({ bounds: [], cumulative: [] });
  });
});

describe('the loopback model', () => {
  it("gives basic.yaml the built-in loopback scenario's topology, network and service times", () => {
    const loopback = builtinScenario('loopback');
    const { name: _a, description: _b, ...predicted } = prediction.scenario;
    const { name: _c, description: _d, ...builtin } = loopback as NonNullable<typeof loopback>;
    expect(predicted).toEqual(builtin);
  });
});
