/**
 * The validators' JWKS cache policy (spec 003: "JWKS cached 1 hour, refreshed on unknown
 * kid"; federation: every cluster's Auth Controller is an issuer with its own key set).
 *
 * A pure state machine: `resolveKey` decides, for a token's issuer and kid, whether to use a
 * cached key, fetch the issuer's JWKS and retry, wait for a fetch already under way, or
 * reject. The adapter does the HTTP and reports back with `fetchSucceeded` / `fetchFailed`.
 *
 * Rules, per issuer:
 * - a fetched key set is fresh for `ttlMs` (1 h);
 * - a fetch starts when the set is stale or the kid is unknown, but at most once every
 *   `minRefreshIntervalMs` (30 s) whatever happens, so a flood of forged kids costs the AC
 *   at most two JWKS requests a minute per validator. 30 s is short next to the day for
 *   which the next signing key is pre-published, and long enough to make a kid flood cheap;
 * - a fetch that has not reported back within `fetchTimeoutMs` (10 s) counts as failed;
 * - while a refresh of a stale set is under way or rate-limited, keys of the stale set are
 *   still used for up to `staleGraceMs` (1 h) past the TTL, so a brief AC outage does not
 *   stop validation; after that the issuer's tokens are rejected until a fetch succeeds;
 * - a successful fetch replaces the set, so a key removed from the JWKS stops verifying at
 *   the next refresh.
 *
 * The state is plain data, `now` is milliseconds since the epoch, and key material `K` is
 * opaque.
 */

export interface JwksCachePolicy {
  /** Issuers whose JWKS the validator trusts (federation: one per cluster). */
  readonly trustedIssuers: ReadonlySet<string>;
  /** How long a fetched key set is fresh (ms). */
  readonly ttlMs: number;
  /** Least time between two fetch starts for one issuer (ms). */
  readonly minRefreshIntervalMs: number;
  /** A fetch not reported back within this time is given up (ms). */
  readonly fetchTimeoutMs: number;
  /** How long past the TTL a stale set may still be used while it cannot be refreshed (ms). */
  readonly staleGraceMs: number;
}

/** The defaults for `policy` other than the trusted issuers. */
export const DEFAULT_JWKS_CACHE_TIMING = {
  ttlMs: 3_600_000,
  minRefreshIntervalMs: 30_000,
  fetchTimeoutMs: 10_000,
  staleGraceMs: 3_600_000,
} as const;

/** A JWKS cache policy with the default timing. */
export function jwksCachePolicy(trustedIssuers: Iterable<string>): JwksCachePolicy {
  return { trustedIssuers: new Set(trustedIssuers), ...DEFAULT_JWKS_CACHE_TIMING };
}

export interface IssuerKeys<K> {
  /** The last fetched key set, by kid. */
  readonly keys: Readonly<Record<string, K>>;
  /** When the set was fetched (ms); undefined before the first successful fetch. */
  readonly fetchedAt: number | undefined;
  /** When the last fetch started (ms). */
  readonly fetchStartedAt: number | undefined;
  /** Whether that fetch has not reported back yet. */
  readonly fetchPending: boolean;
}

export type JwksCacheState<K> = Readonly<Record<string, IssuerKeys<K>>>;

export type JwksRejection =
  /** The token's issuer is not in the trusted set. */
  | 'untrusted_issuer'
  /** The issuer's key set lacks the kid, and a refresh is rate-limited. */
  | 'unknown_kid'
  /** No usable key set for the issuer: never fetched, or stale past the grace and unrefreshable. */
  | 'keys_unavailable';

export type JwksDecision<K> =
  /** Verify with this key. When `refreshInBackground`, also fetch the issuer's JWKS. */
  | { readonly kind: 'use_key'; readonly key: K; readonly refreshInBackground: boolean }
  /** Fetch the issuer's JWKS, report the outcome, then resolve again. */
  | { readonly kind: 'fetch_then_retry'; readonly issuer: string }
  /** A fetch of the issuer's JWKS is under way: wait for its outcome, then resolve again. */
  | { readonly kind: 'await_fetch'; readonly issuer: string }
  | { readonly kind: 'reject'; readonly reason: JwksRejection };

export interface JwksResolution<K> {
  readonly state: JwksCacheState<K>;
  readonly decision: JwksDecision<K>;
}

const EMPTY_ISSUER: IssuerKeys<never> = {
  keys: {},
  fetchedAt: undefined,
  fetchStartedAt: undefined,
  fetchPending: false,
};

/** The empty cache. */
export function emptyJwksCache<K>(): JwksCacheState<K> {
  return {};
}

function issuerEntry<K>(state: JwksCacheState<K>, issuer: string): IssuerKeys<K> {
  return state[issuer] ?? EMPTY_ISSUER;
}

function fetchUnderWay(entry: IssuerKeys<unknown>, policy: JwksCachePolicy, now: number): boolean {
  return (
    entry.fetchPending &&
    entry.fetchStartedAt !== undefined &&
    now < entry.fetchStartedAt + policy.fetchTimeoutMs
  );
}

