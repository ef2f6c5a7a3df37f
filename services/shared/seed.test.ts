import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgServiceStore, PgUserStore } from '../../adapters/postgres/ac-stores.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { createTestDatabase, type TestDatabase } from '../../adapters/postgres/test-database.ts';
import { fileURLToPath } from 'node:url';
import { applyMigrations, loadMigrations } from '../../adapters/postgres/migrations.ts';
import { migrateSchemas } from './schema.ts';
import { MC_SERVICE_SCOPES, seedFirstAccounts, seedMeetingControllerAccount } from './seed.ts';

let database: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  database = await createTestDatabase();
  pool = createPool(database.url, 2);
  await migrateSchemas(pool);
});

afterAll(async () => {
  await pool.end();
  await database.drop();
});

describe('stack seed', () => {
  it('puts the demo user and the admin service in an organisation GC serves', async () => {
    const seeded = await seedFirstAccounts(pool, { username: 'demo', password: 'demo-pass' }, 12);
    expect(seeded.userCreated).toBe(true);
    const user = await new PgUserStore(pool).findByUsername('demo');
    const admin = await new PgServiceStore(pool).findByClientId(seeded.admin?.clientId ?? '');
    expect(user?.orgId).toBe('default');
    expect(admin?.orgId).toBe('default');
    const tenant = await pool.query('SELECT 1 FROM gc.orgs WHERE org_id = $1', [user?.orgId]);
    expect(tenant.rowCount).toBe(1);
  });
});

describe('Meeting Controller account', () => {
  it('creates one with the MC scopes, keeps it while its secret matches, replaces it otherwise', async () => {
    const first = await seedMeetingControllerAccount(pool, undefined);
    expect(first.created).toBe(true);
    const record = await new PgServiceStore(pool).findByClientId(first.credentials.clientId);
    expect(record).toMatchObject({ orgId: 'default', scopes: MC_SERVICE_SCOPES });
    const again = await seedMeetingControllerAccount(pool, first.credentials);
    expect(again).toEqual({ credentials: first.credentials, created: false });
    const wrong = await seedMeetingControllerAccount(pool, {
      clientId: first.credentials.clientId,
      clientSecret: 'not-the-secret',
    });
    expect(wrong.created).toBe(true);
    expect(wrong.credentials.clientId).not.toBe(first.credentials.clientId);
  });
});

describe('AC migration 004 (organisations)', () => {
  it('moves accounts made before it to the default organisation and then requires one', async () => {
    const older = await createTestDatabase();
    const olderPool = createPool(older.url, 1);
    try {
      const all = await loadMigrations(
        fileURLToPath(new URL('../ac/migrations/', import.meta.url)),
      );
      await applyMigrations(
        olderPool,
        'ac',
        all.filter((migration) => migration.version < 4),
      );
      await olderPool.query(
        `INSERT INTO ac.users (user_id, username, password_hash, scopes)
         VALUES ('00000000-0000-4000-8000-000000000001', 'old', '$2b$12$x', '{user.read.gc}')`,
      );
      expect(await applyMigrations(olderPool, 'ac', all)).toContain(4);
      expect((await new PgUserStore(olderPool).findByUsername('old'))?.orgId).toBe('default');
      await expect(
        olderPool.query(
          `INSERT INTO ac.users (user_id, username, password_hash, scopes)
           VALUES ('00000000-0000-4000-8000-000000000002', 'new', '$2b$12$x', '{user.read.gc}')`,
        ),
      ).rejects.toThrow(/org_id/);
    } finally {
      await olderPool.end();
      await older.drop();
    }
  });
});
