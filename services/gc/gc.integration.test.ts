import { request as httpRequest } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signClaims } from '../../adapters/jwt/tokens.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { createRedis, type Redis } from '../../adapters/redis/client.ts';
import type { RunningAc } from '../ac/server.ts';
import { McHealth, RegisterMcRequest } from '../generated/darktower/gc/v1/gc.ts';
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
import { mcRegistration, serviceTokenFor, startAcForGc } from './testing.ts';

const WEEK = 7 * 24 * 3_600_000;
let backends: IsolatedBackends;
let pool: Pool;
let redis: Redis;
let clock: ManualClock;
let ac: RunningAc;
let gc: RunningGc;
let userToken: string;
let mcClient: GcClient;
let mcToken: string;
const logger = createLogger('test', 'silent');

/** A genuine AC-signed user token for another subject and scope set. */
async function tokenAs(subject: string, scopes: string, org = 'default') {
  const key = ac.keys.signingKey();
  if (!key) throw new Error('no signing key');
  const context = {
    key,
    publicJwk: {},
    issuer: 'dark-tower-ac',
    audience: 'dark-tower',
    now: clock.now(),
    scopes,
    org,
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
  mcToken = started.mcToken;
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
function requestWithHost(
  method: string,
  path: string,
  host: string,
  body?: object,
  token = userToken,
) {
  const target = new URL(path, gc.url);
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const outgoing = httpRequest(
      {
        method,
        hostname: target.hostname,
        port: target.port,
        path: target.pathname,
        headers: { host, 'content-type': 'application/json', ...bearer(token) },
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
    const acmeUser = await tokenAs('acme-user', 'user.read.gc user.write.gc', 'acme');
    const atAcme = (method: string, path: string, body?: object, token = acmeUser) =>
      requestWithHost(method, path, 'acme.dark-tower.test', body, token);
    const created = await atAcme('POST', '/v1/meetings', { title: 'Acme sync' });
    expect(created).toMatchObject({ status: 201, body: { org_id: 'acme', max_participants: 10 } });
    const id = created.body.meeting_id as string;
    expect((await atAcme('GET', `/v1/meetings/${id}`)).status).toBe(200);
    // The default organisation's user, at its own address or at Acme's, finds nothing.
    expect((await getMeeting(id)).status).toBe(404);
    expect((await atAcme('GET', `/v1/meetings/${id}`, undefined, userToken)).status).toBe(404);
    // Acme's user at the default organisation's address finds nothing either.
    expect((await getMeeting(id, acmeUser)).status).toBe(404);
    const nobody = await tokenAs('nobody-user', 'user.write.gc', 'nobody');
    expect(
      await requestWithHost(
        'POST',
        '/v1/meetings',
        'nobody.dark-tower.test',
        { title: 'x' },
        nobody,
      ),
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

  it('tells clients the WebTransport endpoints and certificate hashes a controller registered', async () => {
    const id = (await createMeeting(userToken)).body.meeting_id as string;
    const placed = (await getMeeting(id)).body.meeting_controller as {
      id: string;
      region: string;
    };
    const hash = Buffer.alloc(32, 0xab);
    const endpoints = [
      { url: `https://${placed.id}.example:4433/v1/signaling`, carrier: 'h3', certSha256: hash },
      {
        url: `https://${placed.id}.example:4434/v1/signaling`,
        carrier: 'h2',
        certSha256: Buffer.alloc(0),
      },
    ];
    const registration = mcRegistration(placed.id, placed.region);
    expect(await mcClient.registerMc({ ...registration, webtransport: endpoints })).toMatchObject({
      accepted: true,
    });
    expect((await getMeeting(id)).body.meeting_controller).toEqual({
      id: placed.id,
      region: placed.region,
      url: registration.publicUrl,
      webtransport: [
        { url: endpoints[0]?.url, carrier: 'h3', cert_sha256: hash.toString('hex') },
        { url: endpoints[1]?.url, carrier: 'h2', cert_sha256: '' },
      ],
    });
    // A registration again without them (a controller restarted without WebTransport) drops them.
    await mcClient.registerMc(registration);
    expect((await getMeeting(id)).body.meeting_controller).toMatchObject({
      id: placed.id,
      webtransport: [],
    });
  });

  it.each([
    ['a plain http URL', { url: 'http://mc.example:4433/v1/signaling' }],
    ['a URL with credentials', { url: 'https://u:p@mc.example:4433/v1/signaling' }],
    ['not a URL', { url: 'mc.example' }],
    ['an unknown carrier', { carrier: 'h1' }],
    ['a 31-byte hash', { certSha256: Buffer.alloc(31) }],
  ])(
    'refuses a WebTransport endpoint with %s (INVALID_ARGUMENT), keeping the registration',
    async (_name, bad) => {
      const registration = mcRegistration('mc-wt-bad', 'us-west-1');
      const good = {
        url: 'https://mc-wt-bad.example:4433/v1/signaling',
        carrier: 'h3',
        certSha256: Buffer.alloc(32, 1),
      };
      await mcClient.registerMc({ ...registration, webtransport: [good] });
      await expect(
        mcClient.registerMc({ ...registration, webtransport: [{ ...good, ...bad }] }),
      ).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
      const stored = JSON.parse(
        (await redis.hget('mc:controller:mc-wt-bad', 'webtransport')) ?? '[]',
      ) as unknown[];
      expect(stored).toEqual([{ ...good, certSha256: good.certSha256.toString('hex') }]);
    },
  );

  it('refuses more than four WebTransport endpoints', async () => {
    const endpoint = {
      url: 'https://mc-many.example:4433/v1/signaling',
      carrier: 'h3',
      certSha256: Buffer.alloc(0),
    };
    await expect(
      mcClient.registerMc({
        ...mcRegistration('mc-many', 'us-west-1'),
        webtransport: Array.from({ length: 5 }, () => endpoint),
      }),
    ).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
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
    // Meetings a heartbeat says it ended: meeting ids only, a bounded list.
    const beat = {
      mcId: 'never-registered',
      currentMeetings: 0,
      currentParticipants: 0,
      health: McHealth.MC_HEALTH_HEALTHY,
    };
    await expect(
      mcClient.mcHeartbeat({ ...beat, endedMeetings: ['not a meeting!'] }),
    ).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
    await expect(
      mcClient.mcHeartbeat({ ...beat, endedMeetings: Array.from({ length: 4_097 }, () => 'm') }),
    ).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
    expect(await mcClient.mcHeartbeat({ ...beat, endedMeetings: ['m-1'] })).toMatchObject({
      acknowledged: false,
      endedMeetings: [],
    });
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

describe('GC meeting controller registration security', () => {
  const heartbeat = (mcId: string) => ({
    mcId,
    currentMeetings: 0,
    currentParticipants: 0,
    health: McHealth.MC_HEALTH_DRAINING,
  });

  it('refuses another service re-registering or heartbeating a registered mc_id (hijack)', async () => {
    const mine = mcRegistration('mc-owned', 'eu-central-1');
    expect(await mcClient.registerMc(mine)).toMatchObject({ accepted: true });
    const intruder = await serviceTokenFor(ac, pool, {
      name: 'intruder',
      scopes: ['service.write.gc'],
    });
    const attacker = connectGc(gc.grpcAddress, intruder.token);
    try {
      await expect(
        attacker.registerMc({ ...mine, publicUrl: 'https://attacker.example:4433' }),
      ).rejects.toMatchObject({ code: GrpcStatus.PERMISSION_DENIED });
      await expect(attacker.mcHeartbeat(heartbeat('mc-owned'))).rejects.toMatchObject({
        code: GrpcStatus.PERMISSION_DENIED,
      });
      // The owner's registration is untouched: still healthy, still at its own URL.
      const stored = await redis.hgetall('mc:controller:mc-owned');
      expect(stored).toMatchObject({ endpoint: mine.publicUrl, healthy: '1' });
      // The attacker may register a controller id of its own.
      expect(
        await attacker.registerMc(mcRegistration('mc-intruder', 'eu-central-1')),
      ).toMatchObject({ accepted: true });
    } finally {
      attacker.close();
    }
    // The owner re-registers and heartbeats as before.
    expect(await mcClient.registerMc(mine)).toMatchObject({ accepted: true });
    expect(await mcClient.mcHeartbeat(heartbeat('mc-owned'))).toMatchObject({
      acknowledged: true,
    });
  });

  it.each([
    ['javascript:', 'javascript:alert(document.cookie)'],
    ['data:', 'data:text/html,<script>alert(1)</script>'],
    ['plain http on a public host', 'http://mc.example:4433'],
    ['plain ws on a public host', 'ws://mc.example:4433'],
    ['plain http on loopback outside development', 'http://127.0.0.1:4433'],
    ['credentials in the URL', 'https://user:secret@mc.example:4433'],
    ['a relative URL', '/mc'],
  ])('refuses a public_url with %s', async (_name, publicUrl) => {
    await expect(
      mcClient.registerMc({ ...mcRegistration('mc-url-check', 'us-west-1'), publicUrl }),
    ).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
    expect(await redis.exists('mc:controller:mc-url-check')).toBe(0);
  });

  it('accepts https and wss public URLs', async () => {
    for (const publicUrl of ['https://mc-s.example:4433', 'wss://mc-s.example/ws']) {
      expect(
        await mcClient.registerMc({ ...mcRegistration('mc-secure', 'us-west-1'), publicUrl }),
      ).toMatchObject({ accepted: true });
      expect(await redis.hget('mc:controller:mc-secure', 'endpoint')).toBe(publicUrl);
    }
  });
});

describe('GC malformed gRPC messages', () => {
  /** Sends `bytes` as the request of `method`, bypassing protobuf encoding. */
  function rawCall(method: string, bytes: Buffer, token: string | undefined) {
    const client = new grpc.Client(gc.grpcAddress, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
    return new Promise<{ code: number; details: string }>((resolve) => {
      client.makeUnaryRequest(
        `/darktower.gc.v1.GlobalControllerService/${method}`,
        (value: Buffer) => value,
        (value: Buffer) => value,
        bytes,
        metadata,
        (error) => {
          client.close();
          resolve({ code: error?.code ?? GrpcStatus.OK, details: error?.details ?? '' });
        },
      );
    });
  }

  it.each([
    ['a truncated length-delimited field', Buffer.from([0x0a, 0x05, 0x61])],
    ['an invalid wire type', Buffer.from([0x0f, 0x01])],
    [
      'a varint that never ends',
      Buffer.from([0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ],
  ])('answers %s with INVALID_ARGUMENT, not INTERNAL', async (_name, bytes) => {
    for (const method of ['RegisterMc', 'McHeartbeat']) {
      expect(await rawCall(method, bytes, mcToken)).toEqual({
        code: GrpcStatus.INVALID_ARGUMENT,
        details: 'malformed request message',
      });
    }
  });

  it('still answers well-formed raw bytes normally', async () => {
    const bytes = Buffer.from(
      RegisterMcRequest.encode(
        RegisterMcRequest.fromPartial(mcRegistration('mc-raw', 'us-west-1')),
      ).finish(),
    );
    expect((await rawCall('RegisterMc', bytes, mcToken)).code).toBe(GrpcStatus.OK);
  });
});

describe('GC unsupported methods', () => {
  it.each([
    ['PUT', '/v1/meetings/abcdefghjkmn', 'GET, HEAD, DELETE'],
    ['PATCH', '/v1/meetings/abcdefghjkmn', 'GET, HEAD, DELETE'],
    ['POST', '/v1/meetings/abcdefghjkmn', 'GET, HEAD, DELETE'],
    ['GET', '/v1/meetings', 'POST'],
    ['PUT', '/v1/meetings', 'POST'],
    ['DELETE', '/v1/meetings', 'POST'],
  ])('%s %s is 405 with Allow and the JSON error body', async (method, path, allow) => {
    const response = await http(`${gc.url}${path}`, {
      method,
      body: method === 'GET' || method === 'DELETE' ? undefined : 'not json at all',
      headers: { 'content-type': 'text/plain', ...bearer(userToken) },
    });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe(allow);
    expect(response.body).toEqual({
      error: 'method_not_allowed',
      error_description: `${method} is not supported here; use ${allow}`,
    });
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
  it('serves /health, /ready (database, Redis, cached JWKS) and /metrics by route template', async () => {
    expect(await (await fetch(`${gc.url}/health`)).text()).toBe('OK');
    expect(await http(`${gc.url}/ready`)).toMatchObject({
      status: 200,
      body: {
        status: 'ready',
        database: 'healthy',
        redis: 'healthy',
        redis_breaker: 'closed',
        ac_jwks: 'cached',
      },
    });
    const metrics = await (await fetch(`${gc.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^gc_circuit_breaker_state\{dependency="redis"\} 0$/m);
    expect(metrics).toMatch(
      /gc_http_request_duration_seconds_count\{method="GET",route="\/v1\/meetings\/:id",status_code="200"\} [1-9]/,
    );
    expect(metrics).not.toMatch(/route="\/v1\/meetings\/[a-z0-9]{12}"/);
  });
});

describe('GC idempotent meeting creation', () => {
  const withKey = (key: string, token = userToken, body: object = { title: 'Standup' }) =>
    http(`${gc.url}/v1/meetings`, json(body, { ...bearer(token), 'idempotency-key': key }));

  it('answers a retry with the same Idempotency-Key and body with the original meeting', async () => {
    const key = `retry-${crypto.randomUUID()}`;
    const first = await withKey(key);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const retry = await withKey(key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body.meeting_id).toBe(first.body.meeting_id);
    expect(retry.body.created_at).toBe(first.body.created_at);
    const rows = await pool.query('SELECT 1 FROM gc.meetings WHERE idempotency_key = $1', [key]);
    expect(rows.rowCount).toBe(1);
  });

  it('refuses the same key for a different body (422), keeps keys per creator, checks the key', async () => {
    const key = `reuse-${crypto.randomUUID()}`;
    const first = await withKey(key);
    expect(await withKey(key, userToken, { title: 'Something else' })).toMatchObject({
      status: 422,
      body: { error: 'idempotency_key_reused' },
    });
    const other = await withKey(key, await tokenAs('another-user', 'user.write.gc'));
    expect(other.status).toBe(201);
    expect(other.body.meeting_id).not.toBe(first.body.meeting_id);
    for (const bad of ['', 'x'.repeat(129), 'has space']) {
      expect(await withKey(bad)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    }
  });
});
