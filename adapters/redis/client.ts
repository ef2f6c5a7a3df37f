import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export type { Redis };

/**
 * A Redis client for REDIS_URL. Every key the service writes goes through `keyPrefix`,
 * so several deployments (or test files) can share one Redis without touching each other.
 */
export function createRedis(url: string, keyPrefix: string): Redis {
  // Auto-pipelining sends the commands of concurrent requests in one write.
  return new Redis(url, { keyPrefix, maxRetriesPerRequest: 2, enableAutoPipelining: true });
}

/** A fresh key prefix for one test file. */
export function testKeyPrefix(): string {
  return `dt_test_${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key under the client's own prefix (test clean-up). */
export async function deleteOwnKeys(redis: Redis): Promise<void> {
  const prefix = redis.options.keyPrefix ?? '';
  if (prefix === '') throw new Error('refusing to delete keys without a key prefix');
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    // SCAN returns full names; DEL would prefix them again, so strip the prefix first.
    if (keys.length > 0) await redis.del(...keys.map((key) => key.slice(prefix.length)));
  } while (cursor !== '0');
}
