import type { Pool } from '../../adapters/postgres/pool.ts';
import { PgAuditLog, PgServiceStore, PgUserStore } from '../../adapters/postgres/ac-stores.ts';
import { createUser, registerService } from '../ac/accounts.ts';

/** What a first run of the stack creates. */
export interface SeedResult {
  readonly admin?: { clientId: string; clientSecret: string };
  readonly userCreated: boolean;
}

export const ADMIN_SERVICE_SCOPES = ['service.admin.ac', 'service.write.gc'];
export const DEMO_USER_SCOPES = ['user.read.gc', 'user.write.gc', 'user.write.mc'];
/** The organisation seeded accounts belong to: GC's default tenant (created by its schema). */
export const SEED_ORG = 'default';

/**
 * Seeds an empty database: an admin service (when no service exists yet) and a demo user
 * (when the name is free). Returns the admin's one-time secret when it was just created.
 */
export async function seedFirstAccounts(
  pool: Pool,
  demoUser: { username: string; password: string },
  bcryptCost: number,
): Promise<SeedResult> {
  const users = new PgUserStore(pool);
  const services = new PgServiceStore(pool);
  const audit = new PgAuditLog(pool);
  let admin: SeedResult['admin'];
  if ((await services.count()) === 0) {
    const registered = await registerService(
      { services, audit },
      { name: 'stack-admin', scopes: ADMIN_SERVICE_SCOPES, org: SEED_ORG },
    );
    if (registered.ok) admin = registered.value;
  }
  let userCreated = false;
  if (!(await users.findByUsername(demoUser.username))) {
    const created = await createUser(
      { users, audit, bcryptCost },
      { ...demoUser, scopes: DEMO_USER_SCOPES, org: SEED_ORG },
    );
    userCreated = created.ok;
  }
  return { ...(admin ? { admin } : {}), userCreated };
}
