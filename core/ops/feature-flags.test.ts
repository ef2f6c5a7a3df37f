import { describe, expect, it } from 'vitest';
import { resolveFlag } from './feature-flags.ts';
import type { FlagTiers, FlagValue } from './feature-flags.ts';

const map = (entries: Record<string, FlagValue>) => new Map(Object.entries(entries));
const defaults = map({ 'simulcast.enabled': true, 'layout.max_tiles': 9 });
const cache = { values: map({ 'simulcast.enabled': false }), fetchedAt: 100_000 };

const tiers = (over: Partial<FlagTiers>): FlagTiers => ({
  etcd: { reachable: true, values: map({ 'simulcast.enabled': false, 'layout.max_tiles': 16 }) },
  cache,
  defaults,
  ...over,
});

describe('feature flags', () => {
  it('prefers etcd when it is reachable', () => {
    expect(resolveFlag('layout.max_tiles', tiers({}), 0)).toEqual({
      ok: true,
      value: { value: 16, source: 'etcd' },
    });
  });

  it('falls to the static default for a flag a reachable etcd does not hold', () => {
    const etcd = { reachable: true as const, values: map({}) };
    expect(resolveFlag('simulcast.enabled', tiers({ etcd }), 0)).toEqual({
      ok: true,
      value: { value: true, source: 'default' },
    });
  });

  it('uses the cache when etcd is down, fresh up to 30 s and stale after', () => {
    const down = tiers({ etcd: { reachable: false } });
    expect(resolveFlag('simulcast.enabled', down, 130_000)).toEqual({
      ok: true,
      value: { value: false, source: 'cache', ageMs: 30_000, stale: false },
    });
    expect(resolveFlag('simulcast.enabled', down, 130_001)).toEqual({
      ok: true,
      value: { value: false, source: 'cache', ageMs: 30_001, stale: true },
    });
  });

  it('falls to the static default when neither etcd nor the cache can answer', () => {
    const down = tiers({ etcd: { reachable: false } });
    expect(resolveFlag('layout.max_tiles', down, 0)).toEqual({
      ok: true,
      value: { value: 9, source: 'default' },
    });
    const noCache = tiers({ etcd: { reachable: false }, cache: null });
    expect(resolveFlag('simulcast.enabled', noCache, 0)).toEqual({
      ok: true,
      value: { value: true, source: 'default' },
    });
  });

  it('reports a flag no tier knows', () => {
    expect(resolveFlag('nope', tiers({ etcd: { reachable: false } }), 0)).toEqual({
      ok: false,
      error: { kind: 'unknown-flag', name: 'nope' },
    });
  });
});
