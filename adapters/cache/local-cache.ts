import { LRUCache } from 'lru-cache';

/** Something a {@link CacheCoherence} can drop entries from. */
interface Invalidatable {
  delete(key: string): void;
  clear(): void;
}

/**
 * Keeps a replica's in-process caches coherent with what other replicas write. Entries are
 * served only while the coherence is live, that is while invalidations are being received
 * (a Redis subscription is up): when it drops, every cache is emptied and reads go to the
 * shared store until the subscription is back, since messages sent meanwhile are lost.
 *
 * Every invalidation, and every change of liveness, moves a generation counter. A read that
 * missed notes the generation before it loads and keeps what it loaded only if the generation
 * has not moved: a value loaded concurrently with a write (and perhaps older than it) is
 * returned to that one caller but never cached.
 */
export class CacheCoherence {
  private generationCount = 0;
  private liveNow: boolean;
  private readonly caches = new Set<Invalidatable>();

  /** Starts live (e.g. for caches nothing else writes to) or not (until a subscription is up). */
  constructor(live = false) {
    this.liveNow = live;
  }

  get generation(): number {
    return this.generationCount;
  }

  get live(): boolean {
    return this.liveNow;
  }

  register(cache: Invalidatable): void {
    this.caches.add(cache);
  }

  /** Drops `key` from every registered cache (a write here or on another replica). */
  invalidate(key: string): void {
    this.generationCount++;
    for (const cache of this.caches) cache.delete(key);
  }

  /** Invalidations are being received again: start caching from empty. */
  resume(): void {
    this.clearAll();
    this.liveNow = true;
  }

  /** Invalidations may be missed from now on: empty every cache and stop caching. */
  suspend(): void {
    this.liveNow = false;
    this.clearAll();
  }

  private clearAll(): void {
    this.generationCount++;
    for (const cache of this.caches) cache.clear();
  }
}

export interface LocalCacheOptions {
  /** Most entries kept; the least recently used go first. */
  readonly capacity: number;
  /** Longest an entry is served after it was stored (ms), whatever the invalidations say. */
  readonly ttlMs: number;
  /** The clock the time to live is measured on (ms). */
  readonly now: () => number;
}

/**
 * A bounded, time-limited in-process cache in front of a slower read, kept coherent by a
 * {@link CacheCoherence}. Absent values (`undefined`) are never cached.
 */
export class LocalCache<V extends NonNullable<unknown>> {
  private readonly entries: LRUCache<string, V>;

  constructor(
    private readonly coherence: CacheCoherence,
    options: LocalCacheOptions,
  ) {
    this.entries = new LRUCache<string, V>({
      max: options.capacity,
      ttl: options.ttlMs,
      // Read the clock on every check, so a test's hand-moved clock takes effect at once.
      ttlResolution: 0,
      perf: { now: options.now },
    });
    coherence.register(this.entries);
  }

  /** The cached value of `key` while live, else undefined. */
  peek(key: string): V | undefined {
    return this.coherence.live ? this.entries.get(key) : undefined;
  }

  /** The cached value of `key`, or what `load` answers, which is then cached if still current. */
  async read(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const cached = this.peek(key);
    if (cached !== undefined) return cached;
    const generation = this.coherence.generation;
    const loaded = await load();
    if (loaded !== undefined && this.coherence.live && generation === this.coherence.generation) {
      this.entries.set(key, loaded);
    }
    return loaded;
  }

  /**
   * Records a value this replica has just written: reads of `key` already in flight here
   * (which may answer the value from before the write) will not cache what they load.
   */
  store(key: string, value: V): void {
    this.coherence.invalidate(key);
    if (this.coherence.live) this.entries.set(key, value);
  }
}
