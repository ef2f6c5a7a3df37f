/**
 * Retry backoff for MC-to-MC coordination (closes open item 2 of ADR-0012).
 *
 * - base delay 50 ms, growth factor 2, cap 3,200 ms (50 ms * 2^6);
 * - equal jitter: the delay after the n-th failure is drawn uniformly from [c/2, c] where
 *   c = min(cap, base * factor^(n-1)). Half of the ceiling is random, which spreads
 *   controllers that failed together; and because every ceiling up to the cap is twice the
 *   previous one, a delay is never shorter than the one before it until the cap is reached
 *   (from then on delays stay within [cap/2, cap]);
 * - overall deadline 10,000 ms from the first attempt: a retry is never scheduled past it,
 *   and once it has passed the coordination gives up and reports the failure.
 *
 * A signalling hop is budgeted at 100 ms (ADR-0012 open item 3); 50 ms first retries keep a
 * transient blip inside that budget, the 3.2 s cap bounds the load a struggling peer sees, and
 * the 10 s deadline is well inside the 5-minute session TTL. Times are milliseconds.
 */
import type { RandomSource } from '../random.ts';

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly factor: number;
  readonly capMs: number;
  /** Total time (ms) allowed from the first attempt. */
  readonly deadlineMs: number;
}

export const MC_COORDINATION_BACKOFF: BackoffPolicy = {
  baseMs: 50,
  factor: 2,
  capMs: 3_200,
  deadlineMs: 10_000,
};

export interface BackoffState {
  /** When (ms) the first attempt was made. */
  readonly startedAt: number;
  /** Failed attempts so far. */
  readonly failures: number;
}

export type BackoffDecision =
  | { readonly kind: 'retry'; readonly at: number; readonly delayMs: number }
  | { readonly kind: 'give-up'; readonly failures: number };

/** Backoff state for a coordination whose first attempt is made at `now` (ms). */
export const startBackoff = (now: number): BackoffState => ({ startedAt: now, failures: 0 });

/** The delay ceiling for the attempt following `failures` failures. */
export function backoffCeiling(failures: number, policy: BackoffPolicy): number {
  const exponent = Math.max(0, failures - 1);
  return Math.min(policy.capMs, policy.baseMs * policy.factor ** exponent);
}

/**
 * Records a failed attempt at `now` (ms) and decides when to retry: an equal-jitter delay,
 * clipped to the deadline, or give up once the deadline has been reached.
 */
export function onAttemptFailed(
  state: BackoffState,
  now: number,
  random: RandomSource,
  policy: BackoffPolicy = MC_COORDINATION_BACKOFF,
): { readonly state: BackoffState; readonly decision: BackoffDecision } {
  const failures = state.failures + 1;
  const next: BackoffState = { startedAt: state.startedAt, failures };
  const deadline = state.startedAt + policy.deadlineMs;
  if (now >= deadline) return { state: next, decision: { kind: 'give-up', failures } };
  const ceiling = backoffCeiling(failures, policy);
  const jittered = ceiling / 2 + random.next() * (ceiling / 2);
  const delayMs = Math.min(jittered, deadline - now);
  return { state: next, decision: { kind: 'retry', at: now + delayMs, delayMs } };
}
