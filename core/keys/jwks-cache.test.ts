import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  emptyJwksCache,
  fetchFailed,
  fetchSucceeded,
  jwksCachePolicy,
  nextRefreshDeadline,
  resolveKey,
  startDueRefreshes,
} from './jwks-cache.ts';
import type { JwksCacheState, JwksDecision } from './jwks-cache.ts';

const US = 'https://ac.us-west-1';
const EU = 'https://ac.eu-west-1';
const policy = jwksCachePolicy([US, EU]);
const HOUR_MS = 3_600_000;
const T0 = 1_800_000_000_000;

type Key = string;
const decide = (state: JwksCacheState<Key>, issuer: string, kid: string, now: number) =>
  resolveKey(state, policy, issuer, kid, now);

/** A cache holding `kids` for `issuer`, fetched at `at`. */
const cacheWith = (issuer: string, kids: string[], at: number): JwksCacheState<Key> => {
  const started = decide(emptyJwksCache(), issuer, kids[0] ?? 'k', at).state;
  return fetchSucceeded(started, issuer, Object.fromEntries(kids.map((k) => [k, `key:${k}`])), at);
};

describe('JWKS cache policy', () => {
  it('fetches on first use, then uses the cached key', () => {
    const first = decide(emptyJwksCache(), US, 'k1', T0);
    expect(first.decision).toEqual({ kind: 'fetch_then_retry', issuer: US });
    const filled = fetchSucceeded(first.state, US, { k1: 'key:k1' }, T0 + 50);
    expect(decide(filled, US, 'k1', T0 + 60).decision).toEqual({
      kind: 'use_key',
      key: 'key:k1',
      refreshInBackground: false,
    });
  });

  it('rejects untrusted issuers without fetching', () => {
    expect(decide(emptyJwksCache(), 'https://evil', 'k1', T0).decision).toEqual({
      kind: 'reject',
      reason: 'untrusted_issuer',
    });
  });

  it('refreshes on an unknown kid, but at most once per rate-limit interval', () => {
    const cache = cacheWith(US, ['k1'], T0);
    const refresh = decide(cache, US, 'k2', T0 + policy.minRefreshIntervalMs);
    expect(refresh.decision.kind).toBe('fetch_then_retry');
    const after = fetchSucceeded(refresh.state, US, { k1: 'key:k1' }, T0 + 30_100);
    // Still unknown after the refresh: rejected until the interval has passed.
    const limitedAt = T0 + 2 * policy.minRefreshIntervalMs - 1;
    expect(decide(after, US, 'k2', limitedAt).decision).toEqual({
      kind: 'reject',
      reason: 'unknown_kid',
    });
    expect(decide(after, US, 'k2', limitedAt + 1).decision.kind).toBe('fetch_then_retry');
  });

  it('makes concurrent callers wait for the fetch under way, until it times out', () => {
    const first = decide(emptyJwksCache(), US, 'k1', T0);
    expect(decide(first.state, US, 'k1', T0 + 1).decision).toEqual({
      kind: 'await_fetch',
      issuer: US,
    });
    expect(decide(first.state, US, 'k1', T0 + policy.fetchTimeoutMs).decision).toEqual({
      kind: 'reject',
      reason: 'keys_unavailable',
    });
  });

  it('refreshes a stale set in the background and keeps using it within the grace', () => {
    const cache = cacheWith(US, ['k1'], T0);
    const stale = T0 + HOUR_MS;
    const background = decide(cache, US, 'k1', stale);
    expect(background.decision).toEqual({
      kind: 'use_key',
      key: 'key:k1',
      refreshInBackground: true,
    });
    const failed = fetchFailed(background.state, US);
    expect(decide(failed, US, 'k1', stale + 1).decision).toMatchObject({
      kind: 'use_key',
      refreshInBackground: false,
    });
    const beyondGrace = T0 + HOUR_MS + policy.staleGraceMs;
    const limited = decide(failed, US, 'k1', beyondGrace).decision;
    expect(limited.kind).toBe('fetch_then_retry');
  });

  it('drops keys that disappear from the JWKS', () => {
    const cache = cacheWith(US, ['k1', 'k2'], T0);
    const refreshing = decide(cache, US, 'k2', T0 + HOUR_MS);
    expect(refreshing.decision).toMatchObject({ kind: 'use_key', refreshInBackground: true });
    const refreshed = fetchSucceeded(refreshing.state, US, { k2: 'key:k2' }, T0 + HOUR_MS);
    expect(decide(refreshed, US, 'k1', T0 + HOUR_MS + 1).decision).toEqual({
      kind: 'reject',
      reason: 'unknown_kid',
    });
  });

  it('keeps each federated issuer separate', () => {
    const cache = cacheWith(US, ['shared-kid'], T0);
    expect(decide(cache, EU, 'shared-kid', T0 + 1).decision.kind).toBe('fetch_then_retry');
  });

  it('warms every trusted issuer and reports the next refresh deadline', () => {
    const warm = startDueRefreshes(emptyJwksCache<Key>(), policy, T0);
    expect([...warm.fetch].sort()).toEqual([EU, US]);
    expect(startDueRefreshes(warm.state, policy, T0 + 1).fetch).toEqual([]);
    let state = fetchSucceeded(warm.state, US, { k1: 'key:k1' }, T0 + 10);
    state = fetchSucceeded(state, EU, { e1: 'key:e1' }, T0 + 20);
    expect(nextRefreshDeadline(state, policy, T0 + 30)).toBe(T0 + 10 + HOUR_MS);
  });

  it('never starts two fetches for one issuer within the rate limit, whatever the kid flood', () => {
    const operation = fc.oneof(
      fc.record({
        type: fc.constant('resolve' as const),
        issuer: fc.constantFrom(US, EU, 'https://evil'),
        kid: fc.oneof(fc.constantFrom('k1', 'k2', 'k3'), fc.string({ maxLength: 4 })),
      }),
      fc.record({ type: fc.constant('complete' as const), succeed: fc.boolean() }),
      fc.record({ type: fc.constant('background' as const) }),
    );
    const scenario = fc.array(
      fc.record({ advanceMs: fc.integer({ min: 0, max: 20_000 }), operation }),
      { maxLength: 400 },
    );
    fc.assert(
      fc.property(scenario, (steps) => {
        let state = emptyJwksCache<Key>();
        let now = T0;
        const starts = new Map<string, number[]>();
        const inFlight: string[] = [];
        const served: Record<string, Record<string, Key>> = {
          [US]: { k1: 'key:k1', k2: 'key:k2' },
          [EU]: { k3: 'key:k3' },
        };
        const recordStart = (issuer: string) => {
          starts.set(issuer, [...(starts.get(issuer) ?? []), now]);
          inFlight.push(issuer);
        };
        const check = (issuer: string, kid: string, decision: JwksDecision<Key>) => {
          if (decision.kind === 'use_key') {
            expect(decision.key).toBe(served[issuer]?.[kid]);
            if (decision.refreshInBackground) recordStart(issuer);
          }
          if (decision.kind === 'fetch_then_retry') recordStart(issuer);
        };
        for (const { advanceMs, operation: op } of steps) {
          now += advanceMs;
          if (op.type === 'resolve') {
            const result = resolveKey(state, policy, op.issuer, op.kid, now);
            state = result.state;
            check(op.issuer, op.kid, result.decision);
          } else if (op.type === 'complete') {
            const issuer = inFlight.shift();
            if (issuer === undefined) continue;
            state = op.succeed
              ? fetchSucceeded(state, issuer, served[issuer] ?? {}, now)
              : fetchFailed(state, issuer);
          } else {
            const due = startDueRefreshes(state, policy, now);
            state = due.state;
            due.fetch.forEach(recordStart);
          }
        }
        expect(starts.has('https://evil')).toBe(false);
        for (const times of starts.values()) {
          for (let i = 1; i < times.length; i++) {
            expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(policy.minRefreshIntervalMs);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
