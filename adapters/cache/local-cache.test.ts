import { describe, expect, it } from 'vitest';
import { CacheCoherence, LocalCache } from './local-cache.ts';

function setUp(live = true) {
  let now = 1_000;
  const coherence = new CacheCoherence(live);
  const cache = new LocalCache<string>(coherence, { capacity: 3, ttlMs: 5_000, now: () => now });
  let loads = 0;
  const load = (value: string | undefined) => async () => {
    loads++;
    return value;
  };
  return {
    coherence,
    cache,
    load,
    loads: () => loads,
    advance: (ms: number) => (now += ms),
  };
}

describe('LocalCache', () => {
  it('serves a loaded value until its time to live is over', async () => {
    const { cache, load, loads, advance } = setUp();
    expect(await cache.read('a', load('one'))).toBe('one');
    expect(await cache.read('a', load('two'))).toBe('one');
    expect(loads()).toBe(1);
    advance(5_000);
    expect(cache.peek('a')).toBe('one');
    advance(1);
    expect(await cache.read('a', load('two'))).toBe('two');
    expect(loads()).toBe(2);
  });

  it('never caches an absent value', async () => {
    const { cache, load, loads } = setUp();
    expect(await cache.read('a', load(undefined))).toBeUndefined();
    expect(await cache.read('a', load('late'))).toBe('late');
    expect(loads()).toBe(2);
  });

  it('keeps at most its capacity, dropping the least recently used', async () => {
    const { cache, load } = setUp();
    for (const key of ['a', 'b', 'c']) await cache.read(key, load(key));
    cache.peek('a');
    await cache.read('d', load('d'));
    expect(cache.peek('b')).toBeUndefined();
    expect(['a', 'c', 'd'].map((key) => cache.peek(key))).toEqual(['a', 'c', 'd']);
  });

  it('drops an invalidated key at once', async () => {
    const { coherence, cache, load } = setUp();
    await cache.read('a', load('old'));
    await cache.read('b', load('other'));
    coherence.invalidate('a');
    expect(cache.peek('a')).toBeUndefined();
    expect(cache.peek('b')).toBe('other');
    expect(await cache.read('a', load('new'))).toBe('new');
  });

  it('does not cache a value loaded while an invalidation arrived', async () => {
    const { coherence, cache } = setUp();
    let finish: (value: string) => void = () => undefined;
    const slow = cache.read('a', () => new Promise<string>((resolve) => (finish = resolve)));
    coherence.invalidate('a');
    finish('loaded before the write');
    expect(await slow).toBe('loaded before the write');
    expect(cache.peek('a')).toBeUndefined();
  });

  it('does not let a read in flight overwrite a value this replica just wrote', async () => {
    const { cache } = setUp();
    let finish: (value: string) => void = () => undefined;
    const slow = cache.read('a', () => new Promise<string>((resolve) => (finish = resolve)));
    cache.store('a', 'written');
    finish('read before the write');
    await slow;
    expect(cache.peek('a')).toBe('written');
  });

  it('serves and keeps nothing while not live, and starts empty when live again', async () => {
    const { coherence, cache, load, loads } = setUp(false);
    await cache.read('a', load('one'));
    await cache.read('a', load('one'));
    cache.store('a', 'written');
    expect(loads()).toBe(2);
    expect(cache.peek('a')).toBeUndefined();
    coherence.resume();
    await cache.read('a', load('two'));
    expect(cache.peek('a')).toBe('two');
    coherence.suspend();
    expect(cache.peek('a')).toBeUndefined();
    coherence.resume();
    expect(cache.peek('a')).toBeUndefined();
  });
});
