/**
 * When a service refreshes its own access token (client credentials at AC) and how it backs off
 * when AC does not answer: a poll-style machine (DESIGN.md, "Machines"). The driver asks AC when
 * the machine outputs `fetch`, reports the answer (`issued` or `failed`) and wakes it at
 * `pollTimeout`; it decides nothing.
 *
 * Rules (times in milliseconds):
 * - the first fetch is due at once;
 * - a token issued with lifetime L (AC's `expires_in`, counted from when the request was sent,
 *   so a slow answer errs early) is refreshed once `refreshFraction` of L has passed (half: a
 *   2-hour service token is refreshed after 1 hour, which leaves an hour of retries before it
 *   expires), and no later than `minLeadMs` before its expiry when it lives longer than that;
 * - a failed fetch is retried with equal-jitter exponential backoff (core/backpressure/backoff:
 *   500 ms doubling to a 30 s cap) and never given up; a `Retry-After` AC sent is honoured when
 *   it is longer than the backoff's delay;
 * - a fetch that has not reported back within `fetchTimeoutMs` counts as failed;
 * - the held token stays usable until a margin before its expiry (`expiryMarginMs`, or a tenth of
 *   its lifetime when that is shorter, so a short token is still handed out when its refresh is
 *   due), whatever the fetches do; after that the machine holds none until a fetch succeeds.
 */
import {
  onAttemptFailed,
  startBackoff,
  type BackoffPolicy,
  type BackoffState,
} from '../backpressure/backoff.ts';
import type { RandomSource } from '../random.ts';

export interface TokenRefreshPolicy {
  /** Share of the token's lifetime after which it is refreshed, in (0, 1). */
  readonly refreshFraction: number;
  /** A refresh is due at least this long before expiry. */
  readonly minLeadMs: number;
  /** A token is no longer handed out this long before its expiry (at most a tenth of its life). */
  readonly expiryMarginMs: number;
  /** A fetch without an answer after this long is failed. */
  readonly fetchTimeoutMs: number;
  /** Retries of failed fetches (its deadline is ignored: a service never stops asking). */
  readonly backoff: BackoffPolicy;
}

export const SERVICE_TOKEN_REFRESH: TokenRefreshPolicy = {
  refreshFraction: 0.5,
  minLeadMs: 60_000,
  expiryMarginMs: 5_000,
  fetchTimeoutMs: 10_000,
  backoff: { baseMs: 500, factor: 2, capMs: 30_000, deadlineMs: Number.POSITIVE_INFINITY },
};

/** What the driver reports. */
export type TokenRefreshInput =
  /** AC issued a token valid for `lifetimeMs` (its `expires_in`). */
  | { readonly type: 'issued'; readonly token: string; readonly lifetimeMs: number }
  /** The fetch failed; `retryAfterMs` when AC named a wait (429, 503). */
  | { readonly type: 'failed'; readonly retryAfterMs?: number };

/** What the machine asks of its driver. */
export type TokenRefreshOutput =
  /** Ask AC for a token now (one at a time). */
  | { readonly type: 'fetch' }
  /** A retry is scheduled after the `failures`-th failure in a row. */
  | { readonly type: 'retry-scheduled'; readonly failures: number; readonly at: number };

interface HeldToken {
  readonly token: string;
  readonly expiresAt: number;
  /** From when it is no longer handed out. */
  readonly usableUntil: number;
}

export class TokenRefresh {
  private held: HeldToken | undefined;
  /** When the next fetch is due; null while one is under way. */
  private dueAt: number | null;
  /** When the fetch under way started; null when none is. */
  private fetchStartedAt: number | null = null;
  private backoff: BackoffState | undefined;
  private readonly outputs: TokenRefreshOutput[] = [];

  constructor(
    now: number,
    private readonly random: RandomSource,
    private readonly policy: TokenRefreshPolicy = SERVICE_TOKEN_REFRESH,
  ) {
    this.dueAt = now;
  }

  /** The token to send at `now`, if one is held and not about to expire. */
  token(now: number): string | undefined {
    if (this.held === undefined) return undefined;
    if (now >= this.held.usableUntil) return undefined;
    return this.held.token;
  }

  /** Failed fetches in a row (0 once one succeeds). */
  get failures(): number {
    return this.backoff?.failures ?? 0;
  }

  handle(input: TokenRefreshInput, now: number): void {
    const started = this.fetchStartedAt;
    if (started === null) return; // an answer to a fetch already timed out: ignored
    this.fetchStartedAt = null;
    if (input.type === 'issued' && input.lifetimeMs > 0 && input.token !== '') {
      const expiresAt = started + input.lifetimeMs;
      const margin = Math.min(this.policy.expiryMarginMs, input.lifetimeMs / 10);
      this.held = { token: input.token, expiresAt, usableUntil: expiresAt - margin };
      this.backoff = undefined;
      // The lead applies only to a token that lives longer than it; a shorter one is refreshed
      // at the fraction alone (never at once, which would ask AC in a loop).
      const byFraction = input.lifetimeMs * this.policy.refreshFraction;
      const byLead = input.lifetimeMs - this.policy.minLeadMs;
      const after = byLead > 0 ? Math.min(byFraction, byLead) : byFraction;
      this.dueAt = Math.max(now, started + after);
      return;
    }
    this.failed(now, input.type === 'failed' ? input.retryAfterMs : undefined);
  }

  handleTimeout(now: number): void {
    if (this.fetchStartedAt !== null) {
      if (now >= this.fetchStartedAt + this.policy.fetchTimeoutMs) {
        this.fetchStartedAt = null;
        this.failed(now, undefined);
      }
      return;
    }
    if (this.dueAt !== null && now >= this.dueAt) {
      this.dueAt = null;
      this.fetchStartedAt = now;
      this.outputs.push({ type: 'fetch' });
    }
  }

  pollOutput(): TokenRefreshOutput | null {
    return this.outputs.shift() ?? null;
  }

  pollTimeout(): number | null {
    if (this.fetchStartedAt !== null) return this.fetchStartedAt + this.policy.fetchTimeoutMs;
    return this.dueAt;
  }

  private failed(now: number, retryAfterMs: number | undefined): void {
    const { state, decision } = onAttemptFailed(
      this.backoff ?? startBackoff(now),
      now,
      this.random,
      this.policy.backoff,
    );
    this.backoff = state;
    // The policy's deadline is infinite, so the decision is always a retry.
    const backoffAt = decision.kind === 'retry' ? decision.at : now + this.policy.backoff.capMs;
    const at = Math.max(backoffAt, now + (retryAfterMs ?? 0));
    this.dueAt = at;
    this.outputs.push({ type: 'retry-scheduled', failures: state.failures, at });
  }
}
