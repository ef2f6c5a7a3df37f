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
