// Test support for GC's integration tests: AC running on a test file's isolated backends, with
// a GC user and a Meeting Controller service account, and GC's environment pointed at it; and
// the registration a test Meeting Controller sends.
import { parseEnvironment } from '../../adapters/config/env.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import type { Pool } from '../../adapters/postgres/pool.ts';
import { createUser, registerService } from '../ac/accounts.ts';
import { startAc, type RunningAc } from '../ac/server.ts';
import type { ManualClock } from '../shared/clock.ts';
import {
  issuedToken,
  parsedEnvironment,
  pgAcStores,
  TEST_REDIS_URL,
  type IsolatedBackends,
  acTestEnvironment,
} from '../shared/testing.ts';
import { gcEnvironment, type GcEnvironment } from './config.ts';

/** AC with the accounts GC's tests use, GC's environment, and a token of each account. */
export interface AcForGc {
  readonly ac: RunningAc;
  readonly gcEnv: GcEnvironment;
  /** A token of the user, scoped to read and write meetings. */
  readonly userToken: string;
  /** A token of the Meeting Controller service, scoped to register with GC. */
  readonly mcToken: string;
}

/**
 * Seeds a user (`user`, with GC read and write scopes) and a Meeting Controller service on the
 * backends, starts AC on `clock` without scheduled rotation, and parses GC's environment
 * (`gcSettings` added) against that AC.
 */
export async function startAcForGc(options: {
  readonly backends: IsolatedBackends;
  readonly pool: Pool;
  readonly clock: ManualClock;
  readonly logger: Logger;
  /** The user; in organisation `default` unless `org` says otherwise. */
  readonly user: { readonly username: string; readonly password: string; readonly org?: string };
  readonly gcSettings?: Readonly<Record<string, string>>;
}): Promise<AcForGc> {
  const { backends, clock, logger, user } = options;
  const stores = pgAcStores(options.pool);
  await createUser(
    { ...stores, bcryptCost: 12 },
    { ...user, org: user.org ?? 'default', scopes: ['user.read.gc', 'user.write.gc'] },
  );
  const mcService = await registerService(stores, {
    name: 'meeting-controller',
    scopes: ['service.write.gc'],
    org: 'default',
  });
  if (!mcService.ok) throw new Error('registration failed');
  const common = {
    DATABASE_URL: backends.databaseUrl,
    REDIS_URL: TEST_REDIS_URL,
    BIND_ADDRESS: '127.0.0.1:0',
    METRICS_BIND_ADDRESS: '127.0.0.1:0',
  };
  const ac = await startAc(
    acTestEnvironment(backends, { AC_REDIS_KEY_PREFIX: `${backends.redisPrefix}ac:` }),
    { clock, logger, scheduleRotation: false },
  );
  const gcEnv = parsedEnvironment(
    parseEnvironment(gcEnvironment, {
      ...common,
      GC_GRPC_BIND_ADDRESS: '127.0.0.1:0',
      GC_REGION: 'us-west-1',
      ...options.gcSettings,
      AC_INTERNAL_URL: ac.url,
      GC_REDIS_KEY_PREFIX: `${backends.redisPrefix}gc:`,
    }),
  );
  const userToken = await issuedToken(ac.url, '/v1/auth/user/token', {
    username: user.username,
    password: user.password,
  });
  const mcToken = await issuedToken(ac.url, '/v1/auth/service/token', {
    grant_type: 'client_credentials',
    client_id: mcService.value.clientId,
    client_secret: mcService.value.clientSecret,
  });
  return { ac, gcEnv, userToken, mcToken };
}

/** Creates a user in organisation `org` with `scopes` and returns a token AC issued it. */
export async function userTokenIn(
  ac: RunningAc,
  pool: Pool,
  user: { username: string; password: string; org: string; scopes: readonly string[] },
): Promise<string> {
  const created = await createUser({ ...pgAcStores(pool), bcryptCost: 12 }, user);
  if (!created.ok) throw new Error(`cannot create ${user.username}: ${created.error.kind}`);
  return issuedToken(ac.url, '/v1/auth/user/token', {
    username: user.username,
    password: user.password,
  });
}

/** Registers a service in organisation `default` and returns a token AC issued it. */
export async function serviceTokenFor(
  ac: RunningAc,
  pool: Pool,
  service: { name: string; scopes: readonly string[] },
): Promise<{ clientId: string; token: string }> {
  const registered = await registerService(pgAcStores(pool), { ...service, org: 'default' });
  if (!registered.ok) throw new Error(`cannot register ${service.name}`);
  const token = await issuedToken(ac.url, '/v1/auth/service/token', {
    grant_type: 'client_credentials',
    client_id: registered.value.clientId,
    client_secret: registered.value.clientSecret,
  });
  return { clientId: registered.value.clientId, token };
}

/** A Meeting Controller's registration with GC, with addresses made from its id. */
export const mcRegistration = (mcId: string, region = 'us-west-1') => ({
  mcId,
  region,
  publicUrl: `https://${mcId}.example:4433`,
  grpcUrl: `http://${mcId}.example:50052`,
  maxMeetings: 800,
  maxParticipants: 10_000,
});
