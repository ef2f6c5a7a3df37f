/**
 * The Meeting Controller's benchmark (`npm run bench:mc`), written to reports/bench-mc.json.
 *
 * One controller process (`services/mc/main.ts`, measured from /proc: CPU and resident memory)
 * holds BENCH_MC_MEETINGS meetings of BENCH_MC_SIZE members (default 1,000 of 10: the spec's
 * figure for one instance), joined over loopback WebSocket signaling by clients in this process
 * (their cost is this process's, not the controller's). AC, GC and two Media Handlers run in
 * this process too, on PostgreSQL and on a Redis server of the benchmark's own, which only the
 * controller and the handlers use, so its command counts are theirs.
 *
 * Phases, each measured against a baseline that does the same minus the work measured:
 *  1. idle: the handlers and the controller with no meetings, for the background Redis
 *     operations (load reports) and CPU;
 *  2. join storm: every member joins, BENCH_MC_JOIN_CONCURRENCY at a time; join processing is
 *     the time from sending JoinRequest to receiving JoinResponse (loopback, one hop each way);
 *  3. held: the meetings held with nothing happening, for the CPU of holding them; then
 *     3 x BENCH_MC_SIZE joins one at a time into three more meetings (join processing without
 *     queueing);
 *  4. steady: speaker changes at BENCH_MC_SPEAKER_RATE a second over BENCH_MC_STEADY_SECONDS,
 *     with a TokenRequest every 50 ms whose answer gives the signaling round trip.
 * The simulator's model of the controller (the scenario's `serviceTimes.joinProcessingMs`) is
 * printed beside the join processing time measured one join at a time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as hdr from 'hdr-histogram-js';
import { Redis as IORedis } from 'ioredis';
import { WebSocket } from 'ws';
import { signClaims } from '../adapters/jwt/tokens.ts';
import { createLogger } from '../adapters/logging/logger.ts';
import { startMh, type RunningMh } from '../services/mh/server.ts';
import { eventually, mhTestEnvironment, type StandInController } from '../services/mh/testing.ts';
import { mcRawEnvironment, startControlPlane } from '../services/mc/control-plane-testing.ts';
import { SignalingClient } from '../services/mc/testing.ts';
import { ErrorKind, RejectReason } from '../services/generated/darktower/mc/v1/signaling.ts';
import { validClaims } from '../services/shared/jwt-attacks.ts';
import { http, json } from '../services/shared/testing.ts';
import { builtinScenario } from '../sim/scenario/builtin.ts';

const setting = (name: string, fallback: number, max: number): number => {
  const raw = process.env[name];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    console.error(`${name} must be an integer from 1 to ${max} (got ${raw})`);
    process.exit(2);
  }
  return value;
};

const MEETINGS = setting('BENCH_MC_MEETINGS', 1_000, 2_000);
const SIZE = setting('BENCH_MC_SIZE', 10, 50);
const STEADY_SECONDS = setting('BENCH_MC_STEADY_SECONDS', 20, 300);
const SPEAKER_RATE = setting('BENCH_MC_SPEAKER_RATE', 200, 5_000);
const CONCURRENCY = setting('BENCH_MC_JOIN_CONCURRENCY', 64, 1_000);
/** A directory for V8 CPU profiles of the controller, one per phase (through its inspector). */
const CPU_PROFILE_DIR = process.env.BENCH_MC_CPU_PROF;
const MC_ID = 'mc-bench';
const SCOPES = 'user.read.gc user.write.gc user.write.mc';
const logger = createLogger('bench', 'silent');

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });

/** A process's CPU seconds (user + system) and resident memory, from /proc. */
async function processUsage(pid: number): Promise<{ cpuSeconds: number; rssMiB: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(stat[11]) + Number(stat[12]);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return { cpuSeconds: ticks / 100, rssMiB: rssKiB / 1024 };
}

/** Total commands the Redis server has run. */
async function redisCommands(redis: IORedis): Promise<number> {
  const info = await redis.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? NaN);
}

