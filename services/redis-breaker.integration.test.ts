// The circuit breakers in front of Redis, with AC and GC on a private redis-server that is
// paused (SIGSTOP: connections stay open, commands are never answered) and resumed. PostgreSQL
// is the shared one, in a database of this file's own.
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_BREAKER_POLICY } from '../core/ops/circuit-breaker.ts';
import { parseEnvironment } from '../adapters/config/env.ts';
import { createLogger } from '../adapters/logging/logger.ts';
import { PgMeetingStore } from '../adapters/postgres/gc-stores.ts';
import { createPool, type Pool } from '../adapters/postgres/pool.ts';
import { createRedis, REDIS_COMMAND_TIMEOUT_MS, type Redis } from '../adapters/redis/client.ts';
import { createUser, registerService } from './ac/accounts.ts';
import { startAc, type RunningAc } from './ac/server.ts';
import { gcEnvironment } from './gc/config.ts';
import { startGc, type RunningGc } from './gc/server.ts';
import { PrivateRedis, REDIS_SERVER_BINARY, sparePort } from './shared/private-redis.ts';
import {
  acTestEnvironment,
  http,
  isolatedBackends,
  issuedToken,
  json,
  parsedEnvironment,
  pgAcStores,
  type IsolatedBackends,
} from './shared/testing.ts';

/**
 * No request may take longer than this while Redis is silent (ms). Until the breaker opens a
 * request can wait out a few command timeouts in turn: a GC read its cache read, cache fill
 * and placement; an AC token request its place in the queue for a Redis connection.
 */
const HANG_BOUND_MS = 4 * REDIS_COMMAND_TIMEOUT_MS;
/** Redis is used again within this once it answers (spec: Redis recovery < 10 s), ms. */
const RECOVERY_BOUND_MS = 10_000;
/** An answer that waited for no Redis command: well under one command timeout (ms). */
const QUICK_MS = REDIS_COMMAND_TIMEOUT_MS / 2;

const GC_PREFIX = 'dt:gc:';
const logger = createLogger('test', 'silent');
let backends: IsolatedBackends;
let redisServer: PrivateRedis;
let pool: Pool;
let probe: Redis;
let ac: RunningAc;
let gc: RunningGc;
let meetings: PgMeetingStore;
let userToken: string;
let client: { clientId: string; clientSecret: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A request's status, Retry-After and time taken (ms). */
async function timed(url: string, init: Parameters<typeof http>[1] = {}) {
  const started = performance.now();
  const answer = await http(url, init);
  return {
    status: answer.status,
    retryAfter: answer.headers.get('retry-after'),
    body: answer.body,
    ms: performance.now() - started,
  };
}

/** The `<service>_circuit_breaker_state{dependency="redis"}` gauge: 0, 1 or 2. */
async function breakerGauge(metricsUrl: string, service: 'ac' | 'gc'): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const found = new RegExp(
    `^${service}_circuit_breaker_state\\{dependency="redis"\\} (\\d)$`,
    'm',
  ).exec(text)?.[1];
  if (found === undefined) throw new Error(`no ${service} breaker gauge`);
  return Number(found);
}

/** A meeting written straight to PostgreSQL, so GC has never cached it anywhere. */
async function freshMeeting(): Promise<string> {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  let id = '';
  for (let i = 0; i < 12; i++) id += alphabet[randomInt(alphabet.length)];
  const created = await meetings.create({
    meetingId: id,
    orgId: 'default',
    title: 'Breaker',
    createdBy: 'someone',
    maxParticipants: 100,
    status: 'active',
    createdAtMs: Date.now(),
    endedAtMs: undefined,
  });
  if (!created.ok) throw new Error('meeting not created');
  return id;
}

const readMeeting = (id: string) =>
  timed(`${gc.url}/v1/meetings/${id}`, { headers: bearer(userToken) });
const serviceToken = () =>
  timed(
    `${ac.url}/v1/auth/service/token`,
    json({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
    }),
  );

