import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SIGNING_KEY_POLICY, keyScheduleAt } from '../../core/keys/signing-ring.ts';
import { err, ok } from '../../core/result.ts';
import { verifyToken } from '../../adapters/jwt/tokens.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { ManualClock } from '../shared/clock.ts';
import { jwtAttacks } from '../shared/jwt-attacks.ts';
import {
  http,
  isolatedBackends,
  json,
  pgAcStores,
  testMasterKey,
  type IsolatedBackends,
  acTestEnvironment,
} from '../shared/testing.ts';
import { assignOrg, createUser, registerService } from './accounts.ts';
import { type AcEnvironment } from './config.ts';
import { startAc, type RunningAc } from './server.ts';

const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;
const PASSWORD = 'correct horse battery staple';

let backends: IsolatedBackends;
let pool: Pool;
let env: AcEnvironment;
let clock: ManualClock;
let ac: RunningAc;
let admin: { clientId: string; clientSecret: string };
let worker: { clientId: string; clientSecret: string };
const quietLogger = createLogger('ac-service', 'silent');

const start = (at: ManualClock = clock) =>
  startAc(env, { clock: at, logger: quietLogger, scheduleRotation: false });

beforeAll(async () => {
  backends = await isolatedBackends();
  pool = createPool(backends.databaseUrl, 2);
  env = acTestEnvironment(backends, { AC_LOGIN_BURST: '3', AC_LOGIN_REFILL_MS: '60000' });
  const stores = pgAcStores(pool);
  await createUser(
    { ...stores, bcryptCost: 12 },
    {
      username: 'alice',
      password: PASSWORD,
      scopes: ['user.read.gc', 'user.write.gc'],
      org: 'acme',
    },
  );
  admin = unwrapOk(
    await registerService(stores, { name: 'admin', scopes: ['service.admin.ac'], org: 'default' }),
  );
  worker = unwrapOk(
    await registerService(stores, {
      name: 'worker',
      scopes: ['service.write.gc', 'service.read.mh'],
      org: 'globex',
    }),
  );
  clock = new ManualClock(Date.parse('2026-11-22T04:00:00Z'));
  ac = await start();
});

afterAll(async () => {
  await ac.close();
  await pool.end();
  await backends.cleanUp();
});

function unwrapOk<T>(result: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return result.value;
}

const count = async (table: string) =>
  Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);

/** Verifies a token against the JWKS AC publishes now, with core's claim rules at `clock`. */
async function verifyWithJwks(url: string, token: string, at: number) {
  const { body } = await http(`${url}/.well-known/jwks.json`);
  const jwks = body.keys as Record<string, string>[];
  return verifyToken(
    token,
    {
      find: async (_issuer, kid) => {
        const jwk = jwks.find((key) => key.kid === kid);
        return jwk
          ? ok(createPublicKey({ key: jwk, format: 'jwk' }))
          : err({ kind: 'unknown_kid' as const, kid });
      },
    },
    {
      trustedIssuers: new Set([env.AC_ISSUER]),
      audience: env.AC_TOKEN_AUDIENCE,
      requiredScopes: [],
    },
    at,
  );
}

async function serviceToken(url: string, client = worker) {
  const response = await http(
    `${url}/v1/auth/service/token`,
    json({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
    }),
  );
  expect(response.status).toBe(200);
  return response.body.access_token as string;
}

