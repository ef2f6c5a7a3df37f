import { setTimeout as sleep } from 'node:timers/promises';
import { jwksCachePolicy } from '../../core/keys/jwks-cache.ts';
import { CacheCoherence, LocalCache } from '../../adapters/cache/local-cache.ts';
import { listenMetrics } from '../../adapters/http/metrics-listener.ts';
import { closeAll, drainHttp } from '../../adapters/http/shutdown.ts';
import { JwksClient } from '../../adapters/jwt/jwks-client.ts';
import { VerifiedTokenCache } from '../../adapters/jwt/verified-cache.ts';
import { createLogger, type Logger } from '../../adapters/logging/logger.ts';
import { createHttpMetrics, registerBreakerGauge } from '../../adapters/metrics/registry.ts';
import { PgMeetingStore } from '../../adapters/postgres/gc-stores.ts';
import { createPool, databaseIsReachable } from '../../adapters/postgres/pool.ts';
import { connectedWithin, createRedis, redisIsReachable } from '../../adapters/redis/client.ts';
import {
  RedisMcAvailability,
  RedisMeetingAssignments,
} from '../../adapters/redis/mc-availability.ts';
import { RedisInvalidations } from '../../adapters/redis/invalidations.ts';
import { RedisMeetingCache } from '../../adapters/redis/meeting-cache.ts';
import { RedisTenantConfigCache } from '../../adapters/redis/tenant-cache.ts';
import { CircuitBreaker, guarded } from '../../adapters/resilience/breaker.ts';
import { REDIS_BREAKER_POLICY } from '../../core/ops/circuit-breaker.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import { buildGcApp } from './app.ts';
import { PlacementSweeper } from './backlog.ts';
import { CachedMeetingStore } from './cached-meetings.ts';
import type { GcEnvironment } from './config.ts';
import {
  failSoftMeetingCache,
  failSoftPublisher,
  failSoftTenantCache,
  ThrottledWarning,
} from './fail-soft.ts';
import { gcGrpcService, startGrpcServer, stopGrpcServer } from './grpc.ts';
import {
  LocallyCachedAssignments,
  LocallyCachedMeetings,
  LocallyCachedTenants,
} from './local-stores.ts';
import { MeetingPlacement } from './placement.ts';
import { RedisEndedMeetings } from '../../adapters/redis/ended-meetings.ts';

/** Tenant configuration is cached in Redis for 5 minutes (spec 003). */
const TENANT_CACHE_TTL_MS = 5 * 60_000;

/**
 * In-process caches in front of Redis. Meetings and placements are invalidated between
 * replicas over pub/sub; the time to live only bounds an entry should an invalidation be lost
 * without the subscription noticing. Tenants have no invalidation (GC never changes one).
 */
export const LOCAL_CACHE = {
  meetings: { capacity: 10_000, ttlMs: 5_000 },
  assignments: { capacity: 10_000, ttlMs: 5_000 },
  tenants: { capacity: 1_000, ttlMs: 30_000 },
  /** How long start-up waits for the invalidation subscription before serving without caches. */
  subscribeTimeoutMs: 2_000,
  /** How long start-up waits for Redis and for AC's keys before listening anyway (not ready). */
  startupWaitMs: 2_000,
} as const;

/** A running Global Controller. */
export interface RunningGc {
  readonly url: string;
  /** Base URL of the internal `/metrics` listener. */
  readonly metricsUrl: string;
  /** `host:port` of the gRPC endpoint. */
  readonly grpcAddress: string;
  readonly logger: Logger;
  close(): Promise<void>;
}

