import type { InvariantName, Violation } from '../invariants/violations.ts';
import {
  CHART_BUCKETS_MS,
  type JoinCounters,
  type LatencyRecorder,
  type LocalityLatency,
  type Metrics,
} from './metrics.ts';

/** Percentiles of one latency, in milliseconds, against its service-level target. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly targetMs: number | null;
  /** Whether p99 is within target (null when there is no target or no samples). */
  readonly met: boolean | null;
  /** Counts per chart bucket: upper bound in ms (null for the overflow bucket) and count. */
  readonly distribution: readonly { readonly upToMs: number | null; readonly count: number }[];
}

/** One locality's samples of a service level and the network floor under them. */
export interface LocalitySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** p99 of each sample's network floor (its flow's round trips at base latency). */
  readonly floorP99Ms: number;
}

/** A service level by locality, and one line on what explains a miss. */
export interface LevelByLocality {
  readonly sameRegion: LocalitySummary;
  readonly crossRegion: LocalitySummary;
  /** Null when the level met its target (or had no samples). */
  readonly explanation: string | null;
}

export interface UtilisationSummary {
  readonly handlers: readonly string[];
  readonly meanPercent: number;
  readonly p95Percent: number;
  readonly maxPercent: number;
  /** Share of samples in which some handler was past the 70 % warning / 80 % hard limit. */
  readonly samplesOverWarningPercent: number;
  readonly samplesOverHardLimitPercent: number;
  /** Mean and max utilisation over time, for charts. */
  readonly series: readonly {
    readonly timeSeconds: number;
    readonly meanPercent: number;
    readonly maxPercent: number;
  }[];
}

/** The cost model's estimate for the simulated load. */
/** One workload assumption where the run differs from the ADR's baseline, and its effect. */
export interface CostDifference {
  readonly assumption: string;
  readonly adr: number;
  readonly run: number;
  readonly why: string;
  /** What changing it (after the ones listed before it) did to the monthly total, USD. */
  readonly effectUsd: number;
}

export interface CostSummary {
  readonly monthlyUsd: number;
  readonly breakdown: Readonly<Record<string, number>>;
  readonly basis: string;
  /**
   * The ADR's baseline ($16,995), the model's figure for the ADR's workload, and each
   * assumption of this run that differs, with its effect; the effects add up to the
   * difference between the model's ADR figure and this run's estimate.
   */
  readonly versusAdr: {
    readonly adrMonthlyUsd: number;
    readonly modelMonthlyUsd: number;
    readonly differences: readonly CostDifference[];
  } | null;
}

/** Everything a run reports; serialised as-is by `--json`. */
export interface RunReport {
  readonly scenario: string;
  readonly seed: number;
  readonly simulatedSeconds: number;
  readonly events: number;
  readonly traceHash: string;
  readonly wallSeconds: number;
  readonly speedup: number;
  readonly load: {
    readonly meetingsStarted: number;
    readonly peakMeetings: number;
    readonly peakParticipants: number;
    readonly peakStreams: number;
  };
  readonly latency: {
    readonly joinToMedia: LatencySummary;
    readonly signaling: LatencySummary;
    readonly forwarding: LatencySummary;
    readonly mediaPath: LatencySummary;
    /** The network hop between handlers of cascaded deliveries (not part of forwarding). */
    readonly betweenHandlers: LatencySummary;
  };
  /** Join-to-media by stage (`JOIN_STAGES`), each from the end of the stage before. */
  readonly joinStages: readonly { readonly stage: string; readonly latency: LatencySummary }[];
  /** Join-to-media and signaling by locality, with the network's floor and what explains a miss. */
  readonly locality: {
    readonly joinToMedia: LevelByLocality;
    readonly signaling: LevelByLocality;
  };
  readonly joins: JoinCounters;
  readonly packetLoss: {
    readonly sent: number;
    readonly lost: number;
    readonly ratio: number | null;
  };
  readonly cascades: { readonly links: number; readonly maxHops: number };
  readonly reroutes: {
    readonly plans: number;
    /** Clients told to connect to another handler (each a reconnect for the user). */
    readonly moves: number;
    readonly commands: number;
    /** Route commands sent again: no acknowledgement in time, or a controller's take-over. */
    readonly resends: number;
    /** Meetings a controller took over from a failed one. */
    readonly failovers: number;
    /** Meetings left on a failed handler because no other handler had room for them. */
    readonly stranded: number;
  };
  readonly rotations: { readonly signingKeys: number; readonly mediaKeys: number };
  readonly tokens: { readonly issued: number; readonly verified: number };
  readonly utilisation: UtilisationSummary;
  /** Media handlers added by the autoscaler. */
  readonly scaleOuts: number;
  /** Steps handlers' quality stages took towards critical (loss from carrying past capacity). */
  readonly qualityEscalations: number;
  readonly cost: CostSummary | null;
  readonly invariants: {
    readonly total: number;
    readonly byInvariant: Record<InvariantName, number>;
    readonly first: readonly Violation[];
  };
}

