// `npm run stack`: migrates, seeds a first admin service, the demo user and the Meeting
// Controllers' service account, then runs AC, GC, two Meeting Controllers and two Media Handlers
// in one process against local PostgreSQL and Redis. See docs/services.md ("Run the stack
// locally"); ports and the variables that move them are in `stackAddresses` below.
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Result } from '../core/result.ts';
import { describeConfigError, parseEnvironment, type ConfigError } from '../adapters/config/env.ts';
import { closeAll, onTerminationSignal } from '../adapters/http/shutdown.ts';
import { createLogger } from '../adapters/logging/logger.ts';
import { createPool } from '../adapters/postgres/pool.ts';
import { acEnvironment } from './ac/config.ts';
import { startAc } from './ac/server.ts';
import { gcEnvironment } from './gc/config.ts';
import { startGc } from './gc/server.ts';
import { mcEnvironment } from './mc/config.ts';
import { startMc, type RunningMc } from './mc/server.ts';
import { mhEnvironment } from './mh/config.ts';
import {
  DEV_CONTROLLER_ISSUER,
  devControllerKey,
  serveDevControllerJwks,
} from './mh/dev-controller.ts';
import { startMh, type RunningMh } from './mh/server.ts';
import { migrateSchemas } from './shared/schema.ts';
import {
  seedDemoUser,
  seedFirstAccounts,
  seedMeetingControllerAccount,
  type ServiceCredentials,
} from './shared/seed.ts';
import { lostStateProblem } from './shared/stack-state.ts';

const stateDir = process.env.STACK_STATE_DIR ?? join(homedir(), '.dark-tower');
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/dark_tower';
const demoUser = {
  username: process.env.STACK_DEMO_USER ?? 'demo',
  password: process.env.STACK_DEMO_PASSWORD ?? 'demo-password',
};
const logger = createLogger('stack', process.env.LOG_LEVEL ?? 'info');
/** The region every service of the stack is in (the MCs place media on handlers of theirs). */
const region = process.env.STACK_REGION ?? process.env.MH_REGION ?? 'local';
/** `STACK_MEETING_CONTROLLERS=0`: no MCs; the handlers trust the development controller key. */
const withControllers = process.env.STACK_MEETING_CONTROLLERS !== '0';
/** `STACK_EPHEMERAL_PORTS=true`: every listener on a free port (tests; the log names them). */
const ephemeral = process.env.STACK_EPHEMERAL_PORTS === 'true';
const redisPrefix = process.env.STACK_REDIS_KEY_PREFIX ?? 'dt:';
const CONTROLLERS = ['mc-1', 'mc-2'] as const;
const HANDLERS = ['mh-1', 'mh-2'] as const;

/** A listener's address: its variable, else the fixed default (or port 0 when ephemeral). */
const address = (variable: string, fallback: string): string =>
  process.env[variable] ?? (ephemeral ? '127.0.0.1:0' : fallback);

/** The fixed defaults (docs/services.md, "Run the stack locally"); the n-th MC or MH adds 10(n-1). */
const stackAddresses = {
  ac: {
    http: address('AC_BIND_ADDRESS', '127.0.0.1:8082'),
    metrics: address('AC_METRICS_BIND_ADDRESS', '127.0.0.1:9082'),
  },
  gc: {
    http: address('GC_BIND_ADDRESS', '127.0.0.1:8080'),
    metrics: address('GC_METRICS_BIND_ADDRESS', '127.0.0.1:9080'),
    grpc: address('GC_GRPC_BIND_ADDRESS', '127.0.0.1:50051'),
  },
  mc: CONTROLLERS.map((_, index) => {
    const n = index + 1;
    const offset = index * 10;
    return {
      signaling: address(`MC_${n}_SIGNALING_BIND_ADDRESS`, `127.0.0.1:${4433 + offset}`),
      // WebTransport signaling: HTTP/3 (UDP) and HTTP/2 (TCP).
      webTransport: address(`MC_${n}_WEBTRANSPORT_BIND_ADDRESS`, `127.0.0.1:${4435 + offset}`),
      webTransportH2: address(`MC_${n}_WEBTRANSPORT_H2_BIND_ADDRESS`, `127.0.0.1:${4436 + offset}`),
      http: address(`MC_${n}_BIND_ADDRESS`, `127.0.0.1:${8081 + offset}`),
      metrics: address(`MC_${n}_METRICS_BIND_ADDRESS`, `127.0.0.1:${9081 + offset}`),
    };
  }),
  mh: HANDLERS.map((_, index) => {
    const n = index + 1;
    const offset = index * 10;
    return {
      ws: address(`MH_${n}_WS_BIND_ADDRESS`, `127.0.0.1:${4434 + offset}`),
      // QUIC media and WebTransport (UDP).
      quic: address(`MH_${n}_QUIC_BIND_ADDRESS`, `127.0.0.1:${4437 + offset}`),
      http: address(`MH_${n}_BIND_ADDRESS`, `127.0.0.1:${8084 + offset}`),
      metrics: address(`MH_${n}_METRICS_BIND_ADDRESS`, `127.0.0.1:${9084 + offset}`),
      grpc: address(`MH_${n}_GRPC_BIND_ADDRESS`, `127.0.0.1:${50053 + offset}`),
    };
  }),
};
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
  const files = [
    'ac-master-key',
    'admin-client.json',
    'dev-controller-key.pem',
    MC_CLIENT_FILE,
    ...CONTROLLERS.map(signingKeyFile),
  ];
  for (const file of files) {
    await rm(join(stateDir, file), { force: true });
  }
  logger.warn({ database: databaseName, state_dir: stateDir }, 'stack reset');
}