export interface GcStartOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Starts GC's HTTP API and gRPC endpoint against PostgreSQL and Redis (schema migrated). */
export async function startGc(
  env: GcEnvironment,
  options: GcStartOptions = {},
): Promise<RunningGc> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger('gc-service', env.LOG_LEVEL);
  const pool = createPool(env.DATABASE_URL);
  // Redis is a cache for GC: commands fail at once while it is unreachable.
  const redis = createRedis(env.REDIS_URL, env.GC_REDIS_KEY_PREFIX, { logger, cache: true });
  const store = new PgMeetingStore(pool);
  // GC's Redis calls (caches, placement, controller availability, invalidation publishing) go
  // through one breaker: while it is open, the caches are skipped (PostgreSQL answers),
  // placement fails soft and MC registrations and heartbeats are UNAVAILABLE, each at once
  // instead of after a command timeout. Readiness's PING and the invalidation subscription
  // do not go through it.
  const redisBreaker = new CircuitBreaker('redis', REDIS_BREAKER_POLICY);
  const availability = guarded(new RedisMcAvailability(redis), redisBreaker, [
    'register',
    'heartbeat',
    'countAssignment',
    'list',
  ]);
  const jwks = new JwksClient({
    policy: jwksCachePolicy([env.GC_TRUSTED_ISSUER]),
    jwksUrls: new Map([[env.GC_TRUSTED_ISSUER, env.jwksUrl]]),
    now: () => clock.now(),
    logger,
  });
  // Keys are fetched until held, retrying quickly while AC does not answer; GC is not ready
  // until it holds them.
  const stopKeyFetch = new AbortController();
  const keysFetched = jwks.fetchUntilHeld(stopKeyFetch.signal).then((held) => {
    if (held) logger.info('AC signing keys fetched');
  });
  const metrics = createHttpMetrics('gc');
  registerBreakerGauge(metrics.registry, 'gc', [redisBreaker]);
  const bearer = {
    keys: jwks,
    verifiedTokens: new VerifiedTokenCache(),
    policy: { trustedIssuers: new Set([env.GC_TRUSTED_ISSUER]), audience: env.GC_TOKEN_AUDIENCE },
  };
  const coherence = new CacheCoherence();
  const cacheFailure = new ThrottledWarning(logger, 'redis cache unavailable; using PostgreSQL');
  const invalidations = new RedisInvalidations(
    redis,
    `${env.GC_REDIS_KEY_PREFIX}cache-invalidations`,
    coherence,
    logger,
  );
  const publisher = failSoftPublisher(
    guarded(invalidations, redisBreaker, ['publish']),
    cacheFailure,
  );
  const now = () => clock.now();
  const placement = new MeetingPlacement(
    availability,
    new LocallyCachedAssignments(
      guarded(new RedisMeetingAssignments(redis), redisBreaker, ['get', 'set']),
      new LocalCache(coherence, { ...LOCAL_CACHE.assignments, now }),
      publisher,
    ),
    env.GC_REGION,
  );
  const endedMeetings = guarded(new RedisEndedMeetings(redis), redisBreaker, [
    'add',
    'list',
    'remove',
  ]);
  const app = buildGcApp({
    endedMeetings,
    meetings: new LocallyCachedMeetings(
      new CachedMeetingStore(
        store,
        failSoftMeetingCache(
          guarded(new RedisMeetingCache(redis), redisBreaker, ['get', 'put']),
          cacheFailure,
        ),
      ),
      new LocalCache(coherence, { ...LOCAL_CACHE.meetings, now }),
      publisher,
    ),
    tenants: store,
    tenantCache: new LocallyCachedTenants(
      failSoftTenantCache(
        guarded(new RedisTenantConfigCache(redis, TENANT_CACHE_TTL_MS), redisBreaker, [
          'get',
          'put',
        ]),
        cacheFailure,
      ),
      new LocalCache(new CacheCoherence(true), { ...LOCAL_CACHE.tenants, now }),
    ),
    placement,
    bearer,
    clock,
    logger,
    metrics,
    defaultOrg: env.GC_DEFAULT_ORG,
    tenantDomain: env.GC_TENANT_DOMAIN,
    backlog: store,
    databaseReachable: () => databaseIsReachable(pool),
    redisReachable: () => redisIsReachable(redis),
    redisBreaker: () => redisBreaker.current().kind,
    keysHeld: () => jwks.holdsUsableKeys(clock.now()),
  });
  const sweeper = new PlacementSweeper(store, placement, clock, logger);
  const grpc = await startGrpcServer(
    gcGrpcService({
      availability,
      placement,
      bearer: { ...bearer, onRejected: (reason) => metrics.authFailures.inc({ reason }) },
      clock,
      logger,
      heartbeatIntervalMs: env.GC_HEARTBEAT_INTERVAL_MS,
      allowPlainLoopbackUrls: env.GC_ALLOW_PLAIN_LOOPBACK_MC_URLS,
      onRegistered: () => void sweeper.sweep(),
      endedMeetings,
    }),
    env.GC_GRPC_BIND_ADDRESS,
  );
  const [subscribed, connected] = await Promise.all([
    invalidations.subscribedWithin(LOCAL_CACHE.subscribeTimeoutMs),
    connectedWithin(redis, LOCAL_CACHE.startupWaitMs),
    Promise.race([keysFetched, sleep(LOCAL_CACHE.startupWaitMs, undefined, { ref: false })]),
  ]);
  if (!subscribed) {
    logger.warn('cache invalidations not subscribed yet: serving from Redis until they are');
  }
  if (!connected) logger.warn('redis unreachable: serving from PostgreSQL (degraded)');
  const url = await app.listen({ host: env.BIND_ADDRESS.host, port: env.BIND_ADDRESS.port });
  const grpcAddress = `${env.GC_GRPC_BIND_ADDRESS.host}:${grpc.port}`;
  const metricsListener = await listenMetrics(metrics.registry, env.METRICS_BIND_ADDRESS);
  logger.info({ url, grpc: grpcAddress, metrics_url: metricsListener.url }, 'gc-service listening');
  return {
    url,
    metricsUrl: metricsListener.url,
    grpcAddress,
    logger,
    close: () =>
      closeAll(
        [
          { name: 'AC key fetch', close: async () => stopKeyFetch.abort() },
          { name: 'http', close: () => drainHttp(app) },
          { name: 'metrics', close: () => metricsListener.close() },
          { name: 'grpc', close: () => stopGrpcServer(grpc.server) },
          { name: 'cache invalidations', close: () => invalidations.close() },
          { name: 'redis', close: async () => void (await redis.quit()) },
          { name: 'postgres', close: () => pool.end() },
        ],
        logger,
      ),
  };
}
