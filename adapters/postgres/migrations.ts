import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inTransaction, type Pool } from './pool.ts';

/** One SQL migration: applied once, in version order, inside its own transaction. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const FILE_NAME = /^(\d+)_([a-z0-9_]+)\.sql$/;

/** Reads `NNN_name.sql` files from a folder, ordered by version. */
export async function loadMigrations(folder: string): Promise<Migration[]> {
  const files = await readdir(folder);
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = FILE_NAME.exec(file);
    if (!match?.[1] || !match[2]) continue;
    const sql = await readFile(join(folder, file), 'utf8');
    migrations.push({ version: Number(match[1]), name: match[2], sql });
  }
  return migrations.sort((a, b) => a.version - b.version);
}

/** Advisory-lock key shared by every migrating process, so concurrent starts apply once. */
const MIGRATION_LOCK = 7_311_001;

/**
 * Applies the migrations of one component (`ac`, `gc`) that are not yet recorded in
 * `public.schema_migrations`. Concurrent callers serialise on an advisory lock.
 * Returns the versions applied by this call.
 */
export async function applyMigrations(
  pool: Pool,
  component: string,
  migrations: readonly Migration[],
): Promise<number[]> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS public.schema_migrations (
         component text NOT NULL,
         version integer NOT NULL,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (component, version))`,
    );
    const done = await client.query<{ version: number }>(
      'SELECT version FROM public.schema_migrations WHERE component = $1',
      [component],
    );
    const applied = new Set(done.rows.map((row) => row.version));
    const newlyApplied: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query(
        'INSERT INTO public.schema_migrations (component, version, name) VALUES ($1, $2, $3)',
        [component, migration.version, migration.name],
      );
      newlyApplied.push(migration.version);
    }
    return newlyApplied;
  });
}
