import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TEST_REDIS_URL } from './testing.ts';
import { CacheCoherence, LocalCache } from '../cache/local-cache.ts';
import { createLogger } from '../logging/logger.ts';
import { createRedis, deleteOwnKeys, testKeyPrefix, type Redis } from './client.ts';
import { RedisInvalidations } from './invalidations.ts';

const logger = createLogger('test', 'silent');
const prefix = testKeyPrefix();
const channel = `${prefix}cache-invalidations`;
let redis: Redis;

/** One replica: its own connection, coherence, cache and subscription. */
function replica() {
  const connection = createRedis(TEST_REDIS_URL, prefix);
  const coherence = new CacheCoherence();
  const cache = new LocalCache<string>(coherence, {
    capacity: 100,
    ttlMs: 60_000,
    now: () => Date.now(),
  });
  const invalidations = new RedisInvalidations(connection, channel, coherence, logger);
  return {
    coherence,
    cache,
    invalidations,
    close: async () => {
      await invalidations.close();
      await connection.quit();
    },
  };
}

beforeAll(() => {
  redis = createRedis(TEST_REDIS_URL, prefix);
});

afterAll(async () => {
  await deleteOwnKeys(redis);
  await redis.quit();
});

describe('RedisInvalidations', () => {
  it('caches only once subscribed, and drops a key on every replica when one publishes it', async () => {
    const a = replica();
    const b = replica();
    try {
      expect(await a.invalidations.subscribedWithin(5_000)).toBe(true);
      expect(await b.invalidations.subscribedWithin(5_000)).toBe(true);
      await a.cache.read('m1', async () => 'active');
      await b.cache.read('m1', async () => 'active');
      await b.cache.read('m2', async () => 'other');
      expect(b.cache.peek('m1')).toBe('active');

      a.cache.store('m1', 'ended');
      await a.invalidations.publish('m1');
      await vi.waitFor(() => expect(b.cache.peek('m1')).toBeUndefined(), { timeout: 2_000 });
      expect(b.cache.peek('m2')).toBe('other');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('empties and bypasses the caches while the subscription is down, then resubscribes', async () => {
    const a = replica();
    try {
      expect(await a.invalidations.subscribedWithin(5_000)).toBe(true);
      await a.cache.read('m1', async () => 'active');
      const subscriber = String(await redis.client('LIST'))
        .split('\n')
        .find((line) => line.includes(` name=${channel}:subscriber `));
      const id = /\bid=(\d+)/.exec(subscriber ?? '')?.[1];
      expect(id).toBeDefined();
      await redis.client('KILL', 'ID', String(id));
      await vi.waitFor(() => expect(a.coherence.live).toBe(false), { timeout: 2_000 });
      expect(a.cache.peek('m1')).toBeUndefined();
      await a.cache.read('m1', async () => 'read while down');
      expect(a.cache.peek('m1')).toBeUndefined();

      await vi.waitFor(() => expect(a.coherence.live).toBe(true), { timeout: 5_000 });
      const other = replica();
      try {
        expect(await other.invalidations.subscribedWithin(5_000)).toBe(true);
        await a.cache.read('m1', async () => 'active');
        await other.invalidations.publish('m1');
        await vi.waitFor(() => expect(a.cache.peek('m1')).toBeUndefined(), { timeout: 2_000 });
      } finally {
        await other.close();
      }
    } finally {
      await a.close();
    }
  });

  it('publishes on a channel of its own prefix, reaching only that deployment', async () => {
    const a = replica();
    try {
      expect(await a.invalidations.subscribedWithin(5_000)).toBe(true);
      expect(await redis.publish(channel, 'm1')).toBe(1);
      expect(await redis.publish(`${testKeyPrefix()}cache-invalidations`, 'm1')).toBe(0);
    } finally {
      await a.close();
    }
  });
});
