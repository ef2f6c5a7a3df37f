import { fileURLToPath } from 'node:url';
import { applyMigrations, loadMigrations } from '../../adapters/postgres/migrations.ts';
import type { Pool } from '../../adapters/postgres/pool.ts';

const FOLDERS = {
  ac: fileURLToPath(new URL('../ac/migrations/', import.meta.url)),
  gc: fileURLToPath(new URL('../gc/migrations/', import.meta.url)),
} as const;

export type SchemaComponent = keyof typeof FOLDERS;

/** Applies the SQL migrations of the given components; returns what was newly applied. */
export async function migrateSchemas(
  pool: Pool,
  components: readonly SchemaComponent[] = ['ac', 'gc'],
): Promise<Record<string, number[]>> {
  const applied: Record<string, number[]> = {};
  for (const component of components) {
    applied[component] = await applyMigrations(
      pool,
      component,
      await loadMigrations(FOLDERS[component]),
    );
  }
  return applied;
}