describe('AC user tokens', () => {
  it('issues a one-hour EdDSA token with the user scopes that verifies against the JWKS', async () => {
    const response = await http(
      `${ac.url}/v1/auth/user/token`,
      json({ username: 'alice', password: PASSWORD }),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'user.read.gc user.write.gc',
    });
    const verified = await verifyWithJwks(
      ac.url,
      response.body.access_token as string,
      clock.now(),
    );
    expect(verified.ok && verified.value.kind).toBe('user');
    expect(verified.ok && verified.value.org).toBe('acme');
    expect(verified.ok && verified.value.expiresAt - verified.value.issuedAt).toBe(3600);
  });

  it('answers a wrong password and an unknown user alike, and audits without secrets', async () => {
    const wrong = await http(
      `${ac.url}/v1/auth/user/token`,
      json({ username: 'alice', password: 'guess-1' }),
    );
    const unknown = await http(
      `${ac.url}/v1/auth/user/token`,
      json({ username: 'mallory', password: 'guess-2' }),
    );
    expect(wrong.status).toBe(401);
    expect(unknown).toMatchObject({ status: 401, body: wrong.body });
    expect(wrong.body.error).toBe('invalid_grant');
    const audit = await pool.query<Record<string, string | null>>('SELECT * FROM ac.audit_log');
    const text = JSON.stringify(audit.rows);
    expect(text).not.toContain('guess-1');
    expect(text).not.toContain(PASSWORD);
    expect(
      audit.rows.filter((row) => row.event_type === 'user_login_failed').map((row) => row.reason),
    ).toEqual(expect.arrayContaining(['wrong_password', 'unknown_user']));
  });

  it('limits login attempts per username through Redis with 429 and Retry-After', async () => {
    const attempt = () =>
      http(`${ac.url}/v1/auth/user/token`, json({ username: 'brute-target', password: 'x' }));
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await attempt()).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const limited = await attempt();
    expect(limited.body.error).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    clock.advance(60_000);
    expect((await attempt()).status).toBe(401);
  });
});

