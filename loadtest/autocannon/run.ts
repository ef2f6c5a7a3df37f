// `npm run load:http`: autocannon against AC token issuance and GC meeting reads on
// loopback, next to a plain node:http baseline measured in the same run. Services run as
// child processes against a throw-away PostgreSQL database and Redis key prefix.
// Writes reports/load-http.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createRedis } from '../../adapters/redis/client.ts';
import { createPool } from '../../adapters/postgres/pool.ts';
import { createUser, registerService } from '../../services/ac/accounts.ts';
import { McHealth } from '../../services/generated/darktower/gc/v1/gc.ts';
import { connectGc } from '../../services/gc/grpc-client.ts';
import {
  isolatedBackends,
  pgAcStores,
  testMasterKey,
  TEST_REDIS_URL,
} from '../../services/shared/testing.ts';

const DURATION_S = Number(process.env.LOAD_DURATION_S ?? 3);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 16);
/** bcrypt (cost 12, ~0.25 s of CPU) bounds user logins to a few per second per core. */
const LOGIN_CONNECTIONS = 4;
const root = fileURLToPath(new URL('../../', import.meta.url));
const PASSWORD = 'load-test-password';

/** Starts a TypeScript entry point as a child process and waits until it answers `probe`. */
async function startProcess(
  entry: string,
  env: Record<string, string>,
  probe: string,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      if ((await fetch(probe)).ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill('SIGTERM');
  throw new Error(`${entry} did not come up`);
}

function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

interface Measurement {
  readonly target: string;
  readonly connections: number;
  readonly req_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly requests: number;
  readonly non_2xx: number;
  readonly errors: number;
  /** CPU time the server process spent per completed request (user + system), all rounds. */
  readonly server_cpu_us_per_request: number | null;
  /**
   * CPU time the Redis server spent per completed request, all rounds. Redis is shared with
   * whatever else runs on the machine, so this is an upper bound on the target's share.
   */
  readonly redis_cpu_us_per_request: number | null;
  readonly rounds: readonly {
    req_per_s: number;
    p50_ms: number;
    p99_ms: number;
    server_cpu_us_per_request: number | null;
    redis_cpu_us_per_request: number | null;
  }[];
}

const ROUNDS = Number(process.env.LOAD_ROUNDS ?? 3);

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU seconds (user + system) a process has used so far, from /proc; undefined where there is
 * no /proc. Unlike req/s, CPU per request barely moves when other work shares the cores.
 */
function cpuSecondsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return undefined;
  }
}

/** Microseconds of CPU per request between two readings, or null without both readings. */
function cpuPerRequest(
  before: number | undefined,
  after: number | undefined,
  requests: number,
): number | null {
  if (before === undefined || after === undefined || requests === 0) return null;
  return Math.round(((after - before) / requests) * 1e6);
}

/** The process id of the Redis server the services use, from its INFO (for its CPU time). */
async function redisServerPid(): Promise<number | undefined> {
  const redis = createRedis(TEST_REDIS_URL, 'dt_load_probe:');
  try {
    const match = /^process_id:(\d+)/m.exec(await redis.info('server'));
    return match ? Number(match[1]) : undefined;
  } finally {
    await redis.quit();
  }
}

/**
 * Runs one target `ROUNDS` times (the machine is shared, so single runs swing) and reports
 * the median req/s, p50 and p99 of the rounds, plus every round's figures, and the server
 * process's (and Redis's) CPU time per request over all rounds and per round.
 */
