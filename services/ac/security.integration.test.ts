// Attacks on a running AC against real PostgreSQL and Redis: a forged public key row, login
// lock-out, token-issuance floods, hostile input, and the headers every answer carries.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SIGNING_KEY_POLICY } from '../../core/keys/signing-ring.ts';
import { err, ok } from '../../core/result.ts';
import { parseEnvironment } from '../../adapters/config/env.ts';
import { signClaims, verifyToken } from '../../adapters/jwt/tokens.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { ManualClock } from '../shared/clock.ts';
import { validClaims } from '../shared/jwt-attacks.ts';
import {
  http,
  isolatedBackends,
  json,
  parsedEnvironment,
  pgAcStores,
  type IsolatedBackends,
  acTestEnvironment,
} from '../shared/testing.ts';
import { createUser, registerService } from './accounts.ts';
import { acEnvironment, type AcEnvironment } from './config.ts';
import { startAc, type RunningAc } from './server.ts';

const PASSWORD = 'correct horse battery staple';

let backends: IsolatedBackends;
let pool: Pool;
let env: AcEnvironment;
let clock: ManualClock;
let ac: RunningAc;
let admin: { clientId: string; clientSecret: string };
let worker: { clientId: string; clientSecret: string };
const quietLogger = createLogger('ac-service', 'silent');

const start = (overrides: Partial<AcEnvironment> = {}, logger = quietLogger) =>
  startAc({ ...env, ...overrides }, { clock, logger, scheduleRotation: false });

function unwrapOk<T>(result: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return result.value;
}

beforeAll(async () => {
  backends = await isolatedBackends();
  pool = createPool(backends.databaseUrl, 2);
  env = acTestEnvironment(backends);
  const stores = pgAcStores(pool);
  for (const username of ['alice', 'bob', 'carol']) {
    await createUser(
      { ...stores, bcryptCost: 12 },
      { username, password: PASSWORD, scopes: ['user.read.gc'], org: 'default' },
    );
  }
  admin = unwrapOk(
    await registerService(stores, { name: 'admin', scopes: ['service.admin.ac'], org: 'default' }),
  );
  worker = unwrapOk(
    await registerService(stores, { name: 'worker', scopes: ['service.read.gc'], org: 'default' }),
  );
  clock = new ManualClock(Date.parse('2026-11-22T04:00:00Z'));
  ac = await start();
});

afterAll(async () => {
  await ac.close();
  await pool.end();
  await backends.cleanUp();
});

/** The variables AC requires, nothing else (to read the defaults). */
const minimalEnv = () => ({
  DATABASE_URL: env.DATABASE_URL,
  REDIS_URL: env.REDIS_URL,
  AC_MASTER_KEY: env.AC_MASTER_KEY,
  METRICS_BIND_ADDRESS: undefined,
});

const publishedKeys = async (url: string) =>
  (await http(`${url}/.well-known/jwks.json`)).body.keys as Record<string, string>[];

