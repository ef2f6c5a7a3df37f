// Test support for Meeting Controller failover: controllers as child processes (so a test can
// SIGKILL one) and a six-node Redis Cluster on loopback, each started and stopped by the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { parseEnvironment } from '../../adapters/config/env.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { startAc, type RunningAc } from '../ac/server.ts';
import { gcEnvironment } from '../gc/config.ts';
import { serviceTokenFor, userTokenIn } from '../gc/testing.ts';
import { startGc, type RunningGc } from '../gc/server.ts';
import { startMh, type RunningMh } from '../mh/server.ts';
import { eventually, mhTestEnvironment, type StandInController } from '../mh/testing.ts';
import {
  acTestEnvironment,
  http,
  isolatedBackends,
  parsedEnvironment,
  TEST_REDIS_URL,
  type IsolatedBackends,
} from '../shared/testing.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Ports `freePort` picks from: below Linux's ephemeral range (32768-60999 by default,
 * `net.ipv4.ip_local_port_range`), from which the kernel takes the source port of every outgoing
 * connection and every `listen(0)`. A port found free there and handed to a process that binds
 * it a moment later cannot meanwhile become some connection's source port (a port picked with
 * `listen(0)` could, and a handler then failed to bind its route API: EADDRINUSE).
 */
export const PICKED_PORTS = { from: 20_000, to: 32_000 } as const;

/** Whether `port` can be bound on loopback now (it is closed again before this resolves). */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on loopback for a process to bind (closed again before it is returned), drawn
 * at random from `PICKED_PORTS`; from the ephemeral range only if none of 64 draws was free.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 64; attempt++) {
    const port =
      PICKED_PORTS.from + Math.floor(Math.random() * (PICKED_PORTS.to - PICKED_PORTS.from));
    if (await canBind(port)) return port;
  }
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A Meeting Controller running as its own process (`services/mc/main.ts`). */
export interface ChildMc {
  readonly id: string;
  readonly process: ChildProcess;
  readonly url: string;
  readonly signalingUrl: string;
  readonly metricsUrl: string;
  readonly exited: Promise<number | null>;
  /** Its log lines (JSON), for diagnosis. */
  readonly log: string[];
  kill(signal: NodeJS.Signals): void;
}

