/**
 * Feature-flag resolution with the ADR's three-tier fallback (ADR-0012 decision 10):
 * etcd -> local cache -> static defaults.
 *
 * - etcd reachable: it is authoritative. A flag it holds is used; a flag it does not hold
 *   falls to the static default (the cache mirrors etcd, so it would only resurrect a flag
 *   that was deleted on purpose).
 * - etcd unreachable: the cache is used if it holds the flag. A cache older than
 *   `maxCacheAgeMs` (30 s: six missed 5 s polls, the ADR's poll fallback) is reported stale
 *   but still preferred to the static defaults, because a recent operator decision (a kill
 *   switch, say) is likelier right than the value compiled into the service.
 * - otherwise the static default; a flag without one is an error.
 *
 * Times are milliseconds.
 */
import { err, ok } from '../result.ts';
import type { Result } from '../result.ts';

export type FlagValue = boolean | number | string;

export type EtcdTier =
  | { readonly reachable: true; readonly values: ReadonlyMap<string, FlagValue> }
  | { readonly reachable: false };

export interface CacheTier {
  readonly values: ReadonlyMap<string, FlagValue>;
  /** When (ms) the cache was last filled from etcd. */
  readonly fetchedAt: number;
}

export interface FlagTiers {
  readonly etcd: EtcdTier;
  readonly cache: CacheTier | null;
  readonly defaults: ReadonlyMap<string, FlagValue>;
}

export const DEFAULT_MAX_CACHE_AGE_MS = 30_000;

export type ResolvedFlag =
  | { readonly value: FlagValue; readonly source: 'etcd' }
  | {
      readonly value: FlagValue;
      readonly source: 'cache';
      readonly ageMs: number;
      readonly stale: boolean;
    }
  | { readonly value: FlagValue; readonly source: 'default' };

export type FlagError = { readonly kind: 'unknown-flag'; readonly name: string };

/** Resolves one flag at `now` (ms), reporting which tier answered and how fresh it was. */
export function resolveFlag(
  name: string,
  tiers: FlagTiers,
  now: number,
  maxCacheAgeMs: number = DEFAULT_MAX_CACHE_AGE_MS,
): Result<ResolvedFlag, FlagError> {
  if (tiers.etcd.reachable) {
    const value = tiers.etcd.values.get(name);
    if (value !== undefined) return ok({ value, source: 'etcd' });
  } else {
    const cached = tiers.cache?.values.get(name);
    if (tiers.cache && cached !== undefined) {
      const ageMs = Math.max(0, now - tiers.cache.fetchedAt);
      return ok({ value: cached, source: 'cache', ageMs, stale: ageMs > maxCacheAgeMs });
    }
  }
  const fallback = tiers.defaults.get(name);
  if (fallback === undefined) return err({ kind: 'unknown-flag', name });
  return ok({ value: fallback, source: 'default' });
}
