/**
 * Replica autoscaling from the architecture's scaling table (spec 003, "Scaling Strategy"):
 *
 * | service | per-instance trigger            | utilisation targets          |
 * | ------- | ------------------------------- | ---------------------------- |
 * | GC      | > 1,000 requests/s              | CPU > 70 %                   |
 * | MC      | > 800 meetings                  | CPU > 70 %, memory > 75 %    |
 * | MH      | > 8,000 streams, > 8 Gbps       | CPU > 70 %, memory > 75 %    |
 * | AC      | none                            | CPU > 70 %, memory > 75 %    |
 *
 * Every rule proposes a replica count, the largest wins: utilisation rules use the
 * Kubernetes HPA formula ceil(replicas * observed / target); per-instance rules
 * ceil(total / per-instance limit). The result is clamped to [min, max]. Scale-out is
 * immediate; scale-in waits until `scaleInCooldownMs` (5 minutes, the HPA default
 * stabilisation window) has passed since the last scaling event. Times are milliseconds.
 */
import { err, ok } from '../result.ts';
import type { Result } from '../result.ts';

export type ServiceKind = 'ac' | 'gc' | 'mc' | 'mh';

export type ScalingMetric =
  'cpu' | 'memory' | 'requestsPerSecond' | 'meetings' | 'streams' | 'networkGbps';

export interface ServiceMetrics {
  /** Average CPU utilisation over replicas, 0..1 of the request. */
  readonly cpu: number;
  /** Average memory utilisation over replicas, 0..1 of the request. */
  readonly memory: number;
  /** Totals over all replicas; omit those a service does not report. */
  readonly requestsPerSecond?: number;
  readonly meetings?: number;
  readonly streams?: number;
  readonly networkGbps?: number;
}

interface UtilisationRule {
  readonly kind: 'utilisation';
  readonly metric: 'cpu' | 'memory';
  readonly target: number;
}
interface PerInstanceRule {
  readonly kind: 'per-instance';
  readonly metric: Exclude<ScalingMetric, 'cpu' | 'memory'>;
  readonly limit: number;
}
export type ScalingRule = UtilisationRule | PerInstanceRule;

const cpuRule: ScalingRule = { kind: 'utilisation', metric: 'cpu', target: 0.7 };
const memoryRule: ScalingRule = { kind: 'utilisation', metric: 'memory', target: 0.75 };

export const SCALING_RULES: Readonly<Record<ServiceKind, readonly ScalingRule[]>> = {
  ac: [cpuRule, memoryRule],
  gc: [cpuRule, { kind: 'per-instance', metric: 'requestsPerSecond', limit: 1_000 }],
  mc: [cpuRule, memoryRule, { kind: 'per-instance', metric: 'meetings', limit: 800 }],
  mh: [
    cpuRule,
    memoryRule,
    { kind: 'per-instance', metric: 'streams', limit: 8_000 },
    { kind: 'per-instance', metric: 'networkGbps', limit: 8 },
  ],
};

export interface AutoscalerBounds {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly scaleInCooldownMs: number;
}

/** Spec 003's HPA example bounds (5..50) with the 5-minute scale-in stabilisation window. */
export const DEFAULT_AUTOSCALER_BOUNDS: AutoscalerBounds = {
  minReplicas: 5,
  maxReplicas: 50,
  scaleInCooldownMs: 300_000,
};

export interface AutoscalerInput {
  readonly service: ServiceKind;
  readonly currentReplicas: number;
  readonly metrics: ServiceMetrics;
  /** When (ms) the replica count last changed, or null if never. */
  readonly lastScaledAt: number | null;
}

export type ScalingReason =
  | {
      readonly kind: 'rule';
      readonly metric: ScalingMetric;
      readonly observed: number;
      readonly threshold: number;
    }
  | { readonly kind: 'at-min' }
  | { readonly kind: 'at-max' }
  | { readonly kind: 'scale-in-cooldown'; readonly until: number };

export interface ScalingDecision {
  readonly desiredReplicas: number;
  readonly reason: ScalingReason;
}

export type AutoscalerError =
  | { readonly kind: 'invalid-bounds'; readonly minReplicas: number; readonly maxReplicas: number }
  | { readonly kind: 'invalid-replicas'; readonly currentReplicas: number };

interface Proposal {
  readonly replicas: number;
  readonly reason: ScalingReason & { readonly kind: 'rule' };
}

function propose(rule: ScalingRule, input: AutoscalerInput): Proposal | null {
  const observed = input.metrics[rule.metric];
  if (observed === undefined || !Number.isFinite(observed)) return null;
  const replicas =
    rule.kind === 'utilisation'
      ? Math.ceil((input.currentReplicas * observed) / rule.target)
      : Math.ceil(observed / rule.limit);
  const threshold = rule.kind === 'utilisation' ? rule.target : rule.limit;
  return { replicas, reason: { kind: 'rule', metric: rule.metric, observed, threshold } };
}

/** The replica count a service should run at `now` (ms), with the reason. */
export function desiredReplicas(
  input: AutoscalerInput,
  now: number,
  bounds: AutoscalerBounds = DEFAULT_AUTOSCALER_BOUNDS,
): Result<ScalingDecision, AutoscalerError> {
  const { minReplicas, maxReplicas } = bounds;
  if (!(minReplicas >= 1 && maxReplicas >= minReplicas)) {
    return err({ kind: 'invalid-bounds', minReplicas, maxReplicas });
  }
  if (!(Number.isInteger(input.currentReplicas) && input.currentReplicas >= 0)) {
    return err({ kind: 'invalid-replicas', currentReplicas: input.currentReplicas });
  }
  const proposals = SCALING_RULES[input.service].flatMap((rule) => propose(rule, input) ?? []);
  return ok(applyCooldown(input, clampToBounds(largest(proposals), bounds), now, bounds));
}

function largest(proposals: readonly Proposal[]): Proposal | null {
  return proposals.reduce<Proposal | null>(
    (best, p) => (best === null || p.replicas > best.replicas ? p : best),
    null,
  );
}

function clampToBounds(best: Proposal | null, bounds: AutoscalerBounds): ScalingDecision {
  if (best === null || best.replicas <= bounds.minReplicas) {
    return { desiredReplicas: bounds.minReplicas, reason: { kind: 'at-min' } };
  }
  if (best.replicas >= bounds.maxReplicas) {
    return { desiredReplicas: bounds.maxReplicas, reason: { kind: 'at-max' } };
  }
  return { desiredReplicas: best.replicas, reason: best.reason };
}

/** Holds the current count (within bounds) while a scale-in is still cooling down. */
function applyCooldown(
  input: AutoscalerInput,
  decision: ScalingDecision,
  now: number,
  bounds: AutoscalerBounds,
): ScalingDecision {
  const until = (input.lastScaledAt ?? -Infinity) + bounds.scaleInCooldownMs;
  const held = Math.min(input.currentReplicas, bounds.maxReplicas);
  if (now < until && held > decision.desiredReplicas) {
    return { desiredReplicas: held, reason: { kind: 'scale-in-cooldown', until } };
  }
  return decision;
}
