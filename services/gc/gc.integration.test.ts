import { request as httpRequest } from 'node:http';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signClaims } from '../../adapters/jwt/tokens.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { createRedis, type Redis } from '../../adapters/redis/client.ts';
import type { RunningAc } from '../ac/server.ts';
import { McHealth } from '../generated/darktower/gc/v1/gc.ts';
import { ManualClock } from '../shared/clock.ts';
import { jwtAttacks, validClaims } from '../shared/jwt-attacks.ts';
import {
  http,
  isolatedBackends,
  issuedToken,
  json,
  TEST_REDIS_URL,
  type IsolatedBackends,
} from '../shared/testing.ts';
import { connectGc, type GcClient } from './grpc-client.ts';
import { startGc, type RunningGc } from './server.ts';
import { mcRegistration, startAcForGc } from './testing.ts';

const WEEK = 7 * 24 * 3_600_000;
let backends: IsolatedBackends;
let pool: Pool;
let redis: Redis;
let clock: ManualClock;
let ac: RunningAc;
let gc: RunningGc;
let userToken: string;
let mcClient: GcClient;
const logger = createLogger('test', 'silent');

/** A genuine AC-signed user token for another subject and scope set. */
async function tokenAs(subject: string, scopes: string) {
  const key = ac.keys.signingKey();
  if (!key) throw new Error('no signing key');
  const context = {
    key,
    publicJwk: {},
    issuer: 'dark-tower-ac',
    audience: 'dark-tower',
    now: clock.now(),
    scopes,
  };
  return signClaims({ ...validClaims(context), sub: subject }, key);
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const createMeeting = (token: string, body: object = { title: 'Design review' }) =>
  http(`${gc.url}/v1/meetings`, json(body, bearer(token)));
const getMeeting = (id: string, token = userToken) =>
  http(`${gc.url}/v1/meetings/${id}`, { headers: bearer(token) });
const meetingCount = async () =>
  Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM gc.meetings')).rows[0]?.n);

beforeAll(async () => {
  backends = await isolatedBackends();
  pool = createPool(backends.databaseUrl, 2);
  redis = createRedis(TEST_REDIS_URL, `${backends.redisPrefix}gc:`);
  clock = new ManualClock(Date.parse('2026-11-22T04:00:00Z'));
  const started = await startAcForGc({
    backends,
    pool,
    clock,
    logger,
    user: { username: 'alice', password: 'alice-password' },
    gcSettings: { GC_TENANT_DOMAIN: 'dark-tower.test' },
  });
  ac = started.ac;
  userToken = started.userToken;
  gc = await startGc(started.gcEnv, { clock, logger });
  mcClient = connectGc(gc.grpcAddress, started.mcToken);
});

afterAll(async () => {
  mcClient.close();
  await gc.close();
  await ac.close();
  await redis.quit();
  await pool.end();
  await backends.cleanUp();
});

describe('GC meetings', () => {
  it('creates, reads and ends a meeting', async () => {
    const created = await createMeeting(userToken);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      title: 'Design review',
      org_id: 'default',
      status: 'active',
      max_participants: 100,
      ended_at: null,
    });
    const id = created.body.meeting_id as string;
    const read = await getMeeting(id);
    expect(read).toMatchObject({ status: 200, body: { meeting_id: id, status: 'active' } });
    expect(read.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect((await getMeeting(id)).body).toEqual(read.body);
    const ended = await http(`${gc.url}/v1/meetings/${id}`, {
      method: 'DELETE',
      headers: bearer(userToken),
    });
    expect(ended).toMatchObject({
      status: 200,
      body: { status: 'ended', meeting_controller: null },
    });
    expect((await getMeeting(id)).body).toMatchObject({
      status: 'ended',
      ended_at: new Date(clock.now()).toISOString(),
    });
  });

  it('checks scopes: read-only tokens read, only creators or admins end', async () => {
    const id = (await createMeeting(userToken)).body.meeting_id as string;
    const reader = await tokenAs('reader', 'user.read.gc');
    expect((await getMeeting(id, reader)).status).toBe(200);
    expect(await createMeeting(reader)).toMatchObject({
      status: 403,
      body: { error: 'insufficient_scope' },
    });
    const stranger = await tokenAs('stranger', 'user.write.gc');
    expect(
      (await http(`${gc.url}/v1/meetings/${id}`, { method: 'DELETE', headers: bearer(stranger) }))
        .status,
    ).toBe(403);
    const admin = await tokenAs('gc-admin', 'user.admin.gc');
    expect(
      (await http(`${gc.url}/v1/meetings/${id}`, { method: 'DELETE', headers: bearer(admin) }))
        .status,
    ).toBe(200);
  });

  it('caches the tenant configuration in Redis for five minutes', async () => {
    await createMeeting(userToken);
    const ttl = await redis.pttl('tenant:default');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300_000);
  });
});

