import { describe, expect, it } from 'vitest';
import { handleSummaryFor, summaryReport, summaryText } from './summary.ts';

const data = {
  state: { testRunDurationMs: 45_123.4 },
  metrics: {
    mh_media_latency: {
      type: 'trend',
      contains: 'time',
      values: { 'p(99)': 61.5, avg: 8.25 },
      thresholds: { 'p(99)<50': { ok: false } },
    },
    checks: { type: 'rate', values: { rate: 1 }, thresholds: { 'rate>0.99': { ok: true } } },
    mh_datagrams_sent: { type: 'counter', values: { count: 1_200, rate: 26.6 } },
  },
};

describe('k6 summary', () => {
  it('lists every threshold with its result and fails the run on one miss', () => {
    const report = summaryReport('mh-media', data);
    expect(report.passed).toBe(false);
    expect(report.durationSeconds).toBe(45.123);
    expect(report.thresholds).toEqual([
      { metric: 'checks', expression: 'rate>0.99', ok: true },
      { metric: 'mh_media_latency', expression: 'p(99)<50', ok: false },
    ]);
    expect(report.metrics.mh_datagrams_sent).toEqual({ count: 1_200, rate: 26.6 });
    expect(summaryText(report)).toContain('MISS mh_media_latency p(99)<50');
  });

  it('passes when every threshold held, and writes the JSON under reports/', () => {
    const ok = {
      metrics: {
        checks: { type: 'rate', values: { rate: 1 }, thresholds: { 'rate>0.99': { ok: true } } },
      },
    };
    const out = handleSummaryFor('http-ac-gc', ok);
    expect(Object.keys(out).sort()).toEqual(['reports/k6-http-ac-gc.json', 'stdout']);
    expect(JSON.parse(out['reports/k6-http-ac-gc.json'] as string)).toMatchObject({
      script: 'http-ac-gc',
      passed: true,
      durationSeconds: null,
    });
    expect(out.stdout).toContain('all thresholds held');
  });
});
