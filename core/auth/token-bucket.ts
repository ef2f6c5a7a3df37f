/**
 * A token-bucket rate limiter as a pure function: state in, decision and new state out.
 *
 * The bucket holds up to `capacity` whole tokens and gains one token every
 * `refillIntervalMs` milliseconds. Integer arithmetic only, so the guarantee is exact: over
 * any window of `elapsed` ms a bucket never allows more than
 * `capacity + floor(elapsed / refillIntervalMs)` tokens.
 *
 * The state is two integers, small and JSON-serialisable (the AC keeps it in Redis). `now` is
 * milliseconds since the epoch. A clock that steps backwards refills nothing.
 */

export interface TokenBucketConfig {
  /** Largest burst: whole tokens held when full. */
  readonly capacity: number;
  /** One token is added every this many milliseconds. */
  readonly refillIntervalMs: number;
}

export interface TokenBucketState {
  /** Whole tokens available at `refilledAt`. */
  readonly tokens: number;
  /** The instant (ms) up to which refills have been counted. */
  readonly refilledAt: number;
}

export type TokenBucketDecision =
  | { readonly allowed: true; readonly state: TokenBucketState }
  | { readonly allowed: false; readonly retryAfterMs: number; readonly state: TokenBucketState };

/** A full bucket at `now`: the state to use for a key that has no stored state. */
export function fullBucket(config: TokenBucketConfig, now: number): TokenBucketState {
  return { tokens: config.capacity, refilledAt: now };
}

/** The bucket's state at `now`, with the refills earned since `refilledAt` added. */
export function refill(
  state: TokenBucketState,
  config: TokenBucketConfig,
  now: number,
): TokenBucketState {
  const earned = Math.floor(Math.max(0, now - state.refilledAt) / config.refillIntervalMs);
  const tokens = Math.min(config.capacity, state.tokens + earned);
  if (tokens === config.capacity) return { tokens, refilledAt: Math.max(now, state.refilledAt) };
  return { tokens, refilledAt: state.refilledAt + earned * config.refillIntervalMs };
}

/**
 * Takes `cost` tokens (default 1) at `now`. When the bucket holds too few, the request is
 * refused, nothing is taken, and `retryAfterMs` says how long until enough tokens exist
 * (if `cost` exceeds the capacity the request can never pass and `retryAfterMs` is Infinity).
 * `state` undefined means a fresh, full bucket.
 */
export function takeTokens(
  state: TokenBucketState | undefined,
  config: TokenBucketConfig,
  now: number,
  cost = 1,
): TokenBucketDecision {
  const current = refill(state ?? fullBucket(config, now), config, now);
  if (current.tokens >= cost) {
    return { allowed: true, state: { ...current, tokens: current.tokens - cost } };
  }
  return { allowed: false, retryAfterMs: retryAfterMs(current, config, now, cost), state: current };
}

function retryAfterMs(
  state: TokenBucketState,
  config: TokenBucketConfig,
  now: number,
  cost: number,
): number {
  if (cost > config.capacity) return Number.POSITIVE_INFINITY;
  const readyAt = state.refilledAt + (cost - state.tokens) * config.refillIntervalMs;
  return Math.max(0, readyAt - now);
}

/**
 * Milliseconds after `now` at which the bucket will be full again; a store may expire the
 * key then, because a missing key means a full bucket.
 */
export function msUntilFull(
  state: TokenBucketState,
  config: TokenBucketConfig,
  now: number,
): number {
  const current = refill(state, config, now);
  const missing = config.capacity - current.tokens;
  if (missing === 0) return 0;
  return Math.max(0, current.refilledAt + missing * config.refillIntervalMs - now);
}

/**
 * Takes one token from each of several buckets atomically: allowed only when every bucket
 * allows, and then all are charged; when any refuses, none is charged and `retryAfterMs` is
 * the longest wait among the refusals. A bucket with `take: false` must hold a token but is
 * not charged (a limit that something else, e.g. only failures, charges). States are
 * returned in the input order.
 */
export function takeFromAll(
  buckets: readonly {
    readonly state: TokenBucketState | undefined;
    readonly config: TokenBucketConfig;
    readonly take?: boolean;
  }[],
  now: number,
): {
  readonly allowed: boolean;
  readonly retryAfterMs: number;
  readonly states: TokenBucketState[];
} {
  const decisions = buckets.map((bucket) => takeTokens(bucket.state, bucket.config, now));
  const refusals = decisions.flatMap((d) => (d.allowed ? [] : [d.retryAfterMs]));
  if (refusals.length === 0) {
    const states = decisions.map((d, i) => {
      const bucket = buckets[i];
      return bucket?.take === false
        ? refill(bucket.state ?? fullBucket(bucket.config, now), bucket.config, now)
        : d.state;
    });
    return { allowed: true, retryAfterMs: 0, states };
  }
  const untouched = buckets.map((bucket) =>
    refill(bucket.state ?? fullBucket(bucket.config, now), bucket.config, now),
  );
  return { allowed: false, retryAfterMs: Math.max(...refusals), states: untouched };
}
