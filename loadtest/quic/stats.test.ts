import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bandCrossings,
  bucketDelta,
  byLabel,
  differencePercent,
  histogramBuckets,
  histogramPercentile,
  parseMetrics,
  StreamReceiver,
} from './stats.ts';

const METRICS = `# HELP mh_utilisation Bandwidth over capacity
# TYPE mh_utilisation gauge
mh_utilisation 0.8123
mh_datagram_drops_total{reason="send-queue-full"} 3
mh_datagram_drops_total{reason="unknown-stream"} 0
mh_forwarding_latency_seconds_bucket{le="0.00001"} 50
mh_forwarding_latency_seconds_bucket{le="0.0001"} 90
mh_forwarding_latency_seconds_bucket{le="0.001"} 100
mh_forwarding_latency_seconds_bucket{le="+Inf"} 100
mh_forwarding_latency_seconds_count 100
`;

describe('load-run statistics', () => {
  it('read a /metrics answer: gauges, labelled series, histogram buckets', () => {
    const series = parseMetrics(METRICS);
    expect(series.get('mh_utilisation')).toBe(0.8123);
    expect(byLabel(series, 'mh_datagram_drops_total', 'reason')).toEqual({
      'send-queue-full': 3,
      'unknown-stream': 0,
    });
    expect(histogramBuckets(series, 'mh_forwarding_latency_seconds')).toEqual({
      bounds: [0.00001, 0.0001, 0.001, Infinity],
      cumulative: [50, 90, 100, 100],
    });
  });

  it('interpolate percentiles inside a bucket, as histogram_quantile does', () => {
    const buckets = histogramBuckets(parseMetrics(METRICS), 'mh_forwarding_latency_seconds');
    expect(histogramPercentile(buckets, 50)).toBeCloseTo(0.00001, 12);
    expect(histogramPercentile(buckets, 70)).toBeCloseTo(0.00001 + 0.00009 * 0.5, 12);
    expect(histogramPercentile(buckets, 99)).toBeCloseTo(0.0001 + 0.0009 * 0.9, 12);
    expect(histogramPercentile({ bounds: [1, Infinity], cumulative: [0, 0] }, 50)).toBeNull();
    // Everything beyond the last finite bound: that bound.
    expect(histogramPercentile({ bounds: [1, Infinity], cumulative: [0, 4] }, 50)).toBe(1);
  });

  it('a percentile lies within the bucket of its rank and grows with p', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 1_000 }), { minLength: 4, maxLength: 4 }), (counts) => {
        const bounds = [0.001, 0.01, 0.1, Infinity];
        let sum = 0;
        const cumulative = counts.map((c) => (sum += c));
        const buckets = { bounds, cumulative };
        if (sum === 0) return;
        let previous = 0;
        for (const p of [1, 25, 50, 75, 99, 100]) {
          const value = histogramPercentile(buckets, p) as number;
          expect(value).toBeGreaterThanOrEqual(previous);
          expect(value).toBeLessThanOrEqual(0.1);
          previous = value;
        }
      }),
    );
  });

  it('a percentile at the top of a bucket is its bound, not past it by rounding', () => {
    const buckets = { bounds: [0.001, 0.01, 0.1, Infinity], cumulative: [0, 0, 25, 25] };
    expect(histogramPercentile(buckets, 100)).toBe(0.1);
  });

  it('take the difference of two scrapes bucket by bucket', () => {
    const before = { bounds: [1, Infinity], cumulative: [5, 6] };
    const after = { bounds: [1, Infinity], cumulative: [9, 12] };
    expect(bucketDelta(before, after)).toEqual({ bounds: [1, Infinity], cumulative: [4, 6] });
    expect(bucketDelta(undefined, after)).toBe(after);
  });

  it('count gaps and late datagrams per stream, across the 32-bit wrap', () => {
    const r = new StreamReceiver();
    for (const s of [0xffff_fffe, 0xffff_ffff, 1, 2, 0, 5]) r.receive(s);
    expect({ received: r.received, skipped: r.skipped, late: r.late, missing: r.missing }).toEqual({
      received: 6,
      skipped: 3,
      late: 1,
      missing: 2,
    });
  });

  it('any permutation of a run: what is missing is what never came', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 60 })
          .chain((n) =>
            fc.tuple(fc.shuffledSubarray([...Array(n).keys()], { minLength: 1 }), fc.constant(n)),
          ),
        ([seen, n]) => {
          const r = new StreamReceiver();
          // In order: the missing ones are the holes below the highest seen.
          const sorted = [...seen].sort((a, b) => a - b);
          for (const s of sorted) r.receive(s);
          const highest = sorted[sorted.length - 1] as number;
          const lowest = sorted[0] as number;
          expect(r.missing).toBe(highest - lowest + 1 - sorted.length);
          expect(r.late).toBe(0);
          void n;
        },
      ),
    );
  });

  it('list band changes in order from utilisation samples', () => {
    const samples = [
      { atSeconds: 1, utilisation: 0.5, band: 0 },
      { atSeconds: 2, utilisation: 0.72, band: 1 },
      { atSeconds: 3, utilisation: 0.85, band: 2 },
      { atSeconds: 4, utilisation: 0.77, band: 2 },
      { atSeconds: 5, utilisation: 0.6, band: 0 },
    ];
    expect(bandCrossings(samples)).toEqual([
      { atSeconds: 2, from: 'ok', to: 'warning', utilisation: 0.72 },
      { atSeconds: 3, from: 'warning', to: 'hard-limit', utilisation: 0.85 },
      { atSeconds: 5, from: 'hard-limit', to: 'ok', utilisation: 0.6 },
    ]);
  });

  it('give the difference in per cent of the prediction', () => {
    expect(differencePercent(0.3, 0.33)).toBeCloseTo(10);
    expect(differencePercent(0, 1)).toBeNull();
    expect(differencePercent(null, 1)).toBeNull();
  });
});