describe('AC service tokens (OAuth 2.0 client credentials)', () => {
  it('issues a two-hour token from JSON, a form, or HTTP Basic credentials', async () => {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: worker.clientId,
      client_secret: worker.clientSecret,
    });
    const asForm = await http(`${ac.url}/v1/auth/service/token`, {
      method: 'POST',
      body: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const basic = Buffer.from(`${worker.clientId}:${worker.clientSecret}`).toString('base64');
    const asBasic = await http(`${ac.url}/v1/auth/service/token`, {
      method: 'POST',
      body: 'grant_type=client_credentials',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${basic}`,
      },
    });
    for (const response of [asForm, asBasic]) {
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        expires_in: 7200,
        scope: 'service.write.gc service.read.mh',
      });
    }
    const verified = await verifyWithJwks(ac.url, await serviceToken(ac.url), clock.now());
    expect(verified.ok && verified.value.subject).toBe(worker.clientId);
    expect(verified.ok && verified.value.org).toBe('globex');
  });

  it('puts the organisation of the account in claim org, and follows a reassignment', async () => {
    const moved = await registerService(pgAcStores(pool), {
      name: 'mover',
      scopes: ['service.read.gc'],
      org: 'globex',
    });
    if (!moved.ok) throw new Error('registration failed');
    const orgOf = async () => {
      const verified = await verifyWithJwks(
        ac.url,
        await serviceToken(ac.url, moved.value),
        clock.now(),
      );
      return verified.ok ? verified.value.org : verified.error.kind;
    };
    expect(await orgOf()).toBe('globex');
    expect(
      await assignOrg(pgAcStores(pool), {
        account: { clientId: moved.value.clientId },
        org: 'initech',
      }),
    ).toEqual({ ok: true, value: undefined });
    expect(await orgOf()).toBe('initech');
    expect(
      await assignOrg(pgAcStores(pool), {
        account: { clientId: moved.value.clientId },
        org: 'Bad Org',
      }),
    ).toEqual({ ok: false, error: { kind: 'invalid_org', org: 'Bad Org' } });
    expect(
      await assignOrg(pgAcStores(pool), { account: { username: 'nobody' }, org: 'initech' }),
    ).toEqual({ ok: false, error: { kind: 'unknown_account', key: 'nobody' } });
    expect(await orgOf()).toBe('initech');
  });

  it('narrows scopes on request and refuses scopes the client does not hold', async () => {
    const request = (scope: string) =>
      http(
        `${ac.url}/v1/auth/service/token`,
        json({
          grant_type: 'client_credentials',
          client_id: worker.clientId,
          client_secret: worker.clientSecret,
          scope,
        }),
      );
    expect((await request('service.read.mh')).body.scope).toBe('service.read.mh');
    expect(await request('service.admin.ac')).toMatchObject({
      status: 400,
      body: { error: 'invalid_scope' },
    });
    expect(await request('not a scope')).toMatchObject({
      status: 400,
      body: { error: 'invalid_scope' },
    });
  });

  it('rejects other grant types, missing credentials and wrong secrets per RFC 6749', async () => {
    const post = (body: object) => http(`${ac.url}/v1/auth/service/token`, json(body));
    expect(
      await post({
        grant_type: 'password',
        client_id: worker.clientId,
        client_secret: worker.clientSecret,
      }),
    ).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
    expect(
      await post({ grant_type: 'client_credentials', client_id: worker.clientId }),
    ).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(
      await post({
        grant_type: 'client_credentials',
        client_id: worker.clientId,
        client_secret: 'wrong',
      }),
    ).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(
      await post({
        grant_type: 'client_credentials',
        client_id: "x' OR 1=1 --",
        client_secret: 'wrong',
      }),
    ).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });
});

describe('AC service registration', () => {
  it('registers a service for an admin token and returns a one-time secret that works', async () => {
    const token = await serviceToken(ac.url, admin);
    const before = await count('ac.services');
    const response = await http(
      `${ac.url}/v1/admin/services/register`,
      json(
        { name: 'meeting-controller', scopes: ['service.write.gc'] },
        { authorization: `Bearer ${token}` },
      ),
    );
    expect(response.status).toBe(201);
    expect(response.body.org).toBe('default');
    expect(await count('ac.services')).toBe(before + 1);
    const stored = await pool.query<{ secret_hash: Buffer }>(
      'SELECT secret_hash FROM ac.services WHERE client_id = $1',
      [response.body.client_id],
    );
    expect(stored.rows[0]?.secret_hash.toString('utf8')).not.toContain(
      response.body.client_secret as string,
    );
    const issued = await serviceToken(ac.url, {
      clientId: response.body.client_id as string,
      clientSecret: response.body.client_secret as string,
    });
    expect(issued.split('.')).toHaveLength(3);
  });

  it('refuses callers without the admin scope and bodies with foreign scopes, storing nothing', async () => {
    const before = await count('ac.services');
    const body = { name: 'sneaky', scopes: ['service.write.gc'] };
    const workerToken = await serviceToken(ac.url);
    expect(await http(`${ac.url}/v1/admin/services/register`, json(body))).toMatchObject({
      status: 401,
      body: { error: 'invalid_token' },
    });
    expect(
      await http(
        `${ac.url}/v1/admin/services/register`,
        json(body, { authorization: `Bearer ${workerToken}` }),
      ),
    ).toMatchObject({ status: 403, body: { error: 'insufficient_scope' } });
    const adminToken = await serviceToken(ac.url, admin);
    expect(
      await http(
        `${ac.url}/v1/admin/services/register`,
        json({ name: 'x', scopes: ['user.admin.gc'] }, { authorization: `Bearer ${adminToken}` }),
      ),
    ).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(
      await http(
        `${ac.url}/v1/admin/services/register`,
        json({ ...body, org: 'Not An Org' }, { authorization: `Bearer ${adminToken}` }),
      ),
    ).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await count('ac.services')).toBe(before);
  });

  it('rejects every token of the JWT attack suite with the right status', async () => {
    const key = ac.keys.signingKey();
    if (!key) throw new Error('no signing key');
    const publicJwk = (await http(`${ac.url}/.well-known/jwks.json`)).body.keys as Record<
      string,
      string
    >[];
    const attacks = await jwtAttacks(
      {
        key,
        publicJwk: publicJwk.find((jwk) => jwk.kid === key.kid) ?? {},
        issuer: env.AC_ISSUER,
        audience: env.AC_TOKEN_AUDIENCE,
        now: clock.now(),
        scopes: 'service.admin.ac',
      },
      'service.write.ac',
    );
    const before = await count('ac.services');
    for (const attack of attacks) {
      const response = await http(
        `${ac.url}/v1/admin/services/register`,
        json(
          { name: 'attack', scopes: ['service.read.gc'] },
          { authorization: `Bearer ${attack.token}` },
        ),
      );
      expect({ attack: attack.name, status: response.status, error: response.body.error }).toEqual({
        attack: attack.name,
        status: attack.status,
        error: attack.error,
      });
    }
    expect(await count('ac.services')).toBe(before);
  });
});

describe('AC bad input', () => {
  const cases: [string, { body: string; headers: Record<string, string> }, number, string][] = [
    [
      'malformed JSON',
      { body: '{"username": "alice",', headers: { 'content-type': 'application/json' } },
      400,
      'invalid_request',
    ],
    [
      'missing password',
      { body: '{"username":"alice"}', headers: { 'content-type': 'application/json' } },
      400,
      'invalid_request',
    ],
    [
      'extra field',
      {
        body: JSON.stringify({ username: 'alice', password: 'x', admin: true }),
        headers: { 'content-type': 'application/json' },
      },
      400,
      'invalid_request',
    ],
    [
      'wrong field type',
      {
        body: JSON.stringify({ username: ['alice'], password: 1 }),
        headers: { 'content-type': 'application/json' },
      },
      400,
      'invalid_request',
    ],
    [
      'JSON array body',
      { body: '[]', headers: { 'content-type': 'application/json' } },
      400,
      'invalid_request',
    ],
    [
      'empty body',
      { body: '', headers: { 'content-type': 'application/json' } },
      400,
      'invalid_request',
    ],
    [
      'oversized body',
      {
        body: JSON.stringify({ username: 'a'.repeat(20_000), password: 'x' }),
        headers: { 'content-type': 'application/json' },
      },
      413,
      'payload_too_large',
    ],
    [
      'text/plain',
      { body: 'username=alice', headers: { 'content-type': 'text/plain' } },
      415,
      'unsupported_media_type',
    ],
    [
      'form on the JSON endpoint',
      {
        body: 'username=alice&password=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      415,
      'unsupported_media_type',
    ],
    [
      'SQL injection in the username',
      {
        body: JSON.stringify({ username: "alice' OR '1'='1' --", password: "' OR '1'='1" }),
        headers: { 'content-type': 'application/json' },
      },
      401,
      'invalid_grant',
    ],
  ];

  it.each(cases)('%s is refused and stores nothing', async (_name, request, status, error) => {
    const users = await count('ac.users');
    const response = await http(`${ac.url}/v1/auth/user/token`, { method: 'POST', ...request });
    expect(response.status).toBe(status);
    expect(response.body.error).toBe(error);
    expect(typeof response.body.error_description).toBe('string');
    expect(await count('ac.users')).toBe(users);
  });

  it('answers unknown routes with a JSON 404', async () => {
    expect(await http(`${ac.url}/v1/auth/nothing`)).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
  });
});

describe('AC operations', () => {
  it('serves /health, /ready and bounded /metrics', async () => {
    const health = await fetch(`${ac.url}/health`);
    expect(await health.text()).toBe('OK');
    expect(await http(`${ac.url}/ready`)).toMatchObject({
      status: 200,
      body: {
        status: 'ready',
        database: 'healthy',
        redis: 'healthy',
        redis_breaker: 'closed',
        signing_key: 'available',
      },
    });
    const metrics = await (await fetch(`${ac.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^ac_circuit_breaker_state\{dependency="redis"\} 0$/m);
    expect(metrics).toMatch(
      /ac_http_request_duration_seconds_count\{method="POST",route="\/v1\/auth\/user\/token",status_code="401"\}/,
    );
    expect(metrics).toMatch(/ac_auth_failures_total\{reason="invalid_credentials"\} \d+/);
    expect(metrics).toMatch(/ac_signing_key_age_seconds \d+/);
    expect(metrics).not.toContain('alice');
    expect(metrics).not.toContain('brute-target');
  });
});

describe('AC signing keys', () => {
  it('keeps its keys across a restart: tokens issued before verify after', async () => {
    const token = await serviceToken(ac.url);
    const kidBefore = ac.keys.signingKey()?.kid;
    const keysBefore = await count('ac.signing_keys');
    await ac.close();
    ac = await start();
    expect(ac.keys.signingKey()?.kid).toBe(kidBefore);
    expect(await count('ac.signing_keys')).toBe(keysBefore);
    expect((await verifyWithJwks(ac.url, token, clock.now())).ok).toBe(true);
  });

  it('re-wraps its keys under a new master key and then needs only that key', async () => {
    const token = await serviceToken(ac.url);
    await ac.close();
    const rotated = {
      ...env,
      AC_MASTER_KEY: testMasterKey(),
      AC_MASTER_KEY_VERSION: 2,
      AC_PREVIOUS_MASTER_KEYS: new Map([[1, Buffer.from(env.AC_MASTER_KEY, 'base64')]]),
    };
    ac = await startAc(rotated, { clock, logger: quietLogger, scheduleRotation: false });
    const versions = await pool.query<{ v: number }>(
      'SELECT DISTINCT master_key_version AS v FROM ac.signing_keys',
    );
    expect(versions.rows.map((row) => row.v)).toEqual([2]);
    await ac.close();
    env = { ...rotated, AC_MASTER_KEY_VERSION: 2, AC_PREVIOUS_MASTER_KEYS: new Map() };
    ac = await start();
    expect((await verifyWithJwks(ac.url, token, clock.now())).ok).toBe(true);
  });

  it('refuses to start when a key is sealed under a master key it does not hold', async () => {
    const stranger = { ...env, AC_MASTER_KEY: testMasterKey(), AC_MASTER_KEY_VERSION: 3 };
    await expect(
      startAc(stranger, { clock, logger: quietLogger, scheduleRotation: false }),
    ).rejects.toThrow(/not loaded/);
  });

  it('rotates weekly under traffic without rejecting any valid token', async () => {
    const issued: { token: string; expiresAt: number }[] = [];
    const kids = new Set<string>();
    for (let step = 0; step < 4 * 9; step++) {
      clock.advance(6 * HOUR);
      await ac.keys.tick();
      const [token] = await Promise.all([serviceToken(ac.url), serviceToken(ac.url)]);
      kids.add(ac.keys.signingKey()?.kid ?? '');
      issued.push({ token, expiresAt: clock.now() + 2 * HOUR });
      const live = issued.filter((entry) => entry.expiresAt > clock.now());
      for (const entry of live) {
        const verified = await verifyWithJwks(ac.url, entry.token, clock.now());
        expect(verified.ok, JSON.stringify(verified)).toBe(true);
      }
    }
    expect(kids.size).toBeGreaterThanOrEqual(2);
    const next = keyScheduleAt(DEFAULT_SIGNING_KEY_POLICY, clock.now(), 1);
    clock.advance(next.activeFrom - clock.now() - DEFAULT_SIGNING_KEY_POLICY.prePublishLeadMs / 2);
    await ac.keys.tick();
    const published = (
      (await http(`${ac.url}/.well-known/jwks.json`)).body.keys as { kid: string }[]
    ).map((k) => k.kid);
    expect(published).toContain(next.kid.replace(/^ac-/, `${env.AC_KID_PREFIX}-`));
  });

  it('lets exactly one of two replicas create each new key', async () => {
    const second = new ManualClock(clock.now());
    const replica = await start(second);
    try {
      const jump = WEEK;
      clock.advance(jump);
      second.advance(jump);
      await Promise.all([ac.keys.tick(), replica.keys.tick(), ac.keys.tick(), replica.keys.tick()]);
      const rows = await pool.query<{ kid: string }>('SELECT kid FROM ac.signing_keys');
      const created = await pool.query<{ subject: string }>(
        "SELECT subject FROM ac.audit_log WHERE event_type = 'signing_key_rotated'",
      );
      const createdKids = created.rows.map((row) => row.subject);
      expect(new Set(createdKids).size).toBe(createdKids.length);
      expect(rows.rows.every((row) => createdKids.includes(row.kid))).toBe(true);
      expect(ac.keys.signingKey()?.kid).toBe(replica.keys.signingKey()?.kid);
      expect(ac.keys.jwks()).toEqual(replica.keys.jwks());
    } finally {
      await replica.close();
    }
  });
});
