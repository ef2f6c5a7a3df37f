/**
 * The Auth Controller's rate-limit policies (spec 003: "Rate limiting on login attempts",
 * "Rate-limited token generation"), as token buckets (token-bucket.ts). The numbers are
 * project choices; the spec gives none:
 *
 * - login attempts per user: burst 5, then one every 60 s (stops password guessing on one
 *   account without locking a user out for long);
 * - login attempts per source address: burst 20, then one every 3 s (a shared office NAT can
 *   still log many people in, a single host cannot spray many accounts);
 * - token issuance per service client: burst 20, then one every 3 s (service tokens live 2 h
 *   and should be cached; this only stops a runaway client).
 *
 * A login attempt must pass both login buckets, and is charged to both or to neither.
 * `now` is milliseconds since the epoch.
 */
import { takeFromAll, takeTokens } from './token-bucket.ts';
import type { TokenBucketConfig, TokenBucketDecision, TokenBucketState } from './token-bucket.ts';

export const AC_RATE_LIMITS = {
  loginPerUser: { capacity: 5, refillIntervalMs: 60_000 },
  loginPerAddress: { capacity: 20, refillIntervalMs: 3_000 },
  tokenIssuancePerClient: { capacity: 20, refillIntervalMs: 3_000 },
} as const satisfies Record<string, TokenBucketConfig>;

export type AcRateLimitPolicy = keyof typeof AC_RATE_LIMITS;

/**
 * The store key of one bucket, e.g. `ratelimit:loginPerUser:alice`. The subject (user name,
 * address, client id) must already be in canonical form.
 */
export function rateLimitKey(policy: AcRateLimitPolicy, subject: string): string {
  return `ratelimit:${policy}:${subject}`;
}

export interface LoginAttemptDecision {
  readonly allowed: boolean;
  /** 0 when allowed. */
  readonly retryAfterMs: number;
  readonly userState: TokenBucketState;
  readonly addressState: TokenBucketState;
}

/** Decides a login attempt against the per-user and per-address buckets (undefined = full). */
export function checkLoginAttempt(
  userState: TokenBucketState | undefined,
  addressState: TokenBucketState | undefined,
  now: number,
): LoginAttemptDecision {
  const decision = takeFromAll(
    [
      { state: userState, config: AC_RATE_LIMITS.loginPerUser },
      { state: addressState, config: AC_RATE_LIMITS.loginPerAddress },
    ],
    now,
  );
  const [nextUser, nextAddress] = decision.states as [TokenBucketState, TokenBucketState];
  return {
    allowed: decision.allowed,
    retryAfterMs: decision.retryAfterMs,
    userState: nextUser,
    addressState: nextAddress,
  };
}

/** Decides one token issuance for a service client (undefined state = full bucket). */
export function checkTokenIssuance(
  clientState: TokenBucketState | undefined,
  now: number,
): TokenBucketDecision {
  return takeTokens(clientState, AC_RATE_LIMITS.tokenIssuancePerClient, now);
}
