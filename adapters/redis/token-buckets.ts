import { msUntilFull, takeFromAll, type TokenBucketState } from '../../core/auth/token-bucket.ts';
import type { BucketCharge, TokenBuckets } from '../../ports/ac.ts';
import type { Redis } from './client.ts';
import { BreakerOpenError, type CircuitBreaker } from '../resilience/breaker.ts';
import { DependencyUnavailableError } from '../resilience/dependency-errors.ts';

/** ioredis states of a connection that was lost (not one still being set up). */
const DOWN = new Set(['reconnecting', 'close', 'end']);

const MAX_ATTEMPTS = 20;

function parseState(raw: string | null): TokenBucketState | undefined {
  if (raw === null) return undefined;
  const value = JSON.parse(raw) as Partial<TokenBucketState>;
  return typeof value.tokens === 'number' && typeof value.refilledAt === 'number'
    ? { tokens: value.tokens, refilledAt: value.refilledAt }
    : undefined;
}

/**
 * Token buckets shared by every replica through Redis. Each charge is an optimistic
 * transaction: WATCH the bucket keys, read their states, let core's `takeFromAll` decide,
 * then MULTI/EXEC the new states; a concurrent writer aborts the EXEC and the charge is
 * retried. Keys expire when their bucket would be full again (a missing key is a full bucket).
 *
 * WATCH state belongs to a connection, so each charge leases one of a few dedicated
 * connections. Bucket keys should share a hash tag so this also works on Redis Cluster.
 *
 * With a `breaker`, each charge is one call through it: while it is open a charge fails at
 * once with `BreakerOpenError` (a dependency failure), before and after waiting for a
 * connection, so requests queued behind silent connections do not each wait out a timeout.
 */
export class RedisTokenBuckets implements TokenBuckets {
  private readonly idle: Redis[];
  private readonly waiting: ((connection: Redis) => void)[] = [];

  constructor(
    private readonly connections: readonly Redis[],
    private readonly breaker?: CircuitBreaker,
  ) {
    if (connections.length === 0) throw new Error('RedisTokenBuckets needs a connection');
    this.idle = [...connections];
  }

  async takeFromAll(buckets: readonly BucketCharge[], now: number) {
    const breaker = this.breaker;
    if (breaker === undefined) return this.charge(buckets, now);
    if (breaker.refusing()) throw new BreakerOpenError(breaker.dependency);
    return breaker.call(() => this.charge(buckets, now));
  }

  private async charge(buckets: readonly BucketCharge[], now: number) {
    // Fail at once while Redis is away: a request waiting out command timeouts (and a queue of
    // requests behind it for the connections) would hang for seconds before its 503.
    this.failIfUnavailable();
    const connection = await this.lease();
    try {
      // The breaker may have opened, or the connections gone, while this charge waited.
      this.failIfUnavailable();
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const outcome = await this.attempt(connection, buckets, now);
        if (outcome) return outcome;
      }
      throw new Error('token bucket update kept conflicting');
    } finally {
      this.release(connection);
    }
  }

  private failIfUnavailable(): void {
    if (this.breaker?.refusing()) throw new BreakerOpenError(this.breaker.dependency);
    if (this.connections.every((connection) => DOWN.has(connection.status)))
      throw new DependencyUnavailableError('redis');
  }

  private async attempt(connection: Redis, buckets: readonly BucketCharge[], now: number) {
    const keys = buckets.map((bucket) => bucket.key);
    await connection.watch(...keys);
    const raw = await connection.mget(...keys);
    const decision = takeFromAll(
      buckets.map((bucket, i) => ({
        state: parseState(raw[i] ?? null),
        config: bucket.config,
        take: bucket.take,
      })),
      now,
    );
    if (!decision.allowed) {
      await connection.unwatch();
      return { allowed: false, retryAfterMs: decision.retryAfterMs };
    }
    const transaction = connection.multi();
    buckets.forEach((bucket, i) => {
      const state = decision.states[i];
      if (!state) return;
      const ttl = Math.max(1, msUntilFull(state, bucket.config, now));
      transaction.set(bucket.key, JSON.stringify(state), 'PX', ttl);
    });
    const committed = await transaction.exec();
    return committed === null ? undefined : { allowed: true, retryAfterMs: 0 };
  }

  private lease(): Promise<Redis> {
    const connection = this.idle.pop();
    if (connection) return Promise.resolve(connection);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(connection: Redis): void {
    const next = this.waiting.shift();
    if (next) next(connection);
    else this.idle.push(connection);
  }
}