/** The instant from which a new fetch may start: after the rate limit and any fetch under way. */
function fetchAllowedFrom(entry: IssuerKeys<unknown>, policy: JwksCachePolicy): number {
  if (entry.fetchStartedAt === undefined) return Number.NEGATIVE_INFINITY;
  const rateLimitEnd = entry.fetchStartedAt + policy.minRefreshIntervalMs;
  if (!entry.fetchPending) return rateLimitEnd;
  return Math.max(rateLimitEnd, entry.fetchStartedAt + policy.fetchTimeoutMs);
}

function mayStartFetch(entry: IssuerKeys<unknown>, policy: JwksCachePolicy, now: number): boolean {
  return now >= fetchAllowedFrom(entry, policy);
}

function isFresh(entry: IssuerKeys<unknown>, policy: JwksCachePolicy, now: number): boolean {
  return entry.fetchedAt !== undefined && now < entry.fetchedAt + policy.ttlMs;
}

function isWithinGrace(entry: IssuerKeys<unknown>, policy: JwksCachePolicy, now: number): boolean {
  return (
    entry.fetchedAt !== undefined && now < entry.fetchedAt + policy.ttlMs + policy.staleGraceMs
  );
}

function withFetchStarted<K>(
  state: JwksCacheState<K>,
  issuer: string,
  now: number,
): JwksCacheState<K> {
  const entry = issuerEntry(state, issuer);
  return { ...state, [issuer]: { ...entry, fetchStartedAt: now, fetchPending: true } };
}

/** Decides how to obtain the key for a token signed by `issuer` under `kid`, at `now` (ms). */
export function resolveKey<K>(
  state: JwksCacheState<K>,
  policy: JwksCachePolicy,
  issuer: string,
  kid: string,
  now: number,
): JwksResolution<K> {
  if (!policy.trustedIssuers.has(issuer)) {
    return { state, decision: { kind: 'reject', reason: 'untrusted_issuer' } };
  }
  const entry = issuerEntry(state, issuer);
  const key = Object.hasOwn(entry.keys, kid) ? entry.keys[kid] : undefined;
  const fresh = isFresh(entry, policy, now);
  if (key !== undefined && fresh) {
    return { state, decision: { kind: 'use_key', key, refreshInBackground: false } };
  }
  const usable = key !== undefined && isWithinGrace(entry, policy, now);
  if (mayStartFetch(entry, policy, now)) {
    const next = withFetchStarted(state, issuer, now);
    if (usable)
      return { state: next, decision: { kind: 'use_key', key, refreshInBackground: true } };
    return { state: next, decision: { kind: 'fetch_then_retry', issuer } };
  }
  if (usable) return { state, decision: { kind: 'use_key', key, refreshInBackground: false } };
  if (fetchUnderWay(entry, policy, now))
    return { state, decision: { kind: 'await_fetch', issuer } };
  const reason =
    key === undefined && isWithinGrace(entry, policy, now) ? 'unknown_kid' : 'keys_unavailable';
  return { state, decision: { kind: 'reject', reason } };
}

/** Records a successful fetch of `issuer`'s JWKS at `now`: the set replaces the cached one. */
export function fetchSucceeded<K>(
  state: JwksCacheState<K>,
  issuer: string,
  keys: Readonly<Record<string, K>>,
  now: number,
): JwksCacheState<K> {
  const entry = issuerEntry(state, issuer);
  return {
    ...state,
    [issuer]: { ...entry, keys: { ...keys }, fetchedAt: now, fetchPending: false },
  };
}

/** Records a failed fetch of `issuer`'s JWKS; the cached set (if any) is kept. */
export function fetchFailed<K>(state: JwksCacheState<K>, issuer: string): JwksCacheState<K> {
  const entry = issuerEntry(state, issuer);
  return { ...state, [issuer]: { ...entry, fetchPending: false } };
}

/**
 * Starts the fetches a background refresher should make at `now`: every trusted issuer whose
 * set is missing or stale and whose rate limit allows. Lets a service warm its cache at start
 * and refresh before requests have to wait.
 */
export function startDueRefreshes<K>(
  state: JwksCacheState<K>,
  policy: JwksCachePolicy,
  now: number,
): { readonly state: JwksCacheState<K>; readonly fetch: readonly string[] } {
  let next = state;
  const fetch: string[] = [];
  for (const issuer of policy.trustedIssuers) {
    const entry = issuerEntry(next, issuer);
    if (!isFresh(entry, policy, now) && mayStartFetch(entry, policy, now)) {
      next = withFetchStarted(next, issuer, now);
      fetch.push(issuer);
    }
  }
  return { state: next, fetch };
}

/**
 * The next instant (ms) at which `startDueRefreshes` may have work: the earliest instant at
 * which some trusted issuer's set is stale and its fetch allowed; `now` when one is due
 * already; undefined when no issuer is trusted.
 */
export function nextRefreshDeadline(
  state: JwksCacheState<unknown>,
  policy: JwksCachePolicy,
  now: number,
): number | undefined {
  let deadline: number | undefined;
  for (const issuer of policy.trustedIssuers) {
    const entry = issuerEntry(state, issuer);
    const staleAt = (entry.fetchedAt ?? Number.NEGATIVE_INFINITY) + policy.ttlMs;
    const due = Math.max(now, staleAt, fetchAllowedFrom(entry, policy));
    deadline = deadline === undefined ? due : Math.min(deadline, due);
  }
  return deadline;
}
