/**
 * The load client's arithmetic, pure (tested on its own): a Media Handler's /metrics text read
 * into numbers, percentiles from its forwarding-latency histogram, a receiver's view of one
 * stream (sequence gaps, late datagrams), and the 70 % / 80 % band crossings in a series of
 * utilisation samples.
 */

/** One `/metrics` answer: each series (`name{labels}`) and its value. */
export type MetricSeries = ReadonlyMap<string, number>;

/** Parses Prometheus text exposition: comment lines skipped, one value per series. */
export function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    if (space <= 0) continue;
    const value = Number(line.slice(space + 1));
    if (!Number.isNaN(value)) series.set(line.slice(0, space), value);
  }
  return series;
}

/** Every series `name{label="x"}` as x -> value (e.g. drops by reason). */
export function byLabel(series: MetricSeries, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const prefix = `${name}{${label}="`;
  for (const [key, value] of series) {
    if (!key.startsWith(prefix)) continue;
    const end = key.indexOf('"', prefix.length);
    if (end > 0) out[key.slice(prefix.length, end)] = value;
  }
  return out;
}

/** A histogram's cumulative buckets: upper bound (seconds; Infinity for +Inf) and count. */
export interface Buckets {
  readonly bounds: readonly number[];
  readonly cumulative: readonly number[];
}

/** Seconds (a histogram's unit) in milliseconds, to a tenth of a microsecond; null stays null. */
export function secondsToMs(seconds: number | null): number | null {
  return seconds === null ? null : Math.round(seconds * 1000 * 10_000) / 10_000;
}

/** Reads `name_bucket{le="..."}` series into bounds and cumulative counts, in bound order. */
export function histogramBuckets(series: MetricSeries, name: string): Buckets {
  const pairs: [number, number][] = [];
  for (const [key, value] of Object.entries(byLabel(series, `${name}_bucket`, 'le'))) {
    pairs.push([key === '+Inf' ? Infinity : Number(key), value]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  return { bounds: pairs.map((p) => p[0]), cumulative: pairs.map((p) => p[1]) };
}

/** `after - before`, bucket by bucket (what was observed between two scrapes). */
export function bucketDelta(before: Buckets | undefined, after: Buckets): Buckets {
  if (before === undefined || before.bounds.length !== after.bounds.length) return after;
  return {
    bounds: after.bounds,
    cumulative: after.cumulative.map((count, i) => count - (before.cumulative[i] ?? 0)),
  };
}

/**
 * The value at percentile `p` (0-100) of a cumulative histogram, interpolated linearly inside
 * the bucket it falls in (as Prometheus's histogram_quantile does); the bucket below the first
 * bound starts at 0. Null with no observations; the last finite bound when it falls in +Inf.
 */
export function histogramPercentile(buckets: Buckets, p: number): number | null {
  const { bounds, cumulative } = buckets;
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = (p / 100) * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (let i = 0; i < bounds.length; i++) {
    const bound = bounds[i] as number;
    const count = cumulative[i] as number;
    if (count >= rank && count > lowerCount) {
      if (!Number.isFinite(bound)) return lowerBound;
      // Rounding must not carry the value past its bucket's bound (0.01 + 0.09 * 25 / 25 > 0.1).
      return Math.min(
        bound,
        lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / (count - lowerCount),
      );
    }
    if (Number.isFinite(bound)) lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}

/**
 * One subscriber's view of one stream: datagrams received, sequence numbers skipped (a gap:
 * the next expected one did not come next), and datagrams that came after a later one (late:
 * reordered, or a gap filled). Sequence numbers are the header's 32-bit counter.
 */
export class StreamReceiver {
  received = 0;
  /** Sequence numbers skipped when a later one arrived (some may still come late). */
  skipped = 0;
  /** Datagrams older than one already seen. */
  late = 0;
  private next: number | null = null;

  /** Records one datagram's sequence number. */
  receive(sequence: number): void {
    this.received++;
    if (this.next === null) {
      this.next = (sequence + 1) >>> 0;
      return;
    }
    const ahead = (sequence - this.next) >>> 0;
    if (ahead === 0) {
      this.next = (sequence + 1) >>> 0;
    } else if (ahead < 0x8000_0000) {
      this.skipped += ahead;
      this.next = (sequence + 1) >>> 0;
    } else {
      this.late++;
    }
  }

  /** Gaps still open: skipped numbers that never came late. */
  get missing(): number {
    return Math.max(0, this.skipped - this.late);
  }
}

/** A handler's utilisation and band at one moment (seconds from the run's start). */
export interface UtilisationSample {
  readonly atSeconds: number;
  readonly utilisation: number;
  /** 0 ok, 1 warning, 2 hard limit (the handler's own band, with its hysteresis). */
  readonly band: number;
}

export interface BandCrossing {
  readonly atSeconds: number;
  readonly from: string;
  readonly to: string;
  readonly utilisation: number;
}

const BAND_NAMES = ['ok', 'warning', 'hard-limit'] as const;

/** The band changes in a handler's samples, in order. */
export function bandCrossings(samples: readonly UtilisationSample[]): BandCrossing[] {
  const crossings: BandCrossing[] = [];
  let band = 0;
  for (const sample of samples) {
    if (sample.band === band) continue;
    crossings.push({
      atSeconds: sample.atSeconds,
      from: BAND_NAMES[band] ?? String(band),
      to: BAND_NAMES[sample.band] ?? String(sample.band),
      utilisation: sample.utilisation,
    });
    band = sample.band;
  }
  return crossings;
}

/** Percentage difference of `measured` from `predicted` (null when it cannot be said). */
export function differencePercent(
  predicted: number | null,
  measured: number | null,
): number | null {
  if (predicted === null || measured === null || predicted === 0) return null;
  return (100 * (measured - predicted)) / predicted;
}

/** Every handler's forwarding buckets added together (they share bounds). */
export function mergeBuckets(all: readonly Buckets[]): Buckets {
  const first = all.find((b) => b.bounds.length > 0);
  if (first === undefined) return { bounds: [], cumulative: [] };
  const cumulative = first.bounds.map((_, i) =>
    all.reduce(
      (sum, b) => sum + (b.bounds.length === first.bounds.length ? (b.cumulative[i] ?? 0) : 0),
      0,
    ),
  );
  return { bounds: first.bounds, cumulative };
}

/** The median of `values` (the mean of the middle two for an even count); NaN with none. */
export function medianOf(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
