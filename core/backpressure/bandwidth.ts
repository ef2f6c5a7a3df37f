/**
 * Media Handler bandwidth state with hysteresis (ADR-0012 Operational Thresholds).
 *
 * - `ok` below 70 % of capacity;
 * - `warning` at >= 70 %: emit the metric, prepare to scale;
 * - `hard-limit` at >= 80 %: reject new participants, ask for an immediate scale-out.
 *
 * Escalation is immediate (a state is entered as soon as utilisation reaches its threshold).
 * Recovery uses a margin: a state is left only once utilisation drops below its threshold
 * minus `exitMargin` (default 5 percentage points: `hard-limit` is left below 75 %, `warning`
 * below 65 %). A load hovering around a threshold by less than the margin therefore never
 * flaps. No dwell time is used: the margin alone bounds the number of state changes by the
 * number of margin crossings, and the quality stages (quality.ts) add their own dwell.
 */
import { err, ok } from '../result.ts';
import type { Result } from '../result.ts';

export type BandwidthState = 'ok' | 'warning' | 'hard-limit';

/** States from least to most loaded. */
export const BANDWIDTH_STATES: readonly BandwidthState[] = ['ok', 'warning', 'hard-limit'];

export interface BandwidthPolicy {
  /** Fraction of capacity at which `warning` is entered. */
  readonly warningAt: number;
  /** Fraction of capacity at which `hard-limit` is entered. */
  readonly hardLimitAt: number;
  /** How far below a threshold utilisation must fall before its state is left. */
  readonly exitMargin: number;
}

export const DEFAULT_BANDWIDTH_POLICY: BandwidthPolicy = {
  warningAt: 0.7,
  hardLimitAt: 0.8,
  exitMargin: 0.05,
};

export type BandwidthError =
  | { readonly kind: 'non-positive-capacity'; readonly capacityBps: number }
  | { readonly kind: 'negative-usage'; readonly usedBps: number };

/** Utilisation as a fraction of capacity; both in bits per second. */
export function bandwidthUtilisation(
  usedBps: number,
  capacityBps: number,
): Result<number, BandwidthError> {
  if (!(capacityBps > 0)) return err({ kind: 'non-positive-capacity', capacityBps });
  if (!(usedBps >= 0)) return err({ kind: 'negative-usage', usedBps });
  return ok(usedBps / capacityBps);
}

function enterThreshold(state: BandwidthState, policy: BandwidthPolicy): number {
  switch (state) {
    case 'ok':
      return 0;
    case 'warning':
      return policy.warningAt;
    case 'hard-limit':
      return policy.hardLimitAt;
  }
}

const rank = (state: BandwidthState): number => BANDWIDTH_STATES.indexOf(state);

/** The most loaded state whose threshold `utilisation` reaches, ignoring hysteresis. */
export function rawBandwidthState(
  utilisation: number,
  policy: BandwidthPolicy = DEFAULT_BANDWIDTH_POLICY,
): BandwidthState {
  if (utilisation >= policy.hardLimitAt) return 'hard-limit';
  if (utilisation >= policy.warningAt) return 'warning';
  return 'ok';
}

/**
 * The next bandwidth state given the current one and a fresh utilisation sample.
 * Escalates at once; de-escalates only to the most loaded state whose threshold minus the
 * exit margin the sample still reaches.
 */
export function nextBandwidthState(
  current: BandwidthState,
  utilisation: number,
  policy: BandwidthPolicy = DEFAULT_BANDWIDTH_POLICY,
): BandwidthState {
  const raw = rawBandwidthState(utilisation, policy);
  if (rank(raw) >= rank(current)) return raw;
  for (let level = rank(current); level > rank(raw); level--) {
    const candidate = BANDWIDTH_STATES[level] ?? 'ok';
    if (utilisation >= enterThreshold(candidate, policy) - policy.exitMargin) return candidate;
  }
  return raw;
}

/** True when a handler in this state must refuse new participants. */
export const rejectsNewParticipants = (state: BandwidthState): boolean => state === 'hard-limit';