async function measure(
  target: string,
  server: ChildProcess,
  options: autocannon.Options,
): Promise<Measurement> {
  const rounds: {
    result: autocannon.Result;
    server_cpu_us_per_request: number | null;
    redis_cpu_us_per_request: number | null;
  }[] = [];
  const cpuBefore = cpuSecondsOf(server.pid);
  const redisBefore = cpuSecondsOf(redisPid);
  for (let round = 0; round < ROUNDS; round++) {
    const serverStart = cpuSecondsOf(server.pid);
    const redisStart = cpuSecondsOf(redisPid);
    const result = await autocannon({ duration: DURATION_S, connections: CONNECTIONS, ...options });
    rounds.push({
      result,
      server_cpu_us_per_request: cpuPerRequest(
        serverStart,
        cpuSecondsOf(server.pid),
        result.requests.total,
      ),
      redis_cpu_us_per_request: cpuPerRequest(
        redisStart,
        cpuSecondsOf(redisPid),
        result.requests.total,
      ),
    });
  }
  const cpuAfter = cpuSecondsOf(server.pid);
  const redisAfter = cpuSecondsOf(redisPid);
  const results = rounds.map((round) => round.result);
  const requests = results.reduce((sum, r) => sum + r.requests.total, 0);
  const measurement = {
    target,
    connections: options.connections ?? CONNECTIONS,
    req_per_s: Math.round(median(results.map((r) => r.requests.average))),
    p50_ms: median(results.map((r) => r.latency.p50)),
    p99_ms: median(results.map((r) => r.latency.p99)),
    requests,
    server_cpu_us_per_request: cpuPerRequest(cpuBefore, cpuAfter, requests),
    redis_cpu_us_per_request: cpuPerRequest(redisBefore, redisAfter, requests),
    non_2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    errors: results.reduce((sum, r) => sum + r.errors + r.timeouts, 0),
    rounds: rounds.map(({ result, ...cpu }) => ({
      req_per_s: Math.round(result.requests.average),
      p50_ms: result.latency.p50,
      p99_ms: result.latency.p99,
      ...cpu,
    })),
  };
  console.log(JSON.stringify(measurement));
  return measurement;
}

