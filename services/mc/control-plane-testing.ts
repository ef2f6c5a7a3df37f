// Test and benchmark support: AC and GC in process on an isolated database and Redis key prefix,
// with a Meeting Controller service account, and the environment of a Meeting Controller joined
// to them. One place for what every end-to-end test of the controller starts first.
import { parseEnvironment } from '../../adapters/config/env.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { startAc, type RunningAc } from '../ac/server.ts';
import { gcEnvironment } from '../gc/config.ts';
import { startGc, type RunningGc } from '../gc/server.ts';
import { serviceTokenFor } from '../gc/testing.ts';
import {
  acTestEnvironment,
  isolatedBackends,
  parsedEnvironment,
  TEST_REDIS_URL,
  type IsolatedBackends,
} from '../shared/testing.ts';
import { mcEnvironment, type McEnvironment } from './config.ts';

/** The scopes a user needs to create, look up and join meetings. */
export const JOIN_SCOPES = ['user.read.gc', 'user.write.gc', 'user.write.mc'] as const;

export interface ControlPlane {
  readonly backends: IsolatedBackends;
  readonly pool: Pool;
  readonly ac: RunningAc;
  readonly gc: RunningGc;
  /** A token of the Meeting Controller service account (scopes service.write.gc and .mh). */
  readonly mcServiceToken: string;
  /** Stops GC and AC, ends the pool and drops the database and the Redis keys. */
  close(): Promise<void>;
}

/** Starts AC and GC (region us-west-1) and registers a Meeting Controller service account. */
export async function startControlPlane(
  logger: Logger,
  options: { readonly gcRedisUrl?: string } = {},
): Promise<ControlPlane> {
  const backends = await isolatedBackends();
  const pool = createPool(backends.databaseUrl, 2);
  const ac = await startAc(
    acTestEnvironment(backends, { AC_REDIS_KEY_PREFIX: `${backends.redisPrefix}ac:` }),
    { logger, scheduleRotation: false },
  );
  const service = await serviceTokenFor(ac, pool, {
    name: 'meeting-controller',
    scopes: ['service.write.gc', 'service.write.mh'],
  });
  const gc = await startGc(
    parsedEnvironment(
      parseEnvironment(gcEnvironment, {
        DATABASE_URL: backends.databaseUrl,
        REDIS_URL: options.gcRedisUrl ?? TEST_REDIS_URL,
        BIND_ADDRESS: '127.0.0.1:0',
        METRICS_BIND_ADDRESS: '127.0.0.1:0',
        GC_GRPC_BIND_ADDRESS: '127.0.0.1:0',
        GC_REGION: 'us-west-1',
        GC_ALLOW_PLAIN_LOOPBACK_MC_URLS: 'true',
        AC_INTERNAL_URL: ac.url,
        GC_REDIS_KEY_PREFIX: `${backends.redisPrefix}gc:`,
        LOG_LEVEL: 'silent',
      }),
    ),
    { logger },
  );
  return {
    backends,
    pool,
    ac,
    gc,
    mcServiceToken: service.token,
    async close() {
      await gc.close();
      await ac.close();
      await pool.end();
      await backends.cleanUp();
    },
  };
}

/**
 * The raw environment of a Meeting Controller `id` joined to `plane` (loopback, ephemeral
 * ports, the plane's Redis prefix, handlers' load reports under `<prefix>mh:`), with `extra`
 * on top: for a controller run as a process.
 */
export function mcRawEnvironment(
  plane: ControlPlane,
  id: string,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const prefix = plane.backends.redisPrefix;
  return {
    MC_ID: id,
    MC_REGION: 'us-west-1',
    MC_SIGNALING_BIND_ADDRESS: '127.0.0.1:0',
    BIND_ADDRESS: '127.0.0.1:0',
    METRICS_BIND_ADDRESS: '127.0.0.1:0',
    GC_GRPC_ADDRESS: plane.gc.grpcAddress,
    GC_URL: plane.gc.url,
    MC_SERVICE_TOKEN: plane.mcServiceToken,
    AC_INTERNAL_URL: plane.ac.url,
    REDIS_URL: TEST_REDIS_URL,
    MC_REDIS_KEY_PREFIX: `${prefix}mc:`,
    MC_MH_REDIS_KEY_PREFIX: `${prefix}mh:`,
    LOG_LEVEL: 'silent',
    ...extra,
  };
}

/** The same, parsed: for a controller started in process with `startMc`. */
export function mcTestEnvironment(
  plane: ControlPlane,
  id: string,
  extra: Readonly<Record<string, string>> = {},
): McEnvironment {
  return parsedEnvironment(parseEnvironment(mcEnvironment, mcRawEnvironment(plane, id, extra)));
}