describe('AC signing-key integrity', () => {
  it('refuses to start, and never publishes, when a public key row was replaced', async () => {
    const kid = ac.keys.signingKey()?.kid ?? '';
    const genuine = await pool.query<{ public_jwk: Record<string, string> }>(
      'SELECT public_jwk FROM ac.signing_keys WHERE kid = $1',
      [kid],
    );
    const original = genuine.rows[0]?.public_jwk;
    expect(original?.x).toBeTruthy();
    const attacker = generateKeyPairSync('ed25519');
    const attackerX = (attacker.publicKey.export({ format: 'jwk' }) as { x: string }).x;
    await pool.query('UPDATE ac.signing_keys SET public_jwk = $2 WHERE kid = $1', [
      kid,
      { ...original, x: attackerX },
    ]);
    try {
      await expect(start()).rejects.toThrow(
        new RegExp(`signing key ${kid}: the stored public key does not match its private key`),
      );
      // The running replica keeps publishing the key it derived, and refuses a token forged
      // with the attacker's key under the real kid.
      const published = await publishedKeys(ac.url);
      expect(published.map((key) => key.x)).not.toContain(attackerX);
      expect(published.find((key) => key.kid === kid)?.x).toBe(original?.x);
      const forged = await signClaims(
        validClaims({
          key: { kid, privateKey: attacker.privateKey },
          publicJwk: {},
          issuer: env.AC_ISSUER,
          audience: env.AC_TOKEN_AUDIENCE,
          now: clock.now(),
          scopes: 'service.admin.ac',
        }),
        { kid, privateKey: attacker.privateKey },
      );
      const before = await pool.query('SELECT count(*) FROM ac.services');
      const response = await http(
        `${ac.url}/v1/admin/services/register`,
        json({ name: 'evil', scopes: ['service.write.gc'] }, { authorization: `Bearer ${forged}` }),
      );
      expect(response).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
      expect(await pool.query('SELECT count(*) FROM ac.services')).toMatchObject({
        rows: before.rows,
      });
      const verified = await verifyToken(
        forged,
        {
          find: async (_issuer, wanted) => {
            const jwk = published.find((key) => key.kid === wanted);
            return jwk
              ? ok(createPublicKey({ key: jwk, format: 'jwk' }))
              : err({ kind: 'unknown_kid' as const, kid: wanted });
          },
        },
        {
          trustedIssuers: new Set([env.AC_ISSUER]),
          audience: env.AC_TOKEN_AUDIENCE,
          requiredScopes: [],
        },
        clock.now(),
      );
      expect(verified).toMatchObject({ ok: false, error: { kind: 'bad_signature' } });
    } finally {
      await pool.query('UPDATE ac.signing_keys SET public_jwk = $2 WHERE kid = $1', [
        kid,
        original,
      ]);
    }
    const restarted = await start();
    await restarted.close();
  });

  it('refuses a rotation that loads a next key whose public key row was replaced', async () => {
    const replica = await start();
    try {
      // Another replica "creates" next week's key first, and an attacker swaps its public key.
      clock.advance(7 * 24 * 3_600_000);
      await replica.keys.tick();
      const rows = await pool.query<{ kid: string; public_jwk: Record<string, string> }>(
        'SELECT kid, public_jwk FROM ac.signing_keys ORDER BY active_from_ms DESC LIMIT 1',
      );
      const newest = rows.rows[0];
      if (!newest) throw new Error('no key');
      const attackerX = (
        generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as { x: string }
      ).x;
      await pool.query('UPDATE ac.signing_keys SET public_jwk = $2 WHERE kid = $1', [
        newest.kid,
        { ...newest.public_jwk, x: attackerX },
      ]);
      await expect(ac.keys.tick()).rejects.toThrow(/does not match its private key/);
      expect((await publishedKeys(ac.url)).map((key) => key.x)).not.toContain(attackerX);
      await pool.query('UPDATE ac.signing_keys SET public_jwk = $2 WHERE kid = $1', [
        newest.kid,
        newest.public_jwk,
      ]);
      clock.advance(DEFAULT_SIGNING_KEY_POLICY.generationRetryMs);
      await ac.keys.tick();
      expect(ac.keys.jwks()).toEqual(replica.keys.jwks());
    } finally {
      await replica.close();
    }
  });
});