/** A request with its own Host header (fetch does not let a caller set it). */
function requestWithHost(method: string, path: string, host: string, body?: object) {
  const target = new URL(path, gc.url);
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const outgoing = httpRequest(
      {
        method,
        hostname: target.hostname,
        port: target.port,
        path: target.pathname,
        headers: { host, 'content-type': 'application/json', ...bearer(userToken) },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('GC tenants', () => {
  it('routes <org>.<tenant domain> to that tenant and keeps tenants apart', async () => {
    await pool.query(
      "INSERT INTO gc.orgs (org_id, display_name, max_participants) VALUES ('acme', 'Acme', 10)",
    );
    const created = await requestWithHost('POST', '/v1/meetings', 'acme.dark-tower.test', {
      title: 'Acme sync',
    });
    expect(created).toMatchObject({ status: 201, body: { org_id: 'acme', max_participants: 10 } });
    const id = created.body.meeting_id as string;
    expect(
      (await requestWithHost('GET', `/v1/meetings/${id}`, 'acme.dark-tower.test')).status,
    ).toBe(200);
    expect((await getMeeting(id)).status).toBe(404);
    expect(
      await requestWithHost('POST', '/v1/meetings', 'nobody.dark-tower.test', { title: 'x' }),
    ).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });
});

describe('GC meeting controller registration and placement', () => {
  it('places meetings on a registered controller of its region and moves them when it goes silent', async () => {
    expect(await mcClient.registerMc(mcRegistration('mc-west-a', 'us-west-1'))).toMatchObject({
      accepted: true,
    });
    expect(await mcClient.registerMc(mcRegistration('mc-west-b', 'us-west-1'))).toMatchObject({
      accepted: true,
    });
    await mcClient.registerMc(mcRegistration('mc-east', 'us-east-1'));
    const id = (await createMeeting(userToken)).body.meeting_id as string;
    const first = (await getMeeting(id)).body.meeting_controller as {
      id: string;
      region: string;
      url: string;
    };
    expect(first.region).toBe('us-west-1');
    expect(first.url).toBe(`https://${first.id}.example:4433`);
    expect((await getMeeting(id)).body.meeting_controller).toEqual(first);
    const survivor = first.id === 'mc-west-a' ? 'mc-west-b' : 'mc-west-a';
    clock.advance(6_000);
    const beat = await mcClient.mcHeartbeat({
      mcId: survivor,
      currentMeetings: 1,
      currentParticipants: 3,
      health: McHealth.MC_HEALTH_HEALTHY,
    });
    expect(beat.acknowledged).toBe(true);
    expect(((await getMeeting(id)).body.meeting_controller as { id: string }).id).toBe(survivor);
  });

  it('asks unknown controllers to register again and rejects malformed registrations', async () => {
    expect(
      await mcClient.mcHeartbeat({
        mcId: 'never-registered',
        currentMeetings: 0,
        currentParticipants: 0,
        health: McHealth.MC_HEALTH_HEALTHY,
      }),
    ).toMatchObject({ acknowledged: false });
    await expect(
      mcClient.registerMc({ ...mcRegistration('bad id!', 'us-west-1') }),
    ).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
    await expect(
      mcClient.registerMc({ ...mcRegistration('mc-x', 'us-west-1'), publicUrl: 'not a url' }),
    ).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
  });

  it('requires a service token with service.write.gc', async () => {
    const anonymous = connectGc(gc.grpcAddress, undefined);
    const asUser = connectGc(gc.grpcAddress, userToken);
    try {
      await expect(
        anonymous.registerMc(mcRegistration('mc-anon', 'us-west-1')),
      ).rejects.toMatchObject({ code: GrpcStatus.UNAUTHENTICATED });
      await expect(asUser.registerMc(mcRegistration('mc-user', 'us-west-1'))).rejects.toMatchObject(
        {
          code: GrpcStatus.PERMISSION_DENIED,
        },
      );
    } finally {
      anonymous.close();
      asUser.close();
    }
  });
});

describe('GC token validation through the AC JWKS', () => {
  it('rejects every token of the JWT attack suite', async () => {
    const id = (await createMeeting(userToken)).body.meeting_id as string;
    const key = ac.keys.signingKey();
    if (!key) throw new Error('no signing key');
    const published = ac.keys.jwks().keys.find((jwk) => jwk.kid === key.kid) ?? {};
    const attacks = await jwtAttacks(
      {
        key,
        publicJwk: published,
        issuer: 'dark-tower-ac',
        audience: 'dark-tower',
        now: clock.now(),
        scopes: 'user.read.gc',
      },
      'user.write.mc',
    );
    for (const attack of attacks) {
      const response = await getMeeting(id, attack.token);
      expect({ attack: attack.name, status: response.status, error: response.body.error }).toEqual({
        attack: attack.name,
        status: attack.status,
        error: attack.error,
      });
    }
    const metrics = await (await fetch(`${gc.metricsUrl}/metrics`)).text();
    for (const reason of [
      'unsupported_algorithm',
      'expired',
      'not_yet_valid',
      'untrusted_issuer',
      'wrong_audience',
      'unknown_kid',
      'bad_signature',
      'missing_scope',
    ]) {
      expect(metrics).toMatch(new RegExp(`gc_auth_failures_total\\{reason="${reason}"\\} [1-9]`));
    }
  });

  it('accepts tokens of the next signing key after AC rotates (refresh on unknown kid)', async () => {
    const kidBefore = ac.keys.signingKey()?.kid;
    clock.advance(WEEK);
    await ac.keys.tick();
    expect(ac.keys.signingKey()?.kid).not.toBe(kidBefore);
    const fresh = await issuedToken(ac.url, '/v1/auth/user/token', {
      username: 'alice',
      password: 'alice-password',
    });
    expect((await createMeeting(fresh)).status).toBe(201);
    // A week on, the first token has expired; later tests use this one.
    userToken = fresh;
  });
});

describe('GC bad input', () => {
  const post = (body: string, contentType: string) =>
    http(`${gc.url}/v1/meetings`, {
      method: 'POST',
      body,
      headers: { 'content-type': contentType, ...bearer(userToken) },
    });
  const cases: [string, string, string, number, string][] = [
    ['malformed JSON', '{"title": ', 'application/json', 400, 'invalid_request'],
    ['missing title', '{}', 'application/json', 400, 'invalid_request'],
    [
      'extra field',
      JSON.stringify({ title: 't', org_id: 'other' }),
      'application/json',
      400,
      'invalid_request',
    ],
    ['blank title', JSON.stringify({ title: '   ' }), 'application/json', 400, 'invalid_request'],
    [
      'too many participants for the tenant',
      JSON.stringify({ title: 't', max_participants: 5_000 }),
      'application/json',
      400,
      'invalid_request',
    ],
    [
      'fractional participants',
      JSON.stringify({ title: 't', max_participants: 2.5 }),
      'application/json',
      400,
      'invalid_request',
    ],
    [
      'oversized body',
      JSON.stringify({ title: 'x'.repeat(9_000) }),
      'application/json',
      413,
      'payload_too_large',
    ],
    ['text/plain', 'title=t', 'text/plain', 415, 'unsupported_media_type'],
    ['form', 'title=t', 'application/x-www-form-urlencoded', 415, 'unsupported_media_type'],
  ];

  it.each(cases)(
    '%s is refused and stores nothing',
    async (_name, body, contentType, status, error) => {
      const before = await meetingCount();
      const response = await post(body, contentType);
      expect(response.status).toBe(status);
      expect(response.body.error).toBe(error);
      expect(await meetingCount()).toBe(before);
    },
  );

  it('stores an SQL-injection title as plain text', async () => {
    const title = "x'); DROP TABLE gc.meetings; --";
    const created = await createMeeting(userToken, { title });
    expect((await getMeeting(created.body.meeting_id as string)).body.title).toBe(title);
  });

  it.each([
    ['an unknown meeting code', 'abcdefghjkmn', 404, 'not_found'],
    ['an SQL-injection id', "x' OR '1'='1", 404, 'not_found'],
    ['an over-long id', 'a'.repeat(500), 414, 'uri_too_long'],
  ] as const)('answers %s with a 4xx and a JSON error', async (_name, id, status, error) => {
    const path = `${gc.url}/v1/meetings/${encodeURIComponent(id)}`;
    expect(await getMeeting(encodeURIComponent(id))).toMatchObject({ status, body: { error } });
    const deleted = await http(path, { method: 'DELETE', headers: bearer(userToken) });
    expect(deleted).toMatchObject({ status, body: { error } });
  });
});

describe('GC operations', () => {
  it('serves /health, /ready (database and JWKS) and /metrics by route template', async () => {
    expect(await (await fetch(`${gc.url}/health`)).text()).toBe('OK');
    expect(await http(`${gc.url}/ready`)).toMatchObject({
      status: 200,
      body: { status: 'ready', database: 'healthy', ac_jwks: 'reachable' },
    });
    const metrics = await (await fetch(`${gc.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /gc_http_request_duration_seconds_count\{method="GET",route="\/v1\/meetings\/:id",status_code="200"\} [1-9]/,
    );
    expect(metrics).not.toMatch(/route="\/v1\/meetings\/[a-z0-9]{12}"/);
  });
});
