import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A throw-away database for one test file. */
export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

const ADMIN_CANDIDATES = [
  process.env.TEST_DATABASE_ADMIN_URL,
  'postgres://postgres@127.0.0.1:5432/postgres',
  'postgres://root@127.0.0.1:5432/postgres',
].filter((url): url is string => typeof url === 'string');

async function connectAdmin(): Promise<{ client: pg.Client; url: string }> {
  let lastError: unknown;
  for (const url of ADMIN_CANDIDATES) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      return { client, url };
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`no PostgreSQL admin connection on 127.0.0.1:5432: ${String(lastError)}`);
}

/**
 * Creates `dt_test_<random>` on the local PostgreSQL (trust auth, user postgres or root)
 * and returns its URL; `drop()` terminates its connections and drops it.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `dt_test_${randomBytes(6).toString('hex')}`;
  const { client, url: adminUrl } = await connectAdmin();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const admin = await connectAdmin();
      try {
        await admin.client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.client.end();
      }
    },
  };
}
