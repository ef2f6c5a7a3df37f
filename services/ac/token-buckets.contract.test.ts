import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenBucketConfig } from '../../core/auth/token-bucket.ts';
import {
  createRedis,
  deleteOwnKeys,
  testKeyPrefix,
  type Redis,
} from '../../adapters/redis/client.ts';
import { RedisTokenBuckets } from '../../adapters/redis/token-buckets.ts';
import { MemoryTokenBuckets } from './memory-stores.ts';
import type { TokenBuckets } from '../../ports/ac.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = testKeyPrefix();
const connections: Redis[] = [];

beforeAll(() => {
  for (let i = 0; i < 3; i++) connections.push(createRedis(REDIS_URL, prefix));
});

afterAll(async () => {
  await deleteOwnKeys(connections[0]!);
  await Promise.all(connections.map((c) => c.quit()));
});

const config: TokenBucketConfig = { capacity: 3, refillIntervalMs: 1_000 };
let keyCounter = 0;
const freshKey = () => `{rl}:bucket-${keyCounter++}`;

describe.each<[string, () => TokenBuckets]>([
  ['in-memory', () => new MemoryTokenBuckets()],
  ['Redis', () => new RedisTokenBuckets(connections)],
])('token buckets contract: %s', (_name, make) => {
  it('allows a burst of capacity, refuses the next, then refills on time', async () => {
    const buckets = make();
    const charge = [{ key: freshKey(), config }];
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 3; i++) expect((await buckets.takeFromAll(charge, t0)).allowed).toBe(true);
    expect(await buckets.takeFromAll(charge, t0)).toEqual({ allowed: false, retryAfterMs: 1_000 });
    expect((await buckets.takeFromAll(charge, t0 + 1_000)).allowed).toBe(true);
  });

  it('charges all buckets or none', async () => {
    const buckets = make();
    const small = { key: freshKey(), config: { capacity: 1, refillIntervalMs: 60_000 } };
    const large = { key: freshKey(), config };
    const t0 = 1_700_000_000_000;
    expect((await buckets.takeFromAll([small, large], t0)).allowed).toBe(true);
    expect((await buckets.takeFromAll([small, large], t0)).allowed).toBe(false);
    // The refused charge took nothing from the large bucket: two of three tokens remain.
    expect((await buckets.takeFromAll([large], t0)).allowed).toBe(true);
    expect((await buckets.takeFromAll([large], t0)).allowed).toBe(true);
    expect((await buckets.takeFromAll([large], t0)).allowed).toBe(false);
  });

  it('never allows more than capacity under concurrent charges', async () => {
    const buckets = make();
    const charge = [{ key: freshKey(), config: { capacity: 5, refillIntervalMs: 60_000 } }];
    const t0 = 1_700_000_000_000;
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => buckets.takeFromAll(charge, t0)),
    );
    expect(outcomes.filter((o) => o.allowed)).toHaveLength(5);
  });
});