const histogram = () =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
const msAt = (h: hdr.Histogram, percentile: number) =>
  Math.round(h.getValueAtPercentile(percentile) / 10) / 100;
const round = (value: number, digits = 2) => Number(value.toFixed(digits));

const cleanups: (() => Promise<unknown> | unknown)[] = [];
async function cleanUp(): Promise<void> {
  for (const step of cleanups.reverse()) await Promise.resolve(step()).catch(() => undefined);
}
// Its controller and Redis are processes of their own: stop them however this one ends (a
// signal, or an error such as EPIPE when its output is cut short).
process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));
process.once('SIGTERM', () => void cleanUp().then(() => process.exit(143)));
process.once('uncaughtException', (error) => {
  void cleanUp().then(() => {
    try {
      console.error(error);
    } catch {
      // Its output is gone (EPIPE): nothing left to tell.
    }
    process.exit(1);
  });
});

/** The controller's V8 profiler, over its inspector port: one profile per phase. */
async function connectProfiler(port: number) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const socket = new WebSocket(targets[0]?.webSocketDebuggerUrl ?? '');
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString()) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 500 });
  cleanups.push(() => socket.close());
  return {
    start: async () => void (await call('Profiler.start')),
    stop: async () =>
      JSON.stringify(((await call('Profiler.stop')) as { profile: unknown }).profile),
  };
}

