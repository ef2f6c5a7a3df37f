/**
 * Four-stage media quality degradation (ADR-0012 debate, round 4): optimal -> warning ->
 * degraded -> critical, driven by the Media Handler's p99 forwarding latency and packet loss.
 *
 * Thresholds (a stage is entered when either metric reaches it):
 *
 * | stage    | p99 forwarding latency | loss  | why                                          |
 * | -------- | ---------------------- | ----- | -------------------------------------------- |
 * | warning  | >= 30 ms               | >= 1 %| the ADR's "revisit at 30 ms" trigger          |
 * | degraded | >= 50 ms               | >= 3 %| the ADR's P99 < 50 ms target is missed        |
 * | critical | >= 100 ms              | >= 8 %| twice the target: interactive media suffers   |
 *
 * Hysteresis: escalation moves one stage per evaluation, so each stage's mitigation gets a
 * chance to relieve the handler before the next, harsher one. Recovery moves one stage down
 * only after both metrics have stayed below 80 % of the current stage's thresholds for a dwell
 * time (5 s), and every further step down needs a fresh dwell. Times are milliseconds.
 */

export type QualityStage = 'optimal' | 'warning' | 'degraded' | 'critical';

/** Stages from best to worst. */
export const QUALITY_STAGES: readonly QualityStage[] = [
  'optimal',
  'warning',
  'degraded',
  'critical',
];

/** What the Media Handler applies while in a stage. */
export interface StageActions {
  /** How many of the top simulcast/spatial layers to stop forwarding. */
  readonly dropTopSpatialLayers: number;
  /** Highest temporal layer forwarded, or null for all. */
  readonly maxTemporalLayer: number | null;
  /** Pause video streams that no subscriber currently shows. */
  readonly pauseUnseenVideo: boolean;
  /** Pause all video; audio keeps flowing first. */
  readonly pauseAllVideo: boolean;
}

export const STAGE_ACTIONS: Readonly<Record<QualityStage, StageActions>> = {
  optimal: {
    dropTopSpatialLayers: 0,
    maxTemporalLayer: null,
    pauseUnseenVideo: false,
    pauseAllVideo: false,
  },
  warning: {
    dropTopSpatialLayers: 1,
    maxTemporalLayer: null,
    pauseUnseenVideo: false,
    pauseAllVideo: false,
  },
  degraded: {
    dropTopSpatialLayers: 1,
    maxTemporalLayer: 1,
    pauseUnseenVideo: true,
    pauseAllVideo: false,
  },
  critical: {
    dropTopSpatialLayers: 1,
    maxTemporalLayer: 0,
    pauseUnseenVideo: true,
    pauseAllVideo: true,
  },
};

export interface StageThreshold {
  readonly p99LatencyMs: number;
  readonly lossRatio: number;
}

export interface QualityPolicy {
  /** Entry thresholds of every stage above `optimal`. */
  readonly enter: Readonly<Record<Exclude<QualityStage, 'optimal'>, StageThreshold>>;
  /** A stage is left once both metrics are below `exitFactor` times its entry thresholds. */
  readonly exitFactor: number;
  /** How long (ms) metrics must stay below the exit thresholds before stepping down. */
  readonly recoveryDwellMs: number;
}

export const DEFAULT_QUALITY_POLICY: QualityPolicy = {
  enter: {
    warning: { p99LatencyMs: 30, lossRatio: 0.01 },
    degraded: { p99LatencyMs: 50, lossRatio: 0.03 },
    critical: { p99LatencyMs: 100, lossRatio: 0.08 },
  },
  exitFactor: 0.8,
  recoveryDwellMs: 5_000,
};

export interface QualitySample {
  readonly p99LatencyMs: number;
  /** Lost packets over expected packets, 0..1. */
  readonly lossRatio: number;
}

export interface QualityState {
  readonly stage: QualityStage;
  /** When (ms) the metrics last fell below the current stage's exit thresholds, if they are. */
  readonly recoveringSince: number | null;
}

export const INITIAL_QUALITY_STATE: QualityState = { stage: 'optimal', recoveringSince: null };

const stageIndex = (stage: QualityStage): number => QUALITY_STAGES.indexOf(stage);
const stageAt = (index: number): QualityStage => QUALITY_STAGES[index] ?? 'critical';

function reaches(sample: QualitySample, threshold: StageThreshold, factor: number): boolean {
  return (
    sample.p99LatencyMs >= threshold.p99LatencyMs * factor ||
    sample.lossRatio >= threshold.lossRatio * factor
  );
}

/** The worst stage whose entry thresholds the sample reaches, ignoring hysteresis. */
export function rawQualityStage(
  sample: QualitySample,
  policy: QualityPolicy = DEFAULT_QUALITY_POLICY,
): QualityStage {
  if (reaches(sample, policy.enter.critical, 1)) return 'critical';
  if (reaches(sample, policy.enter.degraded, 1)) return 'degraded';
  if (reaches(sample, policy.enter.warning, 1)) return 'warning';
  return 'optimal';
}

function belowExit(sample: QualitySample, stage: QualityStage, policy: QualityPolicy): boolean {
  if (stage === 'optimal') return false;
  return !reaches(sample, policy.enter[stage], policy.exitFactor);
}

/**
 * Folds one metrics sample taken at `now` (ms) into the quality state: one stage up when the
 * sample reaches a worse stage, one stage down after the recovery dwell, otherwise unchanged.
 */
export function nextQualityState(
  state: QualityState,
  sample: QualitySample,
  now: number,
  policy: QualityPolicy = DEFAULT_QUALITY_POLICY,
): QualityState {
  const current = stageIndex(state.stage);
  if (stageIndex(rawQualityStage(sample, policy)) > current) {
    return { stage: stageAt(current + 1), recoveringSince: null };
  }
  if (!belowExit(sample, state.stage, policy)) return { stage: state.stage, recoveringSince: null };
  const since = state.recoveringSince ?? now;
  if (now - since >= policy.recoveryDwellMs) {
    return { stage: stageAt(current - 1), recoveringSince: null };
  }
  return { stage: state.stage, recoveringSince: since };
}

/** When (ms) a sample still below the exit thresholds would step the stage down, if pending. */
export function qualityDeadline(
  state: QualityState,
  policy: QualityPolicy = DEFAULT_QUALITY_POLICY,
): number | null {
  return state.recoveringSince === null ? null : state.recoveringSince + policy.recoveryDwellMs;
}
