/**
 * The Auth Controller's rate-limit policies (spec 003: "Rate limiting on login attempts",
 * "Rate-limited token generation"), as token buckets (token-bucket.ts). The numbers are
 * project choices; the spec gives none. With the defaults:
 *
 * - login attempts per (user, source address): burst 5, then one every 12 s. Every attempt
 *   is charged, before the password is checked: it stops guessing one account from one
 *   address, and locks out only that address for that account;
 * - failed logins per user: burst 20, then one every 6 s. Only failures are charged, so a
 *   user who logs in is never counted; an attempt needs a token here but takes none. It
 *   stops guessing one account from many addresses. Its burst is 4x and its refill 2x the
 *   per-(user, address) bucket's, so one address alone can never empty it: attempts from
 *   one address cannot lock the user out from another;
 * - login attempts per source address: burst 20, then one every 3 s (a shared office NAT can
 *   still log many people in, a single host cannot spray many accounts);
 * - token issuance per service client: burst 20, then one every 3 s (service tokens live 2 h
 *   and should be cached; this only stops a runaway client). Charged after the client
 *   authenticated, so a stranger cannot use up a client's bucket.
 *
 * The login buckets scale together from one setting (`acRateLimits`). `now` is milliseconds
 * since the epoch.
 */
import { takeFromAll } from './token-bucket.ts';
import type { TokenBucketConfig, TokenBucketState } from './token-bucket.ts';

export interface AcRateLimits {
  readonly loginPerUserAddress: TokenBucketConfig;
  readonly loginFailuresPerUser: TokenBucketConfig;
  readonly loginPerAddress: TokenBucketConfig;
  readonly tokenIssuancePerClient: TokenBucketConfig;
}

export type AcRateLimitPolicy = keyof AcRateLimits;

/** Default login attempts per (user, address): the setting every login bucket derives from. */
export const DEFAULT_LOGIN_LIMIT: TokenBucketConfig = { capacity: 5, refillIntervalMs: 12_000 };
/** Default service-token issuance per client. */
export const DEFAULT_TOKEN_ISSUANCE_LIMIT: TokenBucketConfig = {
  capacity: 20,
  refillIntervalMs: 3_000,
};

/**
 * The AC's limits from the per-(user, address) login bucket and the per-client issuance
 * bucket: failures per user get 4x the burst and twice the refill rate, each address 4x the
 * burst and four times the refill rate.
 */
export function acRateLimits(
  login: TokenBucketConfig = DEFAULT_LOGIN_LIMIT,
  tokenIssuance: TokenBucketConfig = DEFAULT_TOKEN_ISSUANCE_LIMIT,
): AcRateLimits {
  const faster = (factor: number) => Math.max(1, Math.floor(login.refillIntervalMs / factor));
  return {
    loginPerUserAddress: login,
    loginFailuresPerUser: { capacity: login.capacity * 4, refillIntervalMs: faster(2) },
    loginPerAddress: { capacity: login.capacity * 4, refillIntervalMs: faster(4) },
    tokenIssuancePerClient: tokenIssuance,
  };
}

export const AC_RATE_LIMITS: AcRateLimits = acRateLimits();

/**
 * The store key of one bucket, e.g. `ratelimit:loginPerUserAddress:alice/10.0.0.1`. Subjects
 * (user name, address, client id) must already be in canonical form, and must not contain
 * `/` (a pair's subject is the two joined by `/`).
 */
export function rateLimitKey(policy: AcRateLimitPolicy, subject: string): string {
  return `ratelimit:${policy}:${subject}`;
}

/** One bucket a request is checked against: its key, configuration, and whether it is charged. */
export interface RateLimitCharge {
  readonly key: string;
  readonly config: TokenBucketConfig;
  /** False: the bucket must hold a token, but this request takes none. */
  readonly take: boolean;
}

const charge = (
  limits: AcRateLimits,
  policy: AcRateLimitPolicy,
  subject: string,
  take: boolean,
): RateLimitCharge => ({ key: rateLimitKey(policy, subject), config: limits[policy], take });

/** The buckets a login attempt must pass, before its password is checked (all or none charged). */
export function loginAttemptCharges(
  limits: AcRateLimits,
  user: string,
  address: string,
): RateLimitCharge[] {
  return [
    charge(limits, 'loginPerUserAddress', `${user}/${address}`, true),
    charge(limits, 'loginPerAddress', address, true),
    charge(limits, 'loginFailuresPerUser', user, false),
  ];
}

/** The buckets a failed login is charged to, after the password did not match. */
export function loginFailureCharges(limits: AcRateLimits, user: string): RateLimitCharge[] {
  return [charge(limits, 'loginFailuresPerUser', user, true)];
}

/** The bucket a service-token issuance is charged to, after the client authenticated. */
export function tokenIssuanceCharges(limits: AcRateLimits, clientId: string): RateLimitCharge[] {
  return [charge(limits, 'tokenIssuancePerClient', clientId, true)];
}

/** Bucket states by store key; a missing key is a full bucket. */
export type BucketStates = ReadonlyMap<string, TokenBucketState>;

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** 0 when allowed. */
  readonly retryAfterMs: number;
  /** Every bucket's state after the decision, by key (unchanged buckets included). */
  readonly states: Map<string, TokenBucketState>;
}

/** Decides `charges` against stored states, as every TokenBuckets store does atomically. */
export function decide(
  charges: readonly RateLimitCharge[],
  states: BucketStates,
  now: number,
): RateLimitDecision {
  const decision = takeFromAll(
    charges.map((c) => ({ state: states.get(c.key), config: c.config, take: c.take })),
    now,
  );
  const next = new Map(states);
  charges.forEach((c, i) => next.set(c.key, decision.states[i] as TokenBucketState));
  return { allowed: decision.allowed, retryAfterMs: decision.retryAfterMs, states: next };
}
