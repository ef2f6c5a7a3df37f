import { Gauge } from 'prom-client';
import { acRateLimits } from '../../core/auth/rate-limits.ts';
import { DEFAULT_SIGNING_KEY_POLICY, type SigningKeyPolicy } from '../../core/keys/signing-ring.ts';
import { listenMetrics } from '../../adapters/http/metrics-listener.ts';
import { closeAll, drainHttp } from '../../adapters/http/shutdown.ts';
import { createLogger, type Logger } from '../../adapters/logging/logger.ts';
import { createHttpMetrics, registerBreakerGauge } from '../../adapters/metrics/registry.ts';
import {
  PgAuditLog,
  PgServiceStore,
  PgSigningKeyStore,
  PgUserStore,
} from '../../adapters/postgres/ac-stores.ts';
import { createPool, databaseIsReachable } from '../../adapters/postgres/pool.ts';
import { createRedis, redisIsReachable } from '../../adapters/redis/client.ts';
import { RedisTokenBuckets } from '../../adapters/redis/token-buckets.ts';
import { CircuitBreaker } from '../../adapters/resilience/breaker.ts';
import { REDIS_BREAKER_POLICY } from '../../core/ops/circuit-breaker.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import { buildAcApp } from './app.ts';
import { PasswordVerifier } from './credentials.ts';
import { masterKeysOf, type AcEnvironment } from './config.ts';
import { SigningKeyService } from './signing-keys.ts';

/** A running Auth Controller. */
export interface RunningAc {
  /** Base URL the HTTP API listens on. */
  readonly url: string;
  /** Base URL of the internal `/metrics` listener. */
  readonly metricsUrl: string;
  readonly keys: SigningKeyService;
  readonly passwords: PasswordVerifier;
  readonly logger: Logger;
  /** Graceful stop: stop accepting, drain requests, stop rotation, close pools. */
  close(): Promise<void>;
}

export interface AcStartOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly keyPolicy?: SigningKeyPolicy;
  /** Tick key rotation on timers (true in production; tests tick by hand). */
  readonly scheduleRotation?: boolean;
}

/** Starts AC against PostgreSQL and Redis (the schema must be migrated). */
export async function startAc(
  env: AcEnvironment,
  options: AcStartOptions = {},
): Promise<RunningAc> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger('ac-service', env.LOG_LEVEL);
  const passwords = await PasswordVerifier.withCost(env.AC_BCRYPT_COST);
  const pool = createPool(env.DATABASE_URL);
  const redisConnections = [0, 1, 2].map(() =>
    createRedis(env.REDIS_URL, env.AC_REDIS_KEY_PREFIX, { logger }),
  );
  const auditPool = createPool(env.DATABASE_URL, 4, { asynchronousCommit: true });
  const audit = new PgAuditLog(auditPool);
  const closeClients = async () => {
    await Promise.all(redisConnections.map((redis) => redis.quit()));
    await Promise.all([pool.end(), auditPool.end()]);
  };
  const keys = await SigningKeyService.start({
    store: new PgSigningKeyStore(pool),
    masterKeys: masterKeysOf(env),
    policy: {
      ...(options.keyPolicy ?? DEFAULT_SIGNING_KEY_POLICY),
      kidPrefix: env.AC_KID_PREFIX,
    },
    clock,
    audit,
    logger,
  }).catch(async (error: unknown) => {
    await closeClients();
    throw error;
  });
  const metrics = createHttpMetrics('ac');
  // The rate limits' Redis: while its breaker is open, token requests are answered 503 at once.
  const redisBreaker = new CircuitBreaker('redis', REDIS_BREAKER_POLICY);
  registerBreakerGauge(metrics.registry, 'ac', [redisBreaker]);
  new Gauge({
    name: 'ac_signing_key_age_seconds',
    help: 'Seconds since the current signing key became active',
    registers: [metrics.registry],
    collect() {
      const age = keys.signingKeyAgeSeconds();
      if (age !== undefined) this.set(age);
    },
  });
  const app = buildAcApp({
    users: new PgUserStore(pool),
    services: new PgServiceStore(pool),
    audit,
    buckets: new RedisTokenBuckets(redisConnections, redisBreaker),
    keys,
    passwords,
    clock,
    logger,
    metrics,
    issuer: env.AC_ISSUER,
    audience: env.AC_TOKEN_AUDIENCE,
    rateLimits: acRateLimits(
      { capacity: env.AC_LOGIN_BURST, refillIntervalMs: env.AC_LOGIN_REFILL_MS },
      { capacity: env.AC_SERVICE_TOKEN_BURST, refillIntervalMs: env.AC_SERVICE_TOKEN_REFILL_MS },
    ),
    serviceTokenLifetimeMs: env.AC_SERVICE_TOKEN_LIFETIME_SECONDS * 1000,
    trustedProxies: env.AC_TRUSTED_PROXIES,
    databaseReachable: () => databaseIsReachable(pool),
    redisReachable: async () =>
      (await Promise.all(redisConnections.map(redisIsReachable))).every(Boolean),
    redisBreaker: () => redisBreaker.current().kind,
  });
  const url = await app.listen({ host: env.BIND_ADDRESS.host, port: env.BIND_ADDRESS.port });
  const metricsListener = await listenMetrics(metrics.registry, env.METRICS_BIND_ADDRESS).catch(
    async (error: unknown) => {
      await app.close();
      keys.stop();
      await closeClients();
      throw error;
    },
  );
  if (options.scheduleRotation ?? true) keys.schedule();
  logger.info({ url, metrics_url: metricsListener.url }, 'ac-service listening');
  return {
    url,
    metricsUrl: metricsListener.url,
    keys,
    passwords,
    logger,
    close: () =>
      closeAll(
        [
          { name: 'http', close: () => drainHttp(app) },
          { name: 'metrics', close: () => metricsListener.close() },
          { name: 'key rotation', close: async () => keys.stop() },
          { name: 'redis and postgres', close: closeClients },
        ],
        logger,
      ),
  };
}
