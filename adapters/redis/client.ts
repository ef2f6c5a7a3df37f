import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.ts';

export type { Redis };

/** How a service uses a Redis connection. */
export interface RedisOptions {
  /** Connection errors are logged here (else dropped instead of going to stderr raw). */
  readonly logger?: Logger;
  /**
   * A cache: commands fail at once while disconnected (no offline queue), so callers fall
   * back to the store of record instead of waiting for Redis to come back.
   */
  readonly cache?: boolean;
}

/** Longest a command waits for its reply before failing (ms). */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;
/** Longest wait between two reconnection attempts (ms): Redis is used again within this. */
const RECONNECT_CAP_MS = 1_000;
/** Connection errors repeat at every reconnection attempt; one line per this period (ms). */
const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * A Redis client for REDIS_URL. Every key the service writes goes through `keyPrefix`,
 * so several deployments (or test files) can share one Redis without touching each other.
 *
 * A command fails after {@link REDIS_COMMAND_TIMEOUT_MS} and is retried over at most one
 * reconnection, so an unreachable Redis costs a request about a second at most (at once for
 * a cache); reconnection is retried at least every second.
 */
export function createRedis(url: string, keyPrefix: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    keyPrefix,
    // Auto-pipelining sends the commands of concurrent requests in one write.
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    enableOfflineQueue: options.cache !== true,
    retryStrategy: (times: number) => Math.min(50 * 2 ** (times - 1), RECONNECT_CAP_MS),
  });
  logConnectionErrors(redis, options.logger);
  return redis;
}

/**
 * Sends the client's `error` events to the logger, one line per
 * {@link ERROR_LOG_INTERVAL_MS} with a count of those left out (a listener also keeps ioredis
 * from printing "Unhandled error event" to stderr).
 */
export function logConnectionErrors(redis: Redis, logger: Logger | undefined): void {
  let lastLoggedAt = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  redis.on('error', (error: Error) => {
    if (logger === undefined) return;
    const now = Date.now();
    if (now - lastLoggedAt < ERROR_LOG_INTERVAL_MS) {
      suppressed++;
      return;
    }
    logger.warn({ err: error, suppressed }, 'redis connection error');
    lastLoggedAt = now;
    suppressed = 0;
  });
  redis.on('ready', () => {
    if (lastLoggedAt === Number.NEGATIVE_INFINITY) return;
    logger?.info('redis connection restored');
    lastLoggedAt = Number.NEGATIVE_INFINITY;
    suppressed = 0;
  });
}

/** Whether Redis answers a PING now (readiness); false at once while disconnected. */
export async function redisIsReachable(redis: Redis): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  try {
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  }
}

/** Resolves true once the client is connected, or false after `timeoutMs`. */
export function connectedWithin(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (connected: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(connected);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.on('ready', onReady);
  });
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
