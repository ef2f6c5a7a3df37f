/**
 * A circuit breaker as a pure state machine (ADR-0012 debate round 4: pool auto-remediation
 * with a circuit breaker).
 *
 * - closed: calls flow; `failureThreshold` consecutive failures open the circuit;
 * - open: calls are refused until `openDurationMs` has passed since it opened;
 * - half-open: up to `halfOpenProbes` calls are let through as probes; once that many have
 *   succeeded the circuit closes, and any failure opens it again for a full duration.
 *
 * Defaults: 5 failures, 30 s open, 3 probes. Times are milliseconds.
 *
 * The caller owns the clock and the calls: it asks with a `request` event before each call
 * (skipping the dependency when refused) and reports the call's `success` or `failure`.
 */

export interface BreakerPolicy {
  readonly failureThreshold: number;
  readonly openDurationMs: number;
  readonly halfOpenProbes: number;
}

export const DEFAULT_BREAKER_POLICY: BreakerPolicy = {
  failureThreshold: 5,
  openDurationMs: 30_000,
  halfOpenProbes: 3,
};

/**
 * The breaker in front of a regional Redis (AC's rate limits; GC's caches, placements and
 * controller availability). Redis must be used again within 10 s of coming back (spec:
 * Redis recovery < 10 s), so it stays open 2 s, not 30; while Redis is still silent, a probe
 * waits out one command timeout every 2 s. One answered probe closes it: a Redis that answers
 * is back, and further probes would refuse the work that follows a recovery (a controller's
 * registration, then the placement backlog it sweeps) while they were counted.
 */
export const REDIS_BREAKER_POLICY: BreakerPolicy = {
  failureThreshold: 5,
  openDurationMs: 2_000,
  halfOpenProbes: 1,
};

export type BreakerState =
  | { readonly kind: 'closed'; readonly consecutiveFailures: number }
  | { readonly kind: 'open'; readonly openedAt: number }
  | { readonly kind: 'half-open'; readonly probesInFlight: number; readonly successes: number };

export const CLOSED_BREAKER: BreakerState = { kind: 'closed', consecutiveFailures: 0 };

export type BreakerEvent =
  { readonly kind: 'request' } | { readonly kind: 'success' } | { readonly kind: 'failure' };

export interface BreakerStep {
  readonly state: BreakerState;
  /** For `request` events: whether the call may go ahead. */
  readonly allowed: boolean;
}

/** Handles one event at `now` (ms). */
export function breakerStep(
  state: BreakerState,
  event: BreakerEvent,
  now: number,
  policy: BreakerPolicy = DEFAULT_BREAKER_POLICY,
): BreakerStep {
  const current = expireOpen(state, now, policy);
  switch (event.kind) {
    case 'request':
      return onRequest(current, policy);
    case 'success':
      return { state: onSuccess(current, policy), allowed: true };
    case 'failure':
      return { state: onFailure(current, now, policy), allowed: true };
  }
}

/** When (ms) an open breaker will let probes through, or null when it is not open. */
export function breakerDeadline(
  state: BreakerState,
  policy: BreakerPolicy = DEFAULT_BREAKER_POLICY,
): number | null {
  return state.kind === 'open' ? state.openedAt + policy.openDurationMs : null;
}

/**
 * The state as of `now` without an event: an open breaker whose open duration has passed is
 * half-open (its next request is a probe). For reports (metrics, readiness); it takes no probe.
 */
export function breakerStateAt(
  state: BreakerState,
  now: number,
  policy: BreakerPolicy = DEFAULT_BREAKER_POLICY,
): BreakerState {
  return expireOpen(state, now, policy);
}

function expireOpen(state: BreakerState, now: number, policy: BreakerPolicy): BreakerState {
  if (state.kind === 'open' && now >= state.openedAt + policy.openDurationMs) {
    return { kind: 'half-open', probesInFlight: 0, successes: 0 };
  }
  return state;
}

function onRequest(state: BreakerState, policy: BreakerPolicy): BreakerStep {
  switch (state.kind) {
    case 'closed':
      return { state, allowed: true };
    case 'open':
      return { state, allowed: false };
    case 'half-open':
      if (state.probesInFlight + state.successes >= policy.halfOpenProbes) {
        return { state, allowed: false };
      }
      return { state: { ...state, probesInFlight: state.probesInFlight + 1 }, allowed: true };
  }
}

function onSuccess(state: BreakerState, policy: BreakerPolicy): BreakerState {
  switch (state.kind) {
    case 'closed':
      return CLOSED_BREAKER;
    case 'open':
      return state;
    case 'half-open': {
      const successes = state.successes + 1;
      if (successes >= policy.halfOpenProbes) return CLOSED_BREAKER;
      return {
        kind: 'half-open',
        probesInFlight: Math.max(0, state.probesInFlight - 1),
        successes,
      };
    }
  }
}

function onFailure(state: BreakerState, now: number, policy: BreakerPolicy): BreakerState {
  switch (state.kind) {
    case 'closed': {
      const consecutiveFailures = state.consecutiveFailures + 1;
      if (consecutiveFailures >= policy.failureThreshold) return { kind: 'open', openedAt: now };
      return { kind: 'closed', consecutiveFailures };
    }
    case 'open':
      return state;
    case 'half-open':
      return { kind: 'open', openedAt: now };
  }
}