async function main(): Promise<void> {
  // A Redis server of the benchmark's own.
  const redisPort = await freePort();
  const redisDir = await mkdtemp(join(os.tmpdir(), 'bench-mc-redis-'));
  const redisServer = spawn(
    'redis-server',
    [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      redisDir,
    ],
    { stdio: 'ignore' },
  );
  cleanups.push(() => rm(redisDir, { recursive: true, force: true }));
  cleanups.push(() => redisServer.kill('SIGKILL'));
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const stats = new IORedis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  // Refused connections while the server starts are expected; `eventually` retries them.
  stats.on('error', () => undefined);
  await eventually(
    async () =>
      await stats.connect().then(
        () => true,
        () => false,
      ),
    10_000,
    'redis',
  );
  cleanups.push(() => stats.quit());

  const plane = await startControlPlane(logger);
  cleanups.push(() => plane.close());
  const { ac, gc } = plane;

  // The controller, as a process of its own.
  const mcBind = await freePort();
  // The handlers' route APIs on ports chosen now, so the controller is told them at its start.
  const handlerIds = ['mh-b1', 'mh-b2'];
  const routePorts = [await freePort(), await freePort()];
  const inspectPort = await freePort();
  const profiling = CPU_PROFILE_DIR === undefined ? [] : [`--inspect=127.0.0.1:${inspectPort}`];
  const mc: ChildProcess = spawn(
    process.execPath,
    [...profiling, '--import', 'tsx', 'services/mc/main.ts'],
    {
      env: {
        ...process.env,
        ...mcRawEnvironment(plane, MC_ID, {
          BIND_ADDRESS: `127.0.0.1:${mcBind}`,
          REDIS_URL: redisUrl,
          MC_REDIS_KEY_PREFIX: 'mc:',
          MC_MH_REDIS_KEY_PREFIX: 'mh:',
          MC_MH_ROUTE_ADDRESSES: handlerIds
            .map((id, i) => `${id}=127.0.0.1:${routePorts[i] as number}`)
            .join(','),
          MC_MAX_MEETINGS: String(MEETINGS + 10),
          MC_MAX_PARTICIPANTS: String(MEETINGS * SIZE + 100),
          LOG_LEVEL: 'warn',
        }),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  cleanups.push(() => mc.kill('SIGKILL'));
  // Its log (warnings and errors), read as it comes (a pipe left unread blocks its writes) and
  // counted by message.
  const warnings: Record<string, number> = {};
  let partial = '';
  mc.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      let message = line.slice(0, 80);
      try {
        message = String((JSON.parse(line) as { message?: unknown }).message);
      } catch {
        // Not a log line: counted as it is.
      }
      warnings[message] = (warnings[message] ?? 0) + 1;
    }
  });
  const mcUrl = `http://127.0.0.1:${mcBind}`;
  await eventually(
    async () => (await http(`${mcUrl}/health`).catch(() => ({ status: 0 }))).status === 200,
    60_000,
    'controller up',
  );

  const handlers: RunningMh[] = [];
  for (const [i, id] of handlerIds.entries()) {
    const mh = await startMh(
      mhTestEnvironment({
        id,
        acUrl: ac.url,
        controllers: [
          { issuer: MC_ID, jwksUrl: `${mcUrl}/.well-known/jwks.json` } as StandInController,
        ],
        redisPrefix: 'mh:',
        extra: {
          REDIS_URL: redisUrl,
          MH_GRPC_BIND_ADDRESS: `127.0.0.1:${routePorts[i] as number}`,
        },
      }),
      { logger },
    );
    handlers.push(mh);
    cleanups.push(() => mh.close());
  }
  await eventually(
    async () => (await http(`${mcUrl}/ready`)).body.media_handlers === '2',
    30_000,
    'both handlers known',
  );

  // Users: tokens signed with AC's key (as AC would issue them), one per member.
  const key = ac.keys.signingKey();
  if (!key) throw new Error('AC has no signing key');
  const context = {
    key,
    publicJwk: {},
    issuer: 'dark-tower-ac',
    audience: 'dark-tower',
    scopes: SCOPES,
  };
  const tokenFor = (user: string) =>
    signClaims(validClaims({ ...context, now: Date.now() }, { sub: user }), key);
  const organiser = await tokenFor('bench-organiser');

  // Meetings at GC; each names this controller.
  console.log(`creating ${MEETINGS} meetings at GC ...`);
  const meetings: { id: string; url: string }[] = [];
  for (let i = 0; i < MEETINGS; i++) {
    const created = await http(
      `${gc.url}/v1/meetings`,
      json({ title: `bench ${i}` }, { authorization: `Bearer ${organiser}` }),
    );
    if (created.status !== 201) throw new Error(`meeting ${i}: ${created.status}`);
    const id = created.body.meeting_id as string;
    const lookup = await http(`${gc.url}/v1/meetings/${id}`, {
      headers: { authorization: `Bearer ${organiser}` },
    });
    const controller = lookup.body.meeting_controller as { id: string; url: string };
    if (controller.id !== MC_ID) throw new Error(`meeting ${id} is on ${controller.id}`);
    meetings.push({ id, url: controller.url });
  }
  // Three more meetings for joins made one at a time once the storm is over.
  const quiet: { id: string; url: string }[] = [];
  for (let i = 0; i < 3; i++) {
    const created = await http(
      `${gc.url}/v1/meetings`,
      json({ title: `bench quiet ${i}` }, { authorization: `Bearer ${organiser}` }),
    );
    const id = created.body.meeting_id as string;
    quiet.push({ id, url: (meetings[0] as { url: string }).url });
  }
  const quietTokens = await Promise.all(
    Array.from({ length: 3 * SIZE }, (_, i) => tokenFor(`bench-quiet-${i}`)),
  );
  const tokens = await Promise.all(
    Array.from({ length: MEETINGS * SIZE }, (_, i) => tokenFor(`bench-user-${i}`)),
  );

  const pid = mc.pid as number;
  const profiler = CPU_PROFILE_DIR === undefined ? undefined : await connectProfiler(inspectPort);
  const window = async <T>(work: () => Promise<T>, phase: string) => {
    await profiler?.start();
    const usage = await processUsage(pid);
    const commands = await redisCommands(stats);
    const warned = { ...warnings };
    const started = performance.now();
    const result = await work();
    const seconds = (performance.now() - started) / 1000;
    const after = await processUsage(pid);
    if (profiler !== undefined && CPU_PROFILE_DIR !== undefined) {
      await mkdir(CPU_PROFILE_DIR, { recursive: true });
      await writeFile(join(CPU_PROFILE_DIR, `${phase}.cpuprofile`), await profiler.stop());
    }
    return {
      result,
      seconds,
      cpuSeconds: after.cpuSeconds - usage.cpuSeconds,
      rssBeforeMiB: usage.rssMiB,
      rssAfterMiB: after.rssMiB,
      redisCommands: (await redisCommands(stats)) - commands,
      warnings: Object.fromEntries(
        Object.entries(warnings)
          .map(([message, count]) => [message, count - (warned[message] ?? 0)] as const)
          .filter(([, count]) => count > 0),
      ),
    };
  };

  // 1. Idle: background work with no meetings.
  console.log('idle ...');
  const idle = await window(() => sleep(5_000), 'idle');
  const backgroundRedisPerSecond = idle.redisCommands / idle.seconds;
  const backgroundCpuPerSecond = idle.cpuSeconds / idle.seconds;

  // 2. Join storm.
  console.log(`join storm: ${MEETINGS * SIZE} joins, ${CONCURRENCY} at a time ...`);
  const joinTimes = histogram();
  const members: { signaling: SignalingClient; meeting: number }[] = [];
  let rejected = 0;
  /** Refused joins by why: a `JoinRejected` reason or an error kind (none: no answer in time). */
  const rejectedBy: Record<string, number> = {};
  const storm = await window(async () => {
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < MEETINGS * SIZE; i = next++) {
        const meeting = i % MEETINGS;
        const signaling = await SignalingClient.open((meetings[meeting] as { url: string }).url);
        const sentAt = performance.now();
        signaling.send({
          join: {
            accessToken: tokens[i] as string,
            meetingId: (meetings[meeting] as { id: string }).id,
            layout: i % 2 === 0 ? 'grid' : 'speaker',
            region: '',
            keyPackage: Buffer.alloc(0),
          },
        });
        const answer = await signaling.next(
          (m) => m.joinResponse ?? m.joinRejected ?? m.error,
          60_000,
        );
        joinTimes.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
        if (answer === undefined || !('participantId' in answer)) {
          rejected++;
          const why =
            answer === undefined
              ? 'no answer'
              : 'reason' in answer
                ? RejectReason[answer.reason]
                : ErrorKind[answer.kind];
          rejectedBy[why ?? 'unknown'] = (rejectedBy[why ?? 'unknown'] ?? 0) + 1;
        }
        signaling.received.length = 0;
        members.push({ signaling, meeting });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }, 'joinStorm');
  cleanups.push(() => Promise.all(members.map((m) => m.signaling.close().catch(() => undefined))));
  // Clients keep only what they are asked for next.
  for (const member of members) member.signaling.received.length = 0;

  // 3. Held: the same connections and meetings, nothing happening.
  console.log('held ...');
  await sleep(2_000);
  const held = await window(() => sleep(5_000), 'held');

  // Joins one at a time, with the meetings held: join processing without queueing.
  const quietTimes = histogram();
  for (let i = 0; i < quietTokens.length; i++) {
    const meeting = quiet[i % quiet.length] as { id: string; url: string };
    const signaling = await SignalingClient.open(meeting.url);
    const sentAt = performance.now();
    signaling.send({
      join: {
        accessToken: quietTokens[i] as string,
        meetingId: meeting.id,
        layout: 'grid',
        region: '',
        keyPackage: Buffer.alloc(0),
      },
    });
    await signaling.next((m) => m.joinResponse ?? m.joinRejected ?? m.error, 30_000);
    quietTimes.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
    signaling.received.length = 0;
    members.push({ signaling, meeting: -1 });
  }

  // 4. Steady: speaker changes and signaling round trips.
  console.log(`steady: ${SPEAKER_RATE} speaker changes a second for ${STEADY_SECONDS} s ...`);
  const roundTrips = histogram();
  let speakerChanges = 0;
  let roundTripCount = 0;
  const steady = await window(async () => {
    const until = performance.now() + STEADY_SECONDS * 1000;
    const tick = 1000 / SPEAKER_RATE;
    let due = performance.now();
    let lastProbe = 0;
    const probes: Promise<void>[] = [];
    while (performance.now() < until) {
      const member = members[
        Math.floor(Math.random() * members.length)
      ] as (typeof members)[number];
      member.signaling.send({ speaker: {} });
      speakerChanges++;
      if (performance.now() - lastProbe >= 50) {
        lastProbe = performance.now();
        const probe = members[
          Math.floor(Math.random() * members.length)
        ] as (typeof members)[number];
        const sentAt = performance.now();
        probe.signaling.received.length = 0;
        probe.signaling.send({ tokenRequest: { handler: 'mh-b1' } });
        probes.push(
          probe.signaling
            .next((m) => m.connectionToken ?? m.error, 10_000)
            .then(() => {
              roundTrips.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
              roundTripCount++;
            })
            .catch(() => undefined),
        );
      }
      due += tick;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      else if (speakerChanges % 50 === 0) await sleep(0);
    }
    await Promise.all(probes);
  }, 'steady');

  const joins = MEETINGS * SIZE;
  const heldCpuPerSecond = held.cpuSeconds / held.seconds;
  const sim = builtinScenario('baseline');
  const modelJoinMs = sim?.serviceTimes.joinProcessingMs ?? NaN;
  const report = {
    machine: { cpus: os.cpus().length, loadAverage: os.loadavg().map((l) => round(l)) },
    settings: {
      meetings: MEETINGS,
      size: SIZE,
      joinConcurrency: CONCURRENCY,
      steadySeconds: STEADY_SECONDS,
      speakerRate: SPEAKER_RATE,
    },
    joinStorm: {
      joins,
      rejected,
      rejectedBy,
      seconds: round(storm.seconds),
      joinsPerSecond: round(joins / storm.seconds, 0),
      joinProcessingMs: {
        p50: msAt(joinTimes, 50),
        p99: msAt(joinTimes, 99),
        max: msAt(joinTimes, 100),
      },
      controllerCpuMsPerJoin: round(
        ((storm.cpuSeconds - backgroundCpuPerSecond * storm.seconds) / joins) * 1000,
        3,
      ),
      redisOperationsPerJoin: round(
        (storm.redisCommands - backgroundRedisPerSecond * storm.seconds) / joins,
      ),
    },
    oneAtATime: {
      joins: quietTokens.length,
      joinProcessingMs: {
        p50: msAt(quietTimes, 50),
        p99: msAt(quietTimes, 99),
        max: msAt(quietTimes, 100),
      },
    },
    held: {
      controllerRssMiB: round(held.rssAfterMiB, 1),
      controllerRssIdleMiB: round(idle.rssAfterMiB, 1),
      memoryPerMeetingMiB: round((held.rssAfterMiB - idle.rssAfterMiB) / MEETINGS, 4),
      controllerCpuPerSecond: round(heldCpuPerSecond, 3),
      redisOperationsPerSecond: round(held.redisCommands / held.seconds, 0),
      backgroundRedisOperationsPerSecond: round(backgroundRedisPerSecond, 0),
    },
    steady: {
      speakerChanges,
      seconds: round(steady.seconds),
      controllerCpuMsPerSpeakerChange: round(
        ((steady.cpuSeconds - heldCpuPerSecond * steady.seconds) / speakerChanges) * 1000,
        3,
      ),
      signalingRoundTripMs: {
        count: roundTripCount,
        p50: msAt(roundTrips, 50),
        p99: msAt(roundTrips, 99),
      },
      redisOperationsPerSecond: round(steady.redisCommands / steady.seconds, 0),
    },
    simulatorModel: {
      joinProcessingMs: modelJoinMs,
      measuredP50OverModel: round(msAt(quietTimes, 50) / modelJoinMs),
      note: 'the simulator models join processing as a fixed serviceTimes.joinProcessingMs; set it to the measured p50 to match this machine',
    },
    controllerWarnings: {
      total: warnings,
      joinStorm: storm.warnings,
      held: held.warnings,
      steady: steady.warnings,
    },
    targets: { joinProcessingP99Ms: 50, signalingRoundTripP99Ms: 100 },
  };
  await mkdir('reports', { recursive: true });
  await writeFile('reports/bench-mc.json', `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
}

try {
  await main();
} finally {
  await cleanUp();
}
process.exit(0);
