/**
 * Tail-based trace sampling (ADR-0012 decision 11): keep 100 % of traces with an error,
 * 100 % of slow traces (longer than 500 ms), and 10 % of the rest.
 *
 * The 10 % is deterministic: the trace id is hashed (32-bit FNV-1a over its UTF-16 code
 * units) and the trace is kept when the hash falls in the lowest tenth of the range. Every
 * collector therefore takes the same decision for the same trace, with no randomness.
 */

export interface SamplingPolicy {
  /** Traces strictly longer than this (ms) are always kept. */
  readonly slowThresholdMs: number;
  /** Share of ordinary traces kept, 0..1. */
  readonly baseRate: number;
}

export const DEFAULT_SAMPLING_POLICY: SamplingPolicy = { slowThresholdMs: 500, baseRate: 0.1 };

export interface TraceSummary {
  readonly traceId: string;
  readonly hasError: boolean;
  readonly durationMs: number;
}

export type SamplingDecision =
  | { readonly keep: true; readonly reason: 'error' | 'slow' | 'sampled' }
  | { readonly keep: false; readonly reason: 'not-sampled' };

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a hash of a string's UTF-16 code units, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

/** Whether the trace id falls in the kept share of the hash range. */
export function inSampledShare(traceId: string, rate: number): boolean {
  return fnv1a32(traceId) / 2 ** 32 < rate;
}

/** Decides whether to keep a finished trace. */
export function sampleTrace(
  trace: TraceSummary,
  policy: SamplingPolicy = DEFAULT_SAMPLING_POLICY,
): SamplingDecision {
  if (trace.hasError) return { keep: true, reason: 'error' };
  if (trace.durationMs > policy.slowThresholdMs) return { keep: true, reason: 'slow' };
  if (inSampledShare(trace.traceId, policy.baseRate)) return { keep: true, reason: 'sampled' };
  return { keep: false, reason: 'not-sampled' };
}
