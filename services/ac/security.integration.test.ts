// Attacks on a running AC against real PostgreSQL and Redis: a forged public key row, login
// lock-out, token-issuance floods, hostile input, and the headers every answer carries.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
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
  testMasterKey,
  TEST_REDIS_URL,
  type IsolatedBackends,
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
  env = parsedEnvironment(
    parseEnvironment(acEnvironment, {
      DATABASE_URL: backends.databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      BIND_ADDRESS: '127.0.0.1:0',
      METRICS_BIND_ADDRESS: '127.0.0.1:0',
      AC_MASTER_KEY: testMasterKey(),
      AC_REDIS_KEY_PREFIX: backends.redisPrefix,
    }),
  );
  const stores = pgAcStores(pool);
  await createUser(
    { ...stores, bcryptCost: 12 },
    { username: 'alice', password: PASSWORD, scopes: ['user.read.gc'] },
  );
  admin = unwrapOk(await registerService(stores, { name: 'admin', scopes: ['service.admin.ac'] }));
  clock = new ManualClock(Date.parse('2026-11-22T04:00:00Z'));
  ac = await start();
});

afterAll(async () => {
  await ac.close();
  await pool.end();
  await backends.cleanUp();
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