/** The MCs' service account (client credentials) kept in the state directory, if any. */
const MC_CLIENT_FILE = 'mc-client.json';
function signingKeyFile(controller: string): string {
  return `${controller}-signing-key.pem`;
}

async function keptMcCredentials(): Promise<ServiceCredentials | undefined> {
  try {
    const kept = JSON.parse(await readFile(join(stateDir, MC_CLIENT_FILE), 'utf8')) as {
      client_id?: unknown;
      client_secret?: unknown;
    };
    if (typeof kept.client_id !== 'string' || typeof kept.client_secret !== 'string') return;
    return { clientId: kept.client_id, clientSecret: kept.client_secret };
  } catch {
    return undefined;
  }
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
  AC_REDIS_KEY_PREFIX: `${redisPrefix}ac:`,
  BIND_ADDRESS: stackAddresses.ac.http,
  METRICS_BIND_ADDRESS: stackAddresses.ac.metrics,
});
if (!acEnv.ok) {
  console.error(describeConfigError('ac-service', acEnv.error));
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
// A second demo user with the same password, so two people (or terminals) can meet.
const secondUser = { ...demoUser, username: `${demoUser.username}2` };
if (await seedDemoUser(pool, secondUser, acEnv.value.AC_BCRYPT_COST)) {
  logger.info({ username: secondUser.username }, 'demo user created');
}
let mcCredentials: ServiceCredentials | undefined;
if (withControllers) {
  const account = await seedMeetingControllerAccount(pool, await keptMcCredentials());
  mcCredentials = account.credentials;
  if (account.created) {
    const file = join(stateDir, MC_CLIENT_FILE);
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await writeFile(
      file,
      JSON.stringify(
        { client_id: mcCredentials.clientId, client_secret: mcCredentials.clientSecret },
        null,
        2,
      ),
      { mode: 0o600 },
    );
    logger.info(
      { file, client_id: mcCredentials.clientId },
      'meeting controller service account created; its secret is in the file',
    );
  }
}
await pool.end();

/** Parses a service's environment, or stops the stack naming what is wrong. */
function parsed<T>(service: string, result: Result<T, ConfigError>): T {
  if (result.ok) return result.value;
  console.error(describeConfigError(service, result.error));
  process.exit(2);
}

const ac = await startAc(acEnv.value);
const gc = await startGc(
  parsed(
    'gc-service',
    parseEnvironment(gcEnvironment, {
      ...process.env,
      ...shared,
      BIND_ADDRESS: stackAddresses.gc.http,
      METRICS_BIND_ADDRESS: stackAddresses.gc.metrics,
      GC_GRPC_BIND_ADDRESS: stackAddresses.gc.grpc,
      GC_REGION: region,
      GC_REDIS_KEY_PREFIX: `${redisPrefix}gc:`,
      // The MCs serve plain ws:// signaling on loopback.
      GC_ALLOW_PLAIN_LOOPBACK_MC_URLS: 'true',
      AC_INTERNAL_URL: ac.url,
    }),
  ),
);

// Two Meeting Controllers, with the service account seeded above (their tokens are fetched from
// AC and refreshed) and signing keys kept in the state directory, so connection tokens stay
// valid across a restart. They reach the handlers' route API at the addresses the handlers
// bound (filled in as the handlers start).
const routeAddresses = new Map<string, string>();
const controllers: RunningMc[] = [];
for (const [index, id] of (withControllers ? CONTROLLERS : []).entries()) {
  const n = index + 1;
  const addresses = stackAddresses.mc[index];
  if (addresses === undefined || mcCredentials === undefined) break;
  const mcEnv = parsed(
    'mc-service',
    parseEnvironment(mcEnvironment, {
      ...process.env,
      REDIS_URL: shared.REDIS_URL,
      MC_ID: id,
      MC_REGION: region,
      MC_SIGNALING_BIND_ADDRESS: addresses.signaling,
      MC_WEBTRANSPORT_BIND_ADDRESS: addresses.webTransport,
      MC_WEBTRANSPORT_H2_BIND_ADDRESS: addresses.webTransportH2,
      // The browser client sends Opus beside its camera.
      MC_FORWARD_AUDIO: process.env.MC_FORWARD_AUDIO ?? 'true',
      BIND_ADDRESS: addresses.http,
      METRICS_BIND_ADDRESS: addresses.metrics,
      GC_GRPC_ADDRESS: gc.grpcAddress,
      GC_URL: gc.url,
      AC_INTERNAL_URL: ac.url,
      MC_AC_CLIENT_ID: mcCredentials.clientId,
      MC_AC_CLIENT_SECRET: mcCredentials.clientSecret,
      MC_SERVICE_TOKEN: undefined,
      MC_SIGNING_KEY_FILE:
        process.env[`MC_${n}_SIGNING_KEY_FILE`] ?? join(stateDir, signingKeyFile(id)),
      MC_REDIS_KEY_PREFIX: `${redisPrefix}mc:`,
      MC_MH_REDIS_KEY_PREFIX: `${redisPrefix}mh:`,
      MC_PUBLIC_URL: undefined,
      MC_PUBLIC_JWKS_URL: undefined,
    }),
  );
  controllers.push(
    await startMc(mcEnv, { routeAddress: (handler) => routeAddresses.get(handler) }),
  );
}

// Without controllers, the handlers' connection tokens come from a development controller key
// in the state directory (services/mh/dev-token.ts).
const devJwks = withControllers
  ? undefined
  : await serveDevControllerJwks(await devControllerKey(stateDir), {
      host: '127.0.0.1',
      port: Number(process.env.STACK_DEV_CONTROLLER_PORT ?? (ephemeral ? 0 : 8089)),
    });
const trustedIssuers =
  devJwks !== undefined
    ? `${DEV_CONTROLLER_ISSUER}=${devJwks.url}`
    : controllers.map((mc) => `${mc.id}=${mc.jwksUrl}`).join(',');

const handlers: RunningMh[] = [];
for (const [index, id] of HANDLERS.entries()) {
  const addresses = stackAddresses.mh[index];
  if (addresses === undefined) break;
  const mhEnv = parsed(
    'mh-service',
    parseEnvironment(mhEnvironment, {
      ...process.env,
      REDIS_URL: shared.REDIS_URL,
      MH_ID: id,
      MH_REGION: region,
      MH_WS_BIND_ADDRESS: addresses.ws,
      MH_QUIC_BIND_ADDRESS: addresses.quic,
      BIND_ADDRESS: addresses.http,
      METRICS_BIND_ADDRESS: addresses.metrics,
      MH_GRPC_BIND_ADDRESS: addresses.grpc,
      MH_TRUSTED_ISSUERS: trustedIssuers,
      MH_REDIS_KEY_PREFIX: `${redisPrefix}mh:`,
      AC_INTERNAL_URL: ac.url,
      MH_DRAIN_GRACE_MS: process.env.MH_DRAIN_GRACE_MS ?? '5000',
    }),
  );
  const mh = await startMh(mhEnv);
  routeAddresses.set(mh.id, mh.grpcAddress);
  handlers.push(mh);
}

const running = {
  ac: ac.url,
  gc: gc.url,
  gc_grpc: gc.grpcAddress,
  region,
  mc: controllers.map((mc) => ({
    id: mc.id,
    signaling: mc.signalingUrl,
    webtransport: mc.webTransportUrl,
    webtransport_h2: mc.webTransportH2Url,
    url: mc.url,
    jwks: mc.jwksUrl,
  })),
  mh: handlers.map((mh) => ({
    id: mh.id,
    ws: mh.wsUrl,
    webtransport: mh.webTransportUrl,
    url: mh.url,
    grpc: mh.grpcAddress,
  })),
  ...(devJwks !== undefined ? { dev_controller_jwks: devJwks.url } : {}),
};
logger.info(running, 'stack running; Ctrl-C stops it');
if (process.stdout.isTTY) {
  const lines = [
    `AC  ${ac.url}    GC  ${gc.url}`,
    ...controllers.map(
      (mc) =>
        `${mc.id}  signaling ${mc.signalingUrl}  WebTransport ${mc.webTransportUrl ?? '-'}` +
        ` (HTTP/2 ${mc.webTransportH2Url ?? '-'})  keys ${mc.jwksUrl}`,
    ),
    ...handlers.map(
      (mh) =>
        `${mh.id}  media ${mh.wsUrl}  WebTransport ${mh.webTransportUrl ?? '-'}` +
        `  route API ${mh.grpcAddress}`,
    ),
    `Browser client: npm run web, then open http://127.0.0.1:5173/`,
    `Join a meeting: npm run client -- join --meeting create --publish` +
      ` (users ${demoUser.username} and ${secondUser.username}; --ac ${ac.url} --gc ${gc.url})`,
  ];
  console.log(lines.join('\n'));
}
onTerminationSignal(
  () =>
    closeAll(
      [
        {
          name: 'meeting controllers',
          close: async () => void (await Promise.all(controllers.map((mc) => mc.close()))),
        },
        {
          name: 'media handlers',
          close: async () => void (await Promise.all(handlers.map((mh) => mh.drainAndClose()))),
        },
        { name: 'dev controller jwks', close: async () => devJwks?.close() },
        { name: 'gc', close: () => gc.close() },
        { name: 'ac', close: () => ac.close() },
      ],
      logger,
    ),
  logger,
);