describe('AC rate limits', () => {
  let limited: RunningAc;
  const login = (username: string, password: string, from?: string) =>
    http(
      `${limited.url}/v1/auth/user/token`,
      json({ username, password }, from === undefined ? {} : { 'x-forwarded-for': from }),
    );

  beforeAll(async () => {
    limited = await start({
      AC_TRUSTED_PROXIES: ['127.0.0.1'],
      AC_LOGIN_BURST: 2,
      AC_LOGIN_REFILL_MS: 60_000,
      AC_SERVICE_TOKEN_BURST: 3,
      AC_SERVICE_TOKEN_REFILL_MS: 60_000,
    });
  });

  afterAll(async () => {
    await limited.close();
  });

  it('a lock-out attempt from one address does not lock the user out from another', async () => {
    const attacker = '203.0.113.7';
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await login('bob', `guess-${i}`, attacker)).status);
    expect(statuses).toEqual([401, 401, 429, 429, 429, 429]);
    const limitedAnswer = await login('bob', PASSWORD, attacker);
    expect(limitedAnswer).toMatchObject({ status: 429, body: { error: 'rate_limited' } });
    expect(Number(limitedAnswer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(typeof limitedAnswer.body.error_description).toBe('string');
    expect((await login('bob', PASSWORD, '198.51.100.9')).status).toBe(200);
  });

  it('locks a user out after failures from many addresses; successes are never counted', async () => {
    // Per-user failures: 4x the per-(user, address) burst of 2.
    for (let i = 0; i < 3; i++)
      expect((await login('carol', PASSWORD, `10.1.0.${i}`)).status).toBe(200);
    for (let i = 0; i < 8; i++)
      expect((await login('carol', 'wrong', `10.2.0.${i}`)).status).toBe(401);
    const locked = await login('carol', PASSWORD, '10.3.0.1');
    expect(locked).toMatchObject({ status: 429, body: { error: 'rate_limited' } });
    clock.advance(30_000);
    expect((await login('carol', PASSWORD, '10.3.0.1')).status).toBe(200);
  });

  it('ignores X-Forwarded-For unless the peer is a trusted proxy', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const response = await http(
        `${ac.url}/v1/auth/user/token`,
        json({ username: 'nobody', password: 'x' }, { 'x-forwarded-for': `192.0.2.${i}` }),
      );
      statuses.push(response.status);
    }
    // AC_LOGIN_BURST defaults to 5 per (user, address): every request came from 127.0.0.1.
    expect(statuses.filter((status) => status === 401)).toHaveLength(5);
    expect(statuses.slice(5).every((status) => status === 429)).toBe(true);
  });

  it('limits service-token issuance per client with 429 and Retry-After', async () => {
    const request = () =>
      http(
        `${limited.url}/v1/auth/service/token`,
        json({
          grant_type: 'client_credentials',
          client_id: worker.clientId,
          client_secret: worker.clientSecret,
        }),
      );
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await request()).status);
    const refused = await request();
    expect(statuses).toEqual([200, 200, 200]);
    expect(refused).toMatchObject({ status: 429, body: { error: 'rate_limited' } });
    expect(refused.headers.get('retry-after')).toBe('60');
    // A wrong secret is not charged to the client's bucket and still answers 401.
    const wrong = await http(
      `${limited.url}/v1/auth/service/token`,
      json({ grant_type: 'client_credentials', client_id: worker.clientId, client_secret: 'x' }),
    );
    expect(wrong.status).toBe(401);
    clock.advance(60_000);
    expect((await request()).status).toBe(200);
  });
});

describe('AC password checks', () => {
  it('compares unknown users against a decoy hash of the configured bcrypt cost', async () => {
    expect(bcrypt.getRounds(ac.passwords.decoyHash)).toBe(12);
    const costly = await start({ AC_BCRYPT_COST: 13 });
    try {
      expect(bcrypt.getRounds(costly.passwords.decoyHash)).toBe(13);
      const unknown = await http(
        `${costly.url}/v1/auth/user/token`,
        json({ username: 'nobody-at-all', password: 'x' }),
      );
      expect(unknown).toMatchObject({ status: 401, body: { error: 'invalid_grant' } });
    } finally {
      await costly.close();
    }
  });
});

/** Sends raw bytes to `url`'s host and port; resolves with everything read until it closes. */
function rawExchange(url: string, chunks: readonly (string | (() => Promise<void>))[]) {
  const { hostname, port } = new URL(url);
  return new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    socket.once('connect', async () => {
      for (const chunk of chunks) {
        if (typeof chunk === 'string') socket.write(chunk);
        else await chunk();
      }
    });
  });
}

