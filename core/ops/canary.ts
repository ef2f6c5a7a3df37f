/**
 * Canary analysis for Flagger-style progressive delivery (ADR-0012 decision 9).
 *
 * Traffic steps 5 % -> 10 % -> 50 % -> 100 %. At each step the canary's metrics are compared
 * with the baseline's over the same window:
 *
 * - roll back when the canary error rate exceeds 150 % of the baseline error rate, or its
 *   p99 latency exceeds twice the baseline p99;
 * - hold (analyse again later, no traffic change) while either side has fewer than
 *   `minRequests` requests: a handful of requests says nothing about a rate;
 * - otherwise promote to the next step; promoting from 100 % completes the rollout.
 *
 * A zero baseline error rate would make any single canary error a 150 % breach, so the
 * baseline error rate is floored at `baselineErrorRateFloor` (0.1 %): with a clean baseline
 * the canary may err up to 0.15 % of requests. Likewise the baseline p99 is floored at 1 ms.
 */

export const CANARY_STEPS_PERCENT: readonly number[] = [5, 10, 50, 100];

export interface CanaryPolicy {
  readonly steps: readonly number[];
  /** Roll back when canary error rate > this times the baseline rate (1.5 = 150 %). */
  readonly maxErrorRateRatio: number;
  /** Roll back when canary p99 > this times the baseline p99. */
  readonly maxP99Ratio: number;
  readonly minRequests: number;
  readonly baselineErrorRateFloor: number;
  readonly baselineP99FloorMs: number;
}

export const DEFAULT_CANARY_POLICY: CanaryPolicy = {
  steps: CANARY_STEPS_PERCENT,
  maxErrorRateRatio: 1.5,
  maxP99Ratio: 2,
  minRequests: 100,
  baselineErrorRateFloor: 0.001,
  baselineP99FloorMs: 1,
};

/** Request metrics of one side (canary or baseline) over an analysis window. */
export interface WindowMetrics {
  readonly requests: number;
  readonly errors: number;
  readonly p99LatencyMs: number;
}

export type CanaryVerdict =
  | { readonly kind: 'promote' }
  | { readonly kind: 'hold'; readonly reason: 'too-few-samples' }
  | {
      readonly kind: 'rollback';
      readonly reason: 'error-rate' | 'latency';
      readonly canary: number;
      readonly limit: number;
    };

const errorRate = (m: WindowMetrics): number => (m.requests === 0 ? 0 : m.errors / m.requests);

/** Compares one analysis window of the canary against the baseline. */
export function analyseCanary(
  canary: WindowMetrics,
  baseline: WindowMetrics,
  policy: CanaryPolicy = DEFAULT_CANARY_POLICY,
): CanaryVerdict {
  if (canary.requests < policy.minRequests || baseline.requests < policy.minRequests) {
    return { kind: 'hold', reason: 'too-few-samples' };
  }
  const errorLimit =
    policy.maxErrorRateRatio * Math.max(errorRate(baseline), policy.baselineErrorRateFloor);
  if (errorRate(canary) > errorLimit) {
    return { kind: 'rollback', reason: 'error-rate', canary: errorRate(canary), limit: errorLimit };
  }
  const p99Limit = policy.maxP99Ratio * Math.max(baseline.p99LatencyMs, policy.baselineP99FloorMs);
  if (canary.p99LatencyMs > p99Limit) {
    return { kind: 'rollback', reason: 'latency', canary: canary.p99LatencyMs, limit: p99Limit };
  }
  return { kind: 'promote' };
}

export type CanaryRollout =
  | { readonly status: 'progressing'; readonly stepIndex: number }
  | { readonly status: 'rolled-back'; readonly atStepIndex: number }
  | { readonly status: 'complete' };

export const startCanary = (): CanaryRollout => ({ status: 'progressing', stepIndex: 0 });

/** The share of traffic (percent) the canary receives in this rollout state. */
export function canaryTrafficPercent(
  rollout: CanaryRollout,
  policy: CanaryPolicy = DEFAULT_CANARY_POLICY,
): number {
  switch (rollout.status) {
    case 'progressing':
      return policy.steps[rollout.stepIndex] ?? 100;
    case 'rolled-back':
      return 0;
    case 'complete':
      return 100;
  }
}

/** Applies a verdict to the rollout. Finished rollouts ignore further verdicts. */
export function advanceCanary(
  rollout: CanaryRollout,
  verdict: CanaryVerdict,
  policy: CanaryPolicy = DEFAULT_CANARY_POLICY,
): CanaryRollout {
  if (rollout.status !== 'progressing') return rollout;
  switch (verdict.kind) {
    case 'hold':
      return rollout;
    case 'rollback':
      return { status: 'rolled-back', atStepIndex: rollout.stepIndex };
    case 'promote':
      return rollout.stepIndex + 1 < policy.steps.length
        ? { status: 'progressing', stepIndex: rollout.stepIndex + 1 }
        : { status: 'complete' };
  }
}