/** Starts `services/mc/main.ts` with `env`; resolves once it logs that it is listening. */
export async function spawnMc(
  id: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<ChildMc> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/mc/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, MC_ID: id, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString('utf8')));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const listening = new Promise<{ url: string; signaling: string; metrics_url: string }>(
    (resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${id} did not start: ${log.slice(-5).join('\n')}`));
      }, timeoutMs);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${id} exited (${code}): ${log.slice(-5).join('\n')}`));
      });
      lines.on('line', (line) => {
        log.push(line);
        if (log.length > 2_000) log.splice(0, 1_000);
        if (!line.includes('mc-service listening')) return;
        clearTimeout(timer);
        resolve(JSON.parse(line) as { url: string; signaling: string; metrics_url: string });
      });
    },
  );
  const started = await listening;
  return {
    id,
    process: child,
    url: started.url,
    signalingUrl: started.signaling,
    metricsUrl: started.metrics_url,
    exited,
    log,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** Stops a child controller (SIGTERM, then SIGKILL after 5 s). */
export async function stopMc(mc: ChildMc | undefined): Promise<void> {
  if (mc === undefined || mc.process.exitCode !== null || mc.process.signalCode !== null) return;
  mc.kill('SIGTERM');
  const timer = setTimeout(() => mc.kill('SIGKILL'), 5_000);
  await mc.exited;
  clearTimeout(timer);
}

/** A six-node Redis Cluster (3 masters, 3 replicas) on loopback, in a temporary directory. */
export interface TestCluster {
  readonly nodes: readonly { host: string; port: number; process: ChildProcess }[];
  /** `host:port,...` of every node. */
  readonly seeds: string;
  /** The port of the master serving `key` now. */
  masterOf(key: string): Promise<number>;
  /** Kills one node (SIGKILL). */
  kill(port: number): void;
  /** Waits until every live node reports `cluster_state:ok` and `key`'s slot has a live master. */
  waitHealthy(key: string, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

/**
 * Starts six `redis-server --cluster-enabled yes` on free ports with `nodeTimeoutMs` as the
 * cluster node timeout, and joins them with `redis-cli --cluster create`. On any failure every
 * node started so far is killed and the directory removed before the error is thrown.
 */
export async function startCluster(nodeTimeoutMs = 2_000): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'dt-redis-cluster-'));
  const nodes: { host: string; port: number; process: ChildProcess }[] = [];
  // Should the test process end without its clean-up running, the nodes go with it.
  const killAll = () => {
    for (const node of nodes) if (node.process.exitCode === null) node.process.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    await Promise.all(
      nodes.map(
        (node) =>
          new Promise<void>((resolve) => {
            if (node.process.exitCode !== null || node.process.signalCode !== null)
              return resolve();
            node.process.once('exit', () => resolve());
            node.process.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freePort();
      const nodeDir = join(dir, String(port));
      spawnSync('mkdir', ['-p', nodeDir]);
      const child = spawn(
        REDIS_SERVER,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          nodeDir,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          '--appendonly',
          'yes',
          '--save',
          '',
          '--daemonize',
          'no',
        ],
        { stdio: 'ignore' },
      );
      nodes.push({ host: '127.0.0.1', port, process: child });
    }
    for (const node of nodes) await waitForPing(node.port, 10_000);
    const created = spawnSync(
      REDIS_CLI,
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `${n.host}:${n.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (created.status !== 0) throw new Error(`cluster create failed: ${created.stdout}`);
    const cluster: TestCluster = {
      nodes,
      seeds: nodes.map((n) => `${n.host}:${n.port}`).join(','),
      masterOf: async (key) => {
        const alive = nodes.find(
          (n) => n.process.exitCode === null && n.process.signalCode === null,
        );
        if (alive === undefined) throw new Error('no live node');
        return withNode(alive.port, async (redis) => {
          const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
          const slots = (await redis.call('CLUSTER', 'SLOTS')) as [
            number,
            number,
            [string, number],
          ][];
          const range = slots.find(([low, high]) => slot >= low && slot <= high);
          if (range === undefined) throw new Error(`slot ${slot} unserved`);
          return Number(range[2][1]);
        });
      },
      kill: (port) => nodes.find((n) => n.port === port)?.process.kill('SIGKILL'),
      waitHealthy: async (key, timeoutMs) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const live = nodes.filter(
            (n) => n.process.exitCode === null && n.process.signalCode === null,
          );
          const states = await Promise.all(
            live.map((n) =>
              withNode(n.port, (r) => r.call('CLUSTER', 'INFO') as Promise<string>).catch(() => ''),
            ),
          );
          if (states.every((s) => s.includes('cluster_state:ok'))) {
            const master = await cluster.masterOf(key).catch(() => undefined);
            if (master !== undefined && live.some((n) => n.port === master)) return;
          }
          if (Date.now() > deadline) throw new Error('cluster not healthy in time');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      },
      stop,
    };
    await cluster.waitHealthy('probe', 20_000);
    return cluster;
  } catch (error) {
    await stop();
    throw error;
  }
}

async function withNode<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 500,
    commandTimeout: 1_000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await withNode(port, (r) => r.ping()).catch(() => undefined);
    if (up === 'PONG') return;
    if (Date.now() > deadline) throw new Error(`redis on ${port} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// ---------------------------------------------------------------- the platform around them

/** AC, GC and two Media Handlers in this process, two controllers as child processes. */
export interface FailoverPlatform {
  readonly backends: IsolatedBackends;
  readonly pool: Pool;
  readonly ac: RunningAc;
  readonly gc: RunningGc;
  readonly mhs: readonly RunningMh[];
  readonly mcs: Map<string, ChildMc>;
  /** A user of the default organisation with the join scopes, and its access token. */
  user(name: string): Promise<string>;
  stop(): Promise<void>;
}

const JOIN_SCOPES = ['user.read.gc', 'user.write.gc', 'user.write.mc'];

/**
 * Starts the platform: the handlers trust every controller's JWKS (on ports chosen first), the
 * controllers reach the handlers' route APIs, share one Redis key prefix (or `clusterSeeds`),
 * and register with GC. Resolves once every controller knows both handlers. Everything
 * started is stopped by `stop`, also when starting fails half-way.
 */
export async function startFailoverPlatform(options: {
  readonly mcIds: readonly string[];
  readonly clusterSeeds?: string;
}): Promise<FailoverPlatform> {
  const logger = createLogger('test', 'silent');
  const started: { close: () => Promise<unknown> }[] = [];
  const mcs = new Map<string, ChildMc>();
  const killAll = () => {
    for (const mc of mcs.values()) mc.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    for (const mc of mcs.values()) await stopMc(mc);
    for (const thing of started.reverse()) await thing.close().catch(() => undefined);
  };
  try {
    const backends = await isolatedBackends();
    started.push({ close: () => backends.cleanUp() });
    const pool = createPool(backends.databaseUrl, 2);
    started.push({ close: () => pool.end() });
    const ac = await startAc(
      acTestEnvironment(backends, { AC_REDIS_KEY_PREFIX: `${backends.redisPrefix}ac:` }),
      { logger, scheduleRotation: false },
    );
    started.push(ac);
    const service = await serviceTokenFor(ac, pool, {
      name: 'meeting-controller',
      scopes: ['service.write.gc', 'service.write.mh'],
    });
    const gc = await startGc(
      parsedEnvironment(
        parseEnvironment(gcEnvironment, {
          DATABASE_URL: backends.databaseUrl,
          REDIS_URL: TEST_REDIS_URL,
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
    started.push(gc);
    const httpPorts = new Map<string, number>();
    for (const id of options.mcIds) httpPorts.set(id, await freePort());
    const controllers = options.mcIds.map((id) => ({
      issuer: id,
      jwksUrl: `http://127.0.0.1:${httpPorts.get(id)}/.well-known/jwks.json`,
    })) as unknown as StandInController[];
    const mhs: RunningMh[] = [];
    for (const id of ['mh-1', 'mh-2']) {
      const mh = await startMh(
        mhTestEnvironment({
          id,
          acUrl: ac.url,
          controllers,
          redisPrefix: `${backends.redisPrefix}mh:`,
        }),
        { logger },
      );
      started.push(mh);
      mhs.push(mh);
    }
    const routes = mhs.map((mh, i) => `mh-${i + 1}=${mh.grpcAddress}`).join(',');
    await Promise.all(
      options.mcIds.map(async (id) => {
        const mc = await spawnMc(id, {
          MC_REGION: 'us-west-1',
          MC_SIGNALING_BIND_ADDRESS: '127.0.0.1:0',
          BIND_ADDRESS: `127.0.0.1:${httpPorts.get(id)}`,
          METRICS_BIND_ADDRESS: '127.0.0.1:0',
          GC_GRPC_ADDRESS: gc.grpcAddress,
          GC_URL: gc.url,
          MC_SERVICE_TOKEN: service.token,
          AC_INTERNAL_URL: ac.url,
          REDIS_URL: TEST_REDIS_URL,
          MC_REDIS_KEY_PREFIX: `${backends.redisPrefix}mc:`,
          MC_MH_REDIS_KEY_PREFIX: `${backends.redisPrefix}mh:`,
          MC_MH_ROUTE_ADDRESSES: routes,
          ...(options.clusterSeeds === undefined
            ? {}
            : { MC_REDIS_CLUSTER_NODES: options.clusterSeeds }),
        });
        mcs.set(id, mc);
      }),
    );
    for (const mc of mcs.values()) {
      await eventually(
        async () => {
          const ready = await http(`${mc.url}/ready`).catch(() => undefined);
          return ready?.status === 200 && ready.body.media_handlers === '2';
        },
        20_000,
        `${mc.id} ready with both handlers`,
      );
    }
    return {
      backends,
      pool,
      ac,
      gc,
      mhs,
      mcs,
      user: (name) =>
        userTokenIn(ac, pool, {
          username: name,
          password: `${name}-password-1`,
          org: 'default',
          scopes: JOIN_SCOPES,
        }),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