/** The JSON body of a raw HTTP/1.1 answer (one answer, Content-Length framed). */
function answersIn(raw: string): { status: number; headers: string; body: unknown }[] {
  const answers = [];
  let rest = raw;
  while (rest.startsWith('HTTP/1.1 ')) {
    const headerEnd = rest.indexOf('\r\n\r\n');
    const headers = rest.slice(0, headerEnd).toLowerCase();
    const length = Number(/content-length: (\d+)/.exec(headers)?.[1] ?? 0);
    const body = rest.slice(headerEnd + 4, headerEnd + 4 + length);
    answers.push({ status: Number(rest.slice(9, 12)), headers, body: JSON.parse(body) });
    rest = rest.slice(headerEnd + 4 + length);
  }
  return answers;
}

/** A logger at trace level that keeps every line it writes. */
function capturingLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger('ac-service', 'trace', sink), lines };
}

/** Everything a log line says, with Buffers (serialised as byte arrays) turned back into text. */
function readable(line: string): string {
  return JSON.stringify(JSON.parse(line), (_key, value: unknown) => {
    const buffer = value as { type?: string; data?: number[] };
    return buffer?.type === 'Buffer' && Array.isArray(buffer.data)
      ? Buffer.from(buffer.data).toString('latin1')
      : value;
  });
}

