// `npm run stack`: migrates, seeds a first admin service and demo user, then runs AC, GC and
// two Media Handlers in one process against local PostgreSQL and Redis. See docs/services.md.
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describeConfigError, parseEnvironment } from '../adapters/config/env.ts';
import { closeAll, onTerminationSignal } from '../adapters/http/shutdown.ts';
import { createLogger } from '../adapters/logging/logger.ts';
import { createPool } from '../adapters/postgres/pool.ts';
import { acEnvironment } from './ac/config.ts';
import { startAc } from './ac/server.ts';
import { gcEnvironment } from './gc/config.ts';
import { startGc } from './gc/server.ts';
import { mhEnvironment } from './mh/config.ts';
import {
  DEV_CONTROLLER_ISSUER,
  devControllerKey,
  serveDevControllerJwks,
} from './mh/dev-controller.ts';
import { startMh, type RunningMh } from './mh/server.ts';
import { migrateSchemas } from './shared/schema.ts';
import { seedFirstAccounts } from './shared/seed.ts';
import { lostStateProblem } from './shared/stack-state.ts';

const stateDir = process.env.STACK_STATE_DIR ?? join(homedir(), '.dark-tower');
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/dark_tower';
const demoUser = {
  username: process.env.STACK_DEMO_USER ?? 'demo',
  password: process.env.STACK_DEMO_PASSWORD ?? 'demo-password',
};
const logger = createLogger('stack', process.env.LOG_LEVEL ?? 'info');
const reset = process.argv.includes('--reset');
const databaseName = new URL(databaseUrl).pathname.slice(1);

/** Creates the database named in the URL if it does not exist (local development only). */
async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = target.pathname.slice(1);
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsupported database name ${name}`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

/** The development master key: AC_MASTER_KEY, else one kept in the state folder. */
async function masterKey(): Promise<string> {
  if (process.env.AC_MASTER_KEY) return process.env.AC_MASTER_KEY;
  const file = join(stateDir, 'ac-master-key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const key = randomBytes(32).toString('base64');
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await writeFile(file, `${key}\n`, { mode: 0o600 });
    return key;
  }
}

/** `--reset`: drops the stack's database and empties its state directory. */
async function resetStack(url: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(databaseName)) {
    throw new Error(`unsupported database name ${databaseName}`);
  }
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
  } finally {
    await client.end();
  }
  for (const file of ['ac-master-key', 'admin-client.json', 'dev-controller-key.pem']) {
    await rm(join(stateDir, file), { force: true });
  }
  logger.warn({ database: databaseName, state_dir: stateDir }, 'stack reset');
}

if (reset) await resetStack(databaseUrl);
await ensureDatabase(databaseUrl);
const pool = createPool(databaseUrl, 2);
const applied = await migrateSchemas(pool);
logger.info({ applied }, 'migrations applied');
const lost = await lostStateProblem({
  pool,
  stateDir,
  databaseName,
  masterKeyKept:
    Boolean(process.env.AC_MASTER_KEY) ||
    (await access(join(stateDir, 'ac-master-key')).then(
      () => true,
      () => false,
    )),
});
if (lost !== undefined) {
  console.error(lost);
  await pool.end();
  process.exit(2);
}

const shared = {
  DATABASE_URL: databaseUrl,
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};
const acEnv = parseEnvironment(acEnvironment, {
  ...process.env,
  ...shared,
  AC_MASTER_KEY: await masterKey(),
  BIND_ADDRESS: process.env.AC_BIND_ADDRESS ?? '127.0.0.1:8082',
  METRICS_BIND_ADDRESS: process.env.AC_METRICS_BIND_ADDRESS ?? '127.0.0.1:9082',
});
if (!acEnv.ok) {
  console.error(describeConfigError('ac-service', acEnv.error));
  process.exit(2);
}
const acUrl = `http://${acEnv.value.BIND_ADDRESS.host}:${acEnv.value.BIND_ADDRESS.port}`;
const gcEnv = parseEnvironment(gcEnvironment, {
  ...process.env,
  ...shared,
  BIND_ADDRESS: process.env.GC_BIND_ADDRESS ?? '127.0.0.1:8080',
  METRICS_BIND_ADDRESS: process.env.GC_METRICS_BIND_ADDRESS ?? '127.0.0.1:9080',
  GC_GRPC_BIND_ADDRESS: process.env.GC_GRPC_BIND_ADDRESS ?? '127.0.0.1:50051',
  AC_INTERNAL_URL: acUrl,
});
if (!gcEnv.ok) {
  console.error(describeConfigError('gc-service', gcEnv.error));
  process.exit(2);
}

const seeded = await seedFirstAccounts(pool, demoUser, acEnv.value.AC_BCRYPT_COST);
if (seeded.admin) {
  const file = join(stateDir, 'admin-client.json');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFile(
    file,
    JSON.stringify(
      { client_id: seeded.admin.clientId, client_secret: seeded.admin.clientSecret },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  logger.info(
    { file, client_id: seeded.admin.clientId },
    'admin service created; its secret is in the file',
  );
}
if (seeded.userCreated) logger.info({ username: demoUser.username }, 'demo user created');
await pool.end();

const ac = await startAc(acEnv.value);
const gc = await startGc(gcEnv.value);

// Two Media Handlers. The stack starts no Meeting Controller yet, so their connection tokens come
// from a development controller key in the state directory (services/mh/dev-token.ts).
const devJwks = await serveDevControllerJwks(await devControllerKey(stateDir), {
  host: '127.0.0.1',
  port: Number(process.env.STACK_DEV_CONTROLLER_PORT ?? 8089),
});
const handlers: RunningMh[] = [];
for (const [index, id] of ['mh-1', 'mh-2'].entries()) {
  const offset = index * 10;
  const mhEnv = parseEnvironment(mhEnvironment, {
    ...process.env,
    REDIS_URL: shared.REDIS_URL,
    MH_ID: id,
    MH_REGION: process.env.MH_REGION ?? 'local',
    MH_WS_BIND_ADDRESS: `127.0.0.1:${4434 + offset}`,
    BIND_ADDRESS: `127.0.0.1:${8084 + offset}`,
    METRICS_BIND_ADDRESS: `127.0.0.1:${9084 + offset}`,
    MH_GRPC_BIND_ADDRESS: `127.0.0.1:${50053 + offset}`,
    MH_TRUSTED_ISSUERS: `${DEV_CONTROLLER_ISSUER}=${devJwks.url}`,
    AC_INTERNAL_URL: acUrl,
    MH_DRAIN_GRACE_MS: process.env.MH_DRAIN_GRACE_MS ?? '5000',
  });
  if (!mhEnv.ok) {
    console.error(describeConfigError('mh-service', mhEnv.error));
    process.exit(2);
  }
  handlers.push(await startMh(mhEnv.value));
}
logger.info(
  {
    ac: ac.url,
    gc: gc.url,
    gc_grpc: gc.grpcAddress,
    mh: handlers.map((mh) => ({ id: mh.id, ws: mh.wsUrl, grpc: mh.grpcAddress })),
  },
  'stack running; Ctrl-C stops it',
);
onTerminationSignal(
  () =>
    closeAll(
      [
        {
          name: 'media handlers',
          close: async () => void (await Promise.all(handlers.map((mh) => mh.drainAndClose()))),
        },
        { name: 'dev controller jwks', close: () => devJwks.close() },
        { name: 'gc', close: () => gc.close() },
        { name: 'ac', close: () => ac.close() },
      ],
      logger,
    ),
  logger,
);