/** Service-level targets from the spec: join-to-media 250 ms, signaling 100 ms, forwarding p99 50 ms. */
export const TARGETS_MS = { joinToMedia: 250, signaling: 100, forwarding: 50 } as const;

/** Summarises one latency (recorded in microseconds) in milliseconds. */
export function summariseLatency(
  recorder: LatencyRecorder,
  targetMs: number | null,
): LatencySummary {
  const histogram = recorder.histogram;
  const count = histogram.totalCount;
  // hdr-histogram answers with the top of a bucket, which can exceed the largest value seen.
  const at = (p: number) =>
    count === 0 ? 0 : round(Math.min(histogram.getValueAtPercentile(p), histogram.maxValue) / 1000);
  const p99Ms = at(99);
  return {
    count,
    p50Ms: at(50),
    p95Ms: at(95),
    p99Ms,
    maxMs: count === 0 ? 0 : round(histogram.maxValue / 1000),
    targetMs,
    met: targetMs === null || count === 0 ? null : p99Ms <= targetMs,
    distribution: recorder.buckets.map((bucketCount, index) => ({
      upToMs: CHART_BUCKETS_MS[index] ?? null,
      count: bucketCount,
    })),
  };
}

/** Summarises a service level by locality and explains a miss against `targetMs`. */
export function summariseByLocality(
  name: string,
  recorder: LocalityLatency,
  targetMs: number,
): LevelByLocality {
  const one = (samples: LatencyRecorder, floors: LatencyRecorder): LocalitySummary => {
    const s = summariseLatency(samples, null);
    return {
      count: s.count,
      p50Ms: s.p50Ms,
      p99Ms: s.p99Ms,
      floorP99Ms: summariseLatency(floors, null).p99Ms,
    };
  };
  const sameRegion = one(recorder.sameRegion, recorder.sameRegionFloor);
  const crossRegion = one(recorder.crossRegion, recorder.crossRegionFloor);
  const reasons: string[] = [];
  for (const [where, level] of [
    ['same-region', sameRegion],
    ['cross-region', crossRegion],
  ] as const) {
    if (level.count === 0 || level.p99Ms <= targetMs) continue;
    reasons.push(
      level.floorP99Ms > targetMs
        ? `${where} p99 ${ms1(level.p99Ms)} ms: the network's floor alone is ${ms1(level.floorP99Ms)} ms (physics)`
        : `${where} p99 ${ms1(level.p99Ms)} ms against a network floor of ${ms1(level.floorP99Ms)} ms (design: ${ms1(level.p99Ms - level.floorP99Ms)} ms above it)`,
    );
  }
  return {
    sameRegion,
    crossRegion,
    explanation:
      reasons.length === 0 ? null : `${name} misses p99 < ${targetMs} ms: ${reasons.join('; ')}`,
  };
}

const ms1 = (value: number): string => value.toFixed(1);

/** Summarises handler utilisation over the run. */
export function summariseUtilisation(
  metrics: Metrics,
  warning: number,
  hardLimit: number,
): UtilisationSummary {
  const all: number[] = [];
  let overWarning = 0;
  let overHard = 0;
  const series = metrics.utilisation.map((sample) => {
    const values = sample.byHandler;
    let sum = 0;
    let max = 0;
    for (const value of values) {
      sum += value;
      max = Math.max(max, value);
      all.push(value);
    }
    if (max > warning) overWarning++;
    if (max > hardLimit) overHard++;
    return {
      timeSeconds: round(sample.time / 1_000_000),
      meanPercent: round((100 * sum) / Math.max(1, values.length)),
      maxPercent: round(100 * max),
    };
  });
  all.sort((a, b) => a - b);
  const samples = Math.max(1, metrics.utilisation.length);
  return {
    handlers: metrics.handlerNames,
    meanPercent: round((100 * all.reduce((a, b) => a + b, 0)) / Math.max(1, all.length)),
    p95Percent: round(100 * (all[Math.floor(all.length * 0.95)] ?? 0)),
    maxPercent: round(100 * (all[all.length - 1] ?? 0)),
    samplesOverWarningPercent: round((100 * overWarning) / samples),
    samplesOverHardLimitPercent: round((100 * overHard) / samples),
    series,
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
