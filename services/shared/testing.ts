// Test support for the service integration tests: isolated PostgreSQL databases and Redis
// key prefixes, so test files can run in parallel and leave nothing behind.
import { randomBytes } from 'node:crypto';
import { createPool } from '../../adapters/postgres/pool.ts';
import { createTestDatabase, type TestDatabase } from '../../adapters/postgres/test-database.ts';
import { createRedis, deleteOwnKeys, testKeyPrefix } from '../../adapters/redis/client.ts';
import { migrateSchemas } from './schema.ts';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

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
