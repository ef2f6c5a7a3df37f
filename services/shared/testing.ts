// Test support for the service integration tests: isolated PostgreSQL databases and Redis
// key prefixes, so test files can run in parallel and leave nothing behind.
import { randomBytes } from 'node:crypto';
import { PgAuditLog, PgServiceStore, PgUserStore } from '../../adapters/postgres/ac-stores.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { createTestDatabase, type TestDatabase } from '../../adapters/postgres/test-database.ts';
import { createRedis, deleteOwnKeys, testKeyPrefix } from '../../adapters/redis/client.ts';
import { migrateSchemas } from './schema.ts';
import { parseEnvironment } from '../../adapters/config/env.ts';
import { acEnvironment, type AcEnvironment } from '../ac/config.ts';

import { TEST_REDIS_URL } from '../../adapters/redis/testing.ts';

export { TEST_REDIS_URL };

/** A migrated database and a Redis key prefix of one test file's own. */
export interface IsolatedBackends {
  readonly databaseUrl: string;
  readonly redisPrefix: string;
  cleanUp(): Promise<void>;
}

export async function isolatedBackends(): Promise<IsolatedBackends> {
  const database: TestDatabase = await createTestDatabase();
  const pool = createPool(database.url, 1);
  await migrateSchemas(pool);
  await pool.end();
  const redisPrefix = testKeyPrefix();
  return {
    databaseUrl: database.url,
    redisPrefix,
    async cleanUp() {
      const redis = createRedis(TEST_REDIS_URL, redisPrefix);
      await deleteOwnKeys(redis);
      await redis.quit();
      await database.drop();
    },
  };
}

/** A fresh random AC master key (base64). */
export const testMasterKey = () => randomBytes(32).toString('base64');

/** POSTs/GETs JSON and returns status, headers and parsed body. */
export async function http(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: parseJson(text) };
}

function parseJson(text: string): Record<string, unknown> {
  if (text === '') return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text };
  }
}

/** JSON request options. */
export const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
});

/** The configuration a parsed environment holds; throws listing the problems otherwise. */
export function parsedEnvironment<T>(
  result: { ok: true; value: T } | { ok: false; error: { problems: string[] } },
): T {
  if (!result.ok) throw new Error(result.error.problems.join('\n'));
  return result.value;
}

/**
 * AC's configuration for a test over isolated backends: loopback API and metrics ports, a
 * fresh master key, the backends' Redis prefix (`extra` adds or overrides variables).
 */
export function acTestEnvironment(
  backends: IsolatedBackends,
  extra: Record<string, string> = {},
): AcEnvironment {
  return parsedEnvironment(
    parseEnvironment(acEnvironment, {
      DATABASE_URL: backends.databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      BIND_ADDRESS: '127.0.0.1:0',
      METRICS_BIND_ADDRESS: '127.0.0.1:0',
      AC_MASTER_KEY: testMasterKey(),
      AC_REDIS_KEY_PREFIX: backends.redisPrefix,
      ...extra,
    }),
  );
}

/** AC's PostgreSQL stores over one pool: users, services and the audit log. */
export function pgAcStores(pool: Pool) {
  return {
    users: new PgUserStore(pool),
    services: new PgServiceStore(pool),
    audit: new PgAuditLog(pool),
  };
}

/** The access token AC's token endpoint `path` issues for `body`; throws unless 200. */
export async function issuedToken(acUrl: string, path: string, body: object): Promise<string> {
  const response = await http(`${acUrl}${path}`, json(body));
  if (response.status !== 200) throw new Error(JSON.stringify(response.body));
  return response.body.access_token as string;
}