describe('AC hostile input', () => {
  const basic = (credentials: string) => ({
    method: 'POST',
    body: 'grant_type=client_credentials',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(credentials, 'latin1').toString('base64')}`,
    },
  });

  it('answers a NUL byte in a username or client id with 400 in the error shape', async () => {
    const cases = [
      http(`${ac.url}/v1/auth/user/token`, json({ username: 'ali\u0000ce', password: 'x' })),
      http(
        `${ac.url}/v1/auth/service/token`,
        json({ grant_type: 'client_credentials', client_id: 'a\u0000b', client_secret: 'x' }),
      ),
      http(`${ac.url}/v1/auth/service/token`, {
        method: 'POST',
        body: 'grant_type=client_credentials&client_id=a%00b&client_secret=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    ];
    for (const response of await Promise.all(cases)) {
      expect(response).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
      expect(response.body.error_description).toMatch(/must not contain a NUL character/);
    }
  });

  it('answers a bad % escape or a NUL in Basic credentials with 401 invalid_client', async () => {
    for (const credentials of [
      `%zz:${admin.clientSecret}`,
      `${admin.clientId}:%E0%A4%A`,
      `${admin.clientId}%00:${admin.clientSecret}`,
      'no-separator',
    ]) {
      const response = await http(`${ac.url}/v1/auth/service/token`, basic(credentials));
      expect(response, credentials).toMatchObject({
        status: 401,
        body: { error: 'invalid_client' },
      });
      expect(typeof response.body.error_description).toBe('string');
      expect(response.headers.get('www-authenticate')).toBe('Basic realm="dark-tower"');
    }
    const good = await http(
      `${ac.url}/v1/auth/service/token`,
      basic(`${admin.clientId}:${admin.clientSecret}`),
    );
    expect(good.status).toBe(200);
  });

  it('logs a malformed request at trace level without its raw bytes', async () => {
    const { logger, lines } = capturingLogger();
    const traced = await start({}, logger);
    try {
      const body = '{"username":"alice","password":"hunter2-secret-password"}';
      const raw = await rawExchange(traced.url, [
        'POST /v1/auth/user/token HTTP/1.1\r\nHost: ac\r\n' +
          'Authorization: Bearer eyJ-secret-bearer-token\r\n' +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
          `Bad Header Line\r\n\r\n${body}`,
      ]);
      const [answer] = answersIn(raw);
      expect(answer).toMatchObject({
        status: 400,
        body: { error: 'invalid_request', error_description: 'the HTTP request is malformed' },
      });
      expect(answer?.headers).toContain('x-content-type-options: nosniff');
      const clientErrors = lines.filter((line) => line.includes('client error'));
      expect(clientErrors).toHaveLength(1);
      const logged = lines.map(readable).join('\n');
      expect(logged).not.toContain('hunter2-secret-password');
      expect(logged).not.toContain('eyJ-secret-bearer-token');
      expect(logged).not.toContain('rawPacket');
    } finally {
      await traced.close();
    }
  });

  it("answers Node's 431 for oversized headers in the error shape", async () => {
    const raw = await rawExchange(ac.url, [
      `GET /health HTTP/1.1\r\nHost: ac\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`,
    ]);
    const [answer] = answersIn(raw);
    expect(answer).toMatchObject({
      status: 431,
      body: { error: 'request_header_fields_too_large' },
    });
    expect(answer?.headers).toContain("content-security-policy: default-src 'none'");
  });
});

describe('HTTP layer', () => {
  it('sends nosniff and a restrictive CSP on every answer, HSTS only over TLS', async () => {
    const answers = await Promise.all([
      http(`${ac.url}/health`),
      http(`${ac.url}/ready`),
      http(`${ac.url}/.well-known/jwks.json`),
      http(`${ac.url}/v1/auth/user/token`, json({ username: 'alice' })),
      http(`${ac.url}/nowhere`),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 400, 404]);
    for (const answer of answers) {
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(answer.headers.get('content-security-policy')).toBe(
        "default-src 'none'; frame-ancestors 'none'",
      );
      expect(answer.headers.get('strict-transport-security')).toBeNull();
    }
    // Behind a trusted TLS-terminating proxy the request was served over TLS: HSTS.
    const viaProxy = await start({ AC_TRUSTED_PROXIES: ['127.0.0.1'] });
    try {
      const tls = await http(`${viaProxy.url}/health`, {
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(tls.headers.get('strict-transport-security')).toBe(
        'max-age=31536000; includeSubDomains',
      );
    } finally {
      await viaProxy.close();
    }
    // An untrusted peer cannot claim TLS.
    const spoofed = await http(`${ac.url}/health`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(spoofed.headers.get('strict-transport-security')).toBeNull();
  });

  it('serves /metrics only on its internal listener, loopback by default', async () => {
    expect(await http(`${ac.url}/metrics`)).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    expect(ac.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await fetch(`${ac.metricsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await metrics.text()).toMatch(/ac_http_request_duration_seconds_count\{/);
    expect(await http(`${ac.metricsUrl}/v1/auth/user/token`)).toMatchObject({ status: 404 });
    expect(
      parsedEnvironment(parseEnvironment(acEnvironment, { ...process.env, ...minimalEnv() }))
        .METRICS_BIND_ADDRESS,
    ).toEqual({ host: '127.0.0.1', port: 9082 });
  });

  it('accepts a lower-case bearer scheme (RFC 9110 section 11.1)', async () => {
    const token = (
      await http(
        `${ac.url}/v1/auth/service/token`,
        json({
          grant_type: 'client_credentials',
          client_id: admin.clientId,
          client_secret: admin.clientSecret,
        }),
      )
    ).body.access_token as string;
    for (const scheme of ['bearer', 'BEARER']) {
      const response = await http(
        `${ac.url}/v1/admin/services/register`,
        json(
          { name: `svc-${scheme}`, scopes: ['service.read.gc'] },
          { authorization: `${scheme} ${token}` },
        ),
      );
      expect(response.status).toBe(201);
    }
  });

  it('answers requests that arrive while draining with 503 in the error shape', async () => {
    const draining = await start();
    let closed: Promise<void> | undefined;
    const login = JSON.stringify({ username: 'nobody', password: 'slow-bcrypt' });
    const raw = await rawExchange(draining.url, [
      'POST /v1/auth/user/token HTTP/1.1\r\nHost: ac\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${login.length}\r\n\r\n${login}`,
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 60));
        closed = draining.close();
        await new Promise((resolve) => setTimeout(resolve, 20));
      },
      'GET /health HTTP/1.1\r\nHost: ac\r\n\r\n',
    ]);
    await closed;
    const answers = answersIn(raw);
    expect(answers.map((answer) => answer.status)).toEqual([401, 503]);
    expect(answers[1]).toMatchObject({
      body: { error: 'temporarily_unavailable', error_description: 'the server is shutting down' },
    });
    expect(answers[1]?.headers).toContain('retry-after: 1');
  });
});
