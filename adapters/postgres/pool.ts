import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** Longest wait for a connection from the pool, or for a new one to open (ms). */
export const CONNECT_TIMEOUT_MS = 1_500;
/** Longest wait for a query's answer before it fails (ms), so an unresponsive server fails fast. */
export const QUERY_TIMEOUT_MS = 1_500;

/**
 * A connection pool to DATABASE_URL; `max` bounds connections per process. Waiting for a
 * connection and for a query's answer are bounded ({@link CONNECT_TIMEOUT_MS},
 * {@link QUERY_TIMEOUT_MS}), so a database that is down or silent fails a request within
 * about three seconds instead of holding it. With
 * `asynchronousCommit`, commits return before the WAL reaches disk (PostgreSQL's
 * `synchronous_commit = off`): a crash can lose the last fraction of a second of writes but
 * never corrupts; meant for append-only records such as the audit log.
 */
export function createPool(
  connectionString: string,
  max = 10,
  options: { asynchronousCommit?: boolean } = {},
): Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    ...(options.asynchronousCommit ? { options: '-c synchronous_commit=off' } : {}),
  });
  // An idle client losing its connection must not crash the process; the next query retries.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `work` in a transaction: commits on success, rolls back if it throws. */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** True when the database answers a trivial query. */
export async function databaseIsReachable(pool: Pool): Promise<boolean> {
  try {
    await pool.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
