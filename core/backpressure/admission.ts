/**
 * Admission of a participant arriving at a Media Handler (ADR-0012 debate, round 4:
 * "Redis-based regional coordination with least-loaded redirect").
 *
 * A handler accepts while it is below its hard limit. At or above it, the participant is
 * redirected to the least-loaded other handler of the same region, chosen from the load
 * reports handlers publish to the regional Redis; when no handler is eligible, the join is
 * rejected with a retry-after. Both redirect and reject ask for a scale-out, as the hard
 * limit demands. Times are milliseconds.
 */
import type { HandlerId, RegionId } from '../ids.ts';
import type { BandwidthState } from './bandwidth.ts';
import { DEFAULT_BANDWIDTH_POLICY } from './bandwidth.ts';

/** One handler's load as published to the regional store. */
export interface HandlerLoadReport {
  readonly handlerId: HandlerId;
  readonly region: RegionId;
  /** Bandwidth used over capacity, 0..1 (may exceed 1 when overloaded). */
  readonly utilisation: number;
  readonly state: BandwidthState;
  /** When (ms) the handler produced the report. */
  readonly reportedAt: number;
  /** The handler is draining: it takes no new participant, whatever its load. */
  readonly draining?: boolean;
}

export interface AdmissionPolicy {
  /** Utilisation at which no new participant is accepted (the ADR's 80 % hard limit). */
  readonly hardLimitAt: number;
  /** Reports older than this (ms) are ignored: the handler may have died or changed. */
  readonly maxReportAgeMs: number;
  /** How long (ms) a rejected client waits before trying again. */
  readonly retryAfterMs: number;
}

/**
 * Reports are published every few seconds; 10 s tolerates two missed reports. A rejected
 * client retries after 5 s, about the time a scale-out needs to register a new handler.
 */
export const DEFAULT_ADMISSION_POLICY: AdmissionPolicy = {
  hardLimitAt: DEFAULT_BANDWIDTH_POLICY.hardLimitAt,
  maxReportAgeMs: 10_000,
  retryAfterMs: 5_000,
};

/** The handler taking the decision, as it sees itself now. */
export interface LocalHandler {
  readonly handlerId: HandlerId;
  readonly region: RegionId;
  readonly utilisation: number;
  readonly state: BandwidthState;
}

export type AdmissionDecision =
  | { readonly kind: 'accept' }
  | {
      readonly kind: 'redirect';
      readonly to: HandlerId;
      readonly targetUtilisation: number;
      readonly requestScaleOut: true;
    }
  | { readonly kind: 'reject'; readonly retryAfterMs: number; readonly requestScaleOut: true };

/** True when a handler at this load and state may take a new participant. */
export function canAccept(
  utilisation: number,
  state: BandwidthState,
  policy: AdmissionPolicy = DEFAULT_ADMISSION_POLICY,
): boolean {
  return state !== 'hard-limit' && utilisation < policy.hardLimitAt;
}

/**
 * Reports a redirect may target: same region, another handler, fresh at `now`, not draining,
 * and able to accept. A report stamped in the future (clock skew between hosts) counts as fresh.
 */
export function eligibleHandlers(
  local: LocalHandler,
  reports: readonly HandlerLoadReport[],
  now: number,
  policy: AdmissionPolicy = DEFAULT_ADMISSION_POLICY,
): HandlerLoadReport[] {
  return reports.filter(
    (report) =>
      report.region === local.region &&
      report.handlerId !== local.handlerId &&
      now - report.reportedAt <= policy.maxReportAgeMs &&
      report.draining !== true &&
      canAccept(report.utilisation, report.state, policy),
  );
}

/** The least-loaded report; ties go to the smaller handler id so the choice is deterministic. */
export function leastLoaded(reports: readonly HandlerLoadReport[]): HandlerLoadReport | null {
  let best: HandlerLoadReport | null = null;
  for (const report of reports) {
    if (
      best === null ||
      report.utilisation < best.utilisation ||
      (report.utilisation === best.utilisation && report.handlerId < best.handlerId)
    ) {
      best = report;
    }
  }
  return best;
}

/** Decides what to do with a participant arriving at `local` at time `now` (ms). */
export function admitParticipant(
  local: LocalHandler,
  reports: readonly HandlerLoadReport[],
  now: number,
  policy: AdmissionPolicy = DEFAULT_ADMISSION_POLICY,
): AdmissionDecision {
  if (canAccept(local.utilisation, local.state, policy)) return { kind: 'accept' };
  const target = leastLoaded(eligibleHandlers(local, reports, now, policy));
  if (target === null) {
    return { kind: 'reject', retryAfterMs: policy.retryAfterMs, requestScaleOut: true };
  }
  return {
    kind: 'redirect',
    to: target.handlerId,
    targetUtilisation: target.utilisation,
    requestScaleOut: true,
  };
}
