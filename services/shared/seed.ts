import type { Pool } from '../../adapters/postgres/pool.ts';
import { PgAuditLog, PgServiceStore, PgUserStore } from '../../adapters/postgres/ac-stores.ts';
import { createUser, registerService } from '../ac/accounts.ts';
import { clientSecretMatches } from '../ac/credentials.ts';

/** What a first run of the stack creates. */
export interface SeedResult {
  readonly admin?: { clientId: string; clientSecret: string };
  readonly userCreated: boolean;
}

export const ADMIN_SERVICE_SCOPES = ['service.admin.ac', 'service.write.gc'];
/** A user creates meetings at GC (write), looks them up (read) and joins them at an MC. */
export const DEMO_USER_SCOPES = ['user.read.gc', 'user.write.gc', 'user.write.mc'];
/** Meeting Controllers register and heartbeat at GC, and call the handlers' route API. */
export const MC_SERVICE_SCOPES = ['service.write.gc', 'service.write.mh'];
export const MC_SERVICE_NAME = 'meeting-controller';
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
  const userCreated = await seedDemoUser(pool, demoUser, bcryptCost);
  return { ...(admin ? { admin } : {}), userCreated };
}

/** Creates a demo user (scopes {@link DEMO_USER_SCOPES}) when the name is free; true if created. */
export async function seedDemoUser(
  pool: Pool,
  user: { username: string; password: string },
  bcryptCost: number,
): Promise<boolean> {
  const users = new PgUserStore(pool);
  if (await users.findByUsername(user.username)) return false;
  const created = await createUser(
    { users, audit: new PgAuditLog(pool), bcryptCost },
    { ...user, scopes: DEMO_USER_SCOPES, org: SEED_ORG },
  );
  return created.ok;
}

/** A service account's client credentials. */
export interface ServiceCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/**
 * The Meeting Controllers' service account: `kept` when AC still knows it with that secret and
 * its scopes, else a new one (the caller keeps its secret: AC stores only a hash).
 */
export async function seedMeetingControllerAccount(
  pool: Pool,
  kept: ServiceCredentials | undefined,
): Promise<{ readonly credentials: ServiceCredentials; readonly created: boolean }> {
  const services = new PgServiceStore(pool);
  if (kept !== undefined) {
    const record = await services.findByClientId(kept.clientId);
    if (
      record !== undefined &&
      clientSecretMatches(kept.clientSecret, record.secretHash) &&
      MC_SERVICE_SCOPES.every((scope) => record.scopes.includes(scope))
    ) {
      return { credentials: kept, created: false };
    }
  }
  const registered = await registerService(
    { services, audit: new PgAuditLog(pool) },
    { name: MC_SERVICE_NAME, scopes: MC_SERVICE_SCOPES, org: SEED_ORG },
  );
  if (!registered.ok) throw new Error(`cannot register the MC service: ${registered.error.kind}`);
  return { credentials: registered.value, created: true };
}
