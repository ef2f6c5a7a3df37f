// `npm run migrate`: applies the AC and GC SQL migrations to DATABASE_URL.
import { z } from 'zod';
import { describeConfigError, parseEnvironment } from '../adapters/config/env.ts';
import { createPool } from '../adapters/postgres/pool.ts';
import { migrateSchemas } from './shared/schema.ts';

const environment = parseEnvironment(
  z.object({ DATABASE_URL: z.string().url('expected a postgres:// URL') }),
  process.env,
);
if (!environment.ok) {
  console.error(describeConfigError('migrate', environment.error));
  process.exit(2);
}
const pool = createPool(environment.value.DATABASE_URL, 1);
try {
  const applied = await migrateSchemas(pool);
  for (const [component, versions] of Object.entries(applied)) {
    console.log(
      versions.length === 0
        ? `${component}: up to date`
        : `${component}: applied ${versions.join(', ')}`,
    );
  }
} finally {
  await pool.end();
}
