/**
 * Connection-pool sizing (ADR-0012 Operational Thresholds; debate round 4: "dynamic scaling
 * 10 -> 50"). The pool grows when at least 80 % of its connections are in use and shrinks
 * when at most 30 % are. Either way it is resized so that the connections in use fill about
 * 55 %, the middle of that band, so one resize does not immediately trigger the opposite
 * one; and it always stays within 10..50.
 */

export interface PoolPolicy {
  readonly min: number;
  readonly max: number;
  readonly scaleUpAt: number;
  readonly scaleDownAt: number;
  /** The utilisation a resize aims for. */
  readonly targetUtilisation: number;
}

export const DEFAULT_POOL_POLICY: PoolPolicy = {
  min: 10,
  max: 50,
  scaleUpAt: 0.8,
  scaleDownAt: 0.3,
  targetUtilisation: 0.55,
};

export type PoolDecision =
  | { readonly kind: 'grow'; readonly size: number }
  | { readonly kind: 'shrink'; readonly size: number }
  | { readonly kind: 'keep'; readonly size: number };

const clamp = (value: number, min: number, max: number): number =>
  Math.min(max, Math.max(min, value));

/**
 * The pool size to use given the current size and the connections in use. A current size
 * outside the bounds (say, after a policy change) is brought back inside them.
 */
export function resizePool(
  currentSize: number,
  inUse: number,
  policy: PoolPolicy = DEFAULT_POOL_POLICY,
): PoolDecision {
  const size = clamp(Math.round(currentSize), policy.min, policy.max);
  const busy = Math.max(0, inUse);
  const utilisation = busy / size;
  const aimed = Math.ceil(busy / policy.targetUtilisation);
  if (utilisation >= policy.scaleUpAt && size < policy.max) {
    return { kind: 'grow', size: clamp(Math.max(aimed, size + 1), policy.min, policy.max) };
  }
  if (utilisation <= policy.scaleDownAt && size > policy.min) {
    return { kind: 'shrink', size: clamp(Math.min(aimed, size - 1), policy.min, policy.max) };
  }
  if (size > currentSize) return { kind: 'grow', size };
  if (size < currentSize) return { kind: 'shrink', size };
  return { kind: 'keep', size };
}