const ports = { baseline: 18990, ac: 18982, gc: 18980, gcGrpc: 18951 };
const redisPid = await redisServerPid();
const backends = await isolatedBackends();
const children: ChildProcess[] = [];
try {
  const pool = createPool(backends.databaseUrl, 2);
  const stores = pgAcStores(pool);
  await createUser(
    { ...stores, bcryptCost: 12 },
    {
      username: 'load',
      password: PASSWORD,
      scopes: ['user.read.gc', 'user.write.gc'],
      org: 'default',
    },
  );
  const client = await registerService(stores, {
    name: 'load-mc',
    scopes: ['service.write.gc'],
    org: 'default',
  });
  if (!client.ok) throw new Error('could not register the load-test client');
  const common = { DATABASE_URL: backends.databaseUrl, REDIS_URL: TEST_REDIS_URL };

  const baselineUrl = `http://127.0.0.1:${ports.baseline}`;
  const acUrl = `http://127.0.0.1:${ports.ac}`;
  const gcUrl = `http://127.0.0.1:${ports.gc}`;
  const baselineServer = await startProcess(
    'loadtest/autocannon/baseline-server.ts',
    { PORT: String(ports.baseline) },
    baselineUrl,
  );
  children.push(baselineServer);
  const acServer = await startProcess(
    'services/ac/main.ts',
    {
      ...common,
      BIND_ADDRESS: `127.0.0.1:${ports.ac}`,
      METRICS_BIND_ADDRESS: '127.0.0.1:0',
      AC_MASTER_KEY: testMasterKey(),
      AC_REDIS_KEY_PREFIX: `${backends.redisPrefix}ac:`,
      // The load run measures issuance, not the rate limiters: lift them.
      AC_LOGIN_BURST: '1000000000',
      AC_LOGIN_REFILL_MS: '1',
      AC_SERVICE_TOKEN_BURST: '1000000000',
      AC_SERVICE_TOKEN_REFILL_MS: '1',
    },
    `${acUrl}/ready`,
  );
  children.push(acServer);
  const gcServer = await startProcess(
    'services/gc/main.ts',
    {
      ...common,
      BIND_ADDRESS: `127.0.0.1:${ports.gc}`,
      METRICS_BIND_ADDRESS: '127.0.0.1:0',
      GC_GRPC_BIND_ADDRESS: `127.0.0.1:${ports.gcGrpc}`,
      GC_REGION: 'local',
      AC_INTERNAL_URL: acUrl,
      GC_REDIS_KEY_PREFIX: `${backends.redisPrefix}gc:`,
    },
    `${gcUrl}/ready`,
  );
  children.push(gcServer);

  const serviceBody = JSON.stringify({
    grant_type: 'client_credentials',
    client_id: client.value.clientId,
    client_secret: client.value.clientSecret,
  });
  const userBody = JSON.stringify({ username: 'load', password: PASSWORD });
  const json = { 'content-type': 'application/json' };
  const userToken = (
    (await (
      await fetch(`${acUrl}/v1/auth/user/token`, { method: 'POST', body: userBody, headers: json })
    ).json()) as { access_token: string }
  ).access_token;
  const serviceToken = (
    (await (
      await fetch(`${acUrl}/v1/auth/service/token`, {
        method: 'POST',
        body: serviceBody,
        headers: json,
      })
    ).json()) as { access_token: string }
  ).access_token;

  // Act as a Meeting Controller: register over gRPC and keep heartbeating during the run.
  const mc = connectGc(`127.0.0.1:${ports.gcGrpc}`, serviceToken);
  await mc.registerMc({
    mcId: 'load-mc-1',
    region: 'local',
    publicUrl: 'https://mc-1.local:4433',
    grpcUrl: 'http://mc-1.local:50052',
    maxMeetings: 800,
    maxParticipants: 10_000,
  });
  const heartbeat = setInterval(() => {
    void mc.mcHeartbeat({
      mcId: 'load-mc-1',
      currentMeetings: 1,
      currentParticipants: 0,
      health: McHealth.MC_HEALTH_HEALTHY,
    });
  }, 1_000);

  const meeting = (await (
    await fetch(`${gcUrl}/v1/meetings`, {
      method: 'POST',
      body: JSON.stringify({ title: 'Load test' }),
      headers: { ...json, authorization: `Bearer ${userToken}` },
    })
  ).json()) as { meeting_id: string; meeting_controller: unknown };
  if (!meeting.meeting_controller) throw new Error('the meeting got no controller');

  const baseline = await measure('node:http baseline', baselineServer, { url: baselineUrl });
  const serviceTokens = await measure('AC service token (client credentials)', acServer, {
    url: `${acUrl}/v1/auth/service/token`,
    method: 'POST',
    body: serviceBody,
    headers: json,
  });
  const userTokens = await measure('AC user token (bcrypt cost 12)', acServer, {
    connections: LOGIN_CONNECTIONS,
    duration: DURATION_S * 2,
    url: `${acUrl}/v1/auth/user/token`,
    method: 'POST',
    body: userBody,
    headers: json,
  });
  const meetingReads = await measure('GC GET /v1/meetings/{id}', gcServer, {
    url: `${gcUrl}/v1/meetings/${meeting.meeting_id}`,
    headers: { authorization: `Bearer ${userToken}` },
  });
  // The same requests one at a time: service time without queueing behind other clients.
  const serviceTokenAlone = await measure('AC service token, one connection', acServer, {
    connections: 1,
    url: `${acUrl}/v1/auth/service/token`,
    method: 'POST',
    body: serviceBody,
    headers: json,
  });
  const meetingReadAlone = await measure('GC GET /v1/meetings/{id}, one connection', gcServer, {
    connections: 1,
    url: `${gcUrl}/v1/meetings/${meeting.meeting_id}`,
    headers: { authorization: `Bearer ${userToken}` },
  });
  clearInterval(heartbeat);
  mc.close();
  await pool.end();

  const ratio = (m: Measurement) => ({
    target: m.target,
    throughput_vs_baseline: Number((m.req_per_s / baseline.req_per_s).toFixed(3)),
    p99_vs_baseline: Number((m.p99_ms / Math.max(baseline.p99_ms, 1)).toFixed(1)),
    server_cpu_per_request_vs_baseline:
      m.server_cpu_us_per_request === null || !baseline.server_cpu_us_per_request
        ? null
        : Number((m.server_cpu_us_per_request / baseline.server_cpu_us_per_request).toFixed(1)),
  });
  const report = {
    generated_at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    settings: { duration_s: DURATION_S, rounds: ROUNDS, connections: CONNECTIONS, loopback: true },
    results: [
      baseline,
      serviceTokens,
      userTokens,
      meetingReads,
      serviceTokenAlone,
      meetingReadAlone,
    ],
    ratios: [serviceTokens, userTokens, meetingReads].map(ratio),
    targets: {
      service_token_p99_under_50ms: serviceTokens.p99_ms < 50,
      service_token_p99_under_5ms_goal: serviceTokens.p99_ms < 5,
      service_token_p99_under_5ms_goal_one_connection: serviceTokenAlone.p99_ms < 5,
      user_token_p99_under_50ms: userTokens.p99_ms < 50,
      gc_get_at_least_5000_rps: meetingReads.req_per_s >= 5_000,
      gc_get_p99_under_10ms: meetingReads.p99_ms < 10,
      gc_get_p99_under_10ms_one_connection: meetingReadAlone.p99_ms < 10,
    },
  };
  await mkdir(`${root}reports`, { recursive: true });
  await writeFile(`${root}reports/load-http.json`, `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report.targets));
} finally {
  await Promise.all(children.map(stopProcess));
  await backends.cleanUp();
}