/** Runs `step` every `everyMs` until `done` holds; throws after `boundMs`. Answers the ms. */
async function until(
  done: () => Promise<boolean>,
  step: () => Promise<unknown>,
  boundMs: number,
  everyMs = 100,
): Promise<number> {
  const started = performance.now();
  while (!(await done())) {
    if (performance.now() - started > boundMs) throw new Error(`not within ${boundMs} ms`);
    await step();
    await sleep(everyMs);
  }
  return performance.now() - started;
}

describe.skipIf(REDIS_SERVER_BINARY === undefined)('circuit breakers in front of Redis', () => {
  beforeAll(async () => {
    backends = await isolatedBackends();
    redisServer = new PrivateRedis(await sparePort());
    await redisServer.start();
    probe = createRedis(redisServer.url, GC_PREFIX);
    pool = createPool(backends.databaseUrl, 2);
    meetings = new PgMeetingStore(pool);
    const stores = pgAcStores(pool);
    await createUser(
      { ...stores, bcryptCost: 12 },
      {
        username: 'breaker-user',
        password: 'breaker-password',
        org: 'default',
        scopes: ['user.read.gc'],
      },
    );
    const registered = await registerService(stores, {
      name: 'meeting-controller',
      scopes: ['service.write.gc'],
      org: 'default',
    });
    if (!registered.ok) throw new Error('registration failed');
    client = registered.value;
    ac = await startAc(
      acTestEnvironment(backends, {
        REDIS_URL: redisServer.url,
        AC_SERVICE_TOKEN_BURST: '1000',
      }),
      {
        logger,
        scheduleRotation: false,
      },
    );
    gc = await startGc(
      parsedEnvironment(
        parseEnvironment(gcEnvironment, {
          DATABASE_URL: backends.databaseUrl,
          REDIS_URL: redisServer.url,
          BIND_ADDRESS: '127.0.0.1:0',
          METRICS_BIND_ADDRESS: '127.0.0.1:0',
          GC_GRPC_BIND_ADDRESS: '127.0.0.1:0',
          GC_REGION: 'us-west-1',
          AC_INTERNAL_URL: ac.url,
          GC_REDIS_KEY_PREFIX: GC_PREFIX,
        }),
      ),
      { logger },
    );
    userToken = await issuedToken(ac.url, '/v1/auth/user/token', {
      username: 'breaker-user',
      password: 'breaker-password',
    });
  }, 60_000);

  afterAll(async () => {
    redisServer?.resume();
    await gc?.close().catch(() => undefined);
    await ac?.close().catch(() => undefined);
    probe?.disconnect();
    await pool?.end().catch(() => undefined);
    await redisServer?.kill();
    await backends?.cleanUp();
  }, 60_000);

  it('GC answers meeting reads from PostgreSQL while Redis is silent, then uses the cache again', async () => {
    const before = await freshMeeting();
    expect((await readMeeting(before)).status).toBe(200);
    expect(await probe.exists(`meeting:${before}:info`)).toBe(1);
    expect(await breakerGauge(gc.metricsUrl, 'gc')).toBe(0);

    redisServer.pause();
    // A read every 100 ms for 5 s, each of a meeting no cache holds.
    const reads: Promise<Awaited<ReturnType<typeof readMeeting>>>[] = [];
    const gauges: number[] = [];
    let ready: Awaited<ReturnType<typeof http>>;
    try {
      const started = performance.now();
      while (performance.now() - started < 5_000) {
        reads.push(readMeeting(await freshMeeting()));
        gauges.push(await breakerGauge(gc.metricsUrl, 'gc'));
        await sleep(100);
      }
      ready = await http(`${gc.url}/ready`);
    } finally {
      await Promise.allSettled(reads);
      redisServer.resume();
    }
    const answered = await Promise.all(reads);
    // Every read answered, none held past the bound; once the breaker was open, most waited
    // for no Redis command (only the probes of a half-open breaker wait out a timeout).
    for (const read of answered) {
      expect(read.status, JSON.stringify(read)).toBe(200);
      expect(read.ms).toBeLessThan(HANG_BOUND_MS);
    }
    const quick = answered.filter((read) => read.ms < QUICK_MS).length;
    expect(quick, answered.map((read) => Math.round(read.ms)).join(' ')).toBeGreaterThan(
      answered.length / 2,
    );
    expect(gauges).toContain(2);
    expect(gauges[0]).toBe(0);
    // Still serving: degraded (200), not unready.
    expect(ready).toMatchObject({
      status: 200,
      body: { status: 'degraded', redis: 'unreachable' },
    });
    const recoveredMs = await until(
      async () => (await breakerGauge(gc.metricsUrl, 'gc')) === 0,
      async () => readMeeting(await freshMeeting()),
      RECOVERY_BOUND_MS,
    );
    expect(recoveredMs).toBeLessThan(RECOVERY_BOUND_MS);
    // The cache is used again: a meeting read now is cached in Redis.
    const after = await freshMeeting();
    expect((await readMeeting(after)).status).toBe(200);
    expect(await probe.exists(`meeting:${after}:info`)).toBe(1);
    expect(await http(`${gc.url}/ready`)).toMatchObject({
      status: 200,
      body: { status: 'ready', redis: 'healthy', redis_breaker: 'closed' },
    });
  });

  it('AC answers a burst of token requests 503 with Retry-After within the bound while Redis is silent', async () => {
    expect((await serviceToken()).status).toBe(200);
    redisServer.pause();
    try {
      // Thirty at once on three connections: without the breaker they would queue for ten
      // seconds, each waiting out a command timeout.
      const burst = await Promise.all(Array.from({ length: 30 }, () => serviceToken()));
      for (const answer of burst) {
        expect(answer, JSON.stringify(answer)).toMatchObject({
          status: 503,
          body: { error: 'temporarily_unavailable' },
        });
        expect(Number(answer.retryAfter)).toBeGreaterThan(0);
        expect(answer.ms).toBeLessThan(HANG_BOUND_MS);
      }
      expect(await breakerGauge(ac.metricsUrl, 'ac')).toBe(2);
    } finally {
      redisServer.resume();
    }
    await until(
      async () => (await breakerGauge(ac.metricsUrl, 'ac')) === 0,
      () => serviceToken(),
      RECOVERY_BOUND_MS,
    );
    expect((await serviceToken()).status).toBe(200);
  });

  it('AC’s breaker opens after the configured failures, is unready while open, and closes when Redis answers', async () => {
    expect(await breakerGauge(ac.metricsUrl, 'ac')).toBe(0);
    redisServer.pause();
    try {
      // Each request waits out one command timeout: a failure of its own.
      for (let i = 1; i < REDIS_BREAKER_POLICY.failureThreshold; i++) {
        const answer = await serviceToken();
        expect(answer).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
        expect(answer.ms).toBeGreaterThanOrEqual(REDIS_COMMAND_TIMEOUT_MS * 0.9);
        expect(await breakerGauge(ac.metricsUrl, 'ac')).toBe(0);
      }
      expect((await serviceToken()).status).toBe(503);
      expect(await breakerGauge(ac.metricsUrl, 'ac')).toBe(2);
      // Open: answered at once, without Redis.
      const refused = await serviceToken();
      expect(refused).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
      expect(Number(refused.retryAfter)).toBeGreaterThan(0);
      expect(refused.ms).toBeLessThan(QUICK_MS);
      expect(await http(`${ac.url}/ready`)).toMatchObject({
        status: 503,
        body: { status: 'not_ready', redis_breaker: 'open' },
      });
    } finally {
      redisServer.resume();
    }
    const recoveredMs = await until(
      async () => (await serviceToken()).status === 200,
      async () => undefined,
      RECOVERY_BOUND_MS,
    );
    expect(recoveredMs).toBeLessThan(RECOVERY_BOUND_MS);
    await until(
      async () => (await breakerGauge(ac.metricsUrl, 'ac')) === 0,
      () => serviceToken(),
      RECOVERY_BOUND_MS,
    );
    expect(await http(`${ac.url}/ready`)).toMatchObject({
      status: 200,
      body: { status: 'ready', redis_breaker: 'closed' },
    });
  });
});
