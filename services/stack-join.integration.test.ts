// `npm run stack` as a person runs it (a spawned process, on its own database, state directory,
// Redis prefix and free ports) joined by two spawned command-line clients in one meeting: each
// reports the other's frames. The stack's AC issues 4-second service tokens, so both Meeting
// Controllers refresh theirs while the meeting runs. A restart keeps the controllers' signing
// keys and service account.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../adapters/postgres/pool.ts';
import { isolatedBackends, type IsolatedBackends } from './shared/testing.ts';

const SERVICE_TOKEN_LIFETIME_SECONDS = 4;

interface Spawned {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
  /** The first stdout line `pick` accepts, waiting up to `timeoutMs`. */
  line<T>(pick: (line: string) => T | undefined, timeoutMs: number): Promise<T>;
}

const children: ChildProcess[] = [];

/** Runs a TypeScript entry point in its own Node process (no wrapper process to outlive it). */
function spawnTs(file: string, args: string[], env: Record<string, string | undefined>): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  const stderr: string[] = [];
  let waiters: (() => void)[] = [];
  const wake = () => {
    const woken = waiters;
    waiters = [];
    for (const w of woken) w();
  };
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    wake();
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (partial !== '') lines.push(partial);
      wake();
      resolve(code);
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    lines,
    stderr,
    exited,
    async line(pick, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const line of lines) {
          const picked = pick(line);
          if (picked !== undefined) return picked;
        }
        const left = deadline - Date.now();
        if (done || left <= 0) {
          throw new Error(
            `no such line from ${file}${done ? ' (it exited)' : ''}:\n${lines.slice(-20).join('\n')}\n${stderr.join('').slice(-2_000)}`,
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
}

const json = (line: string): Record<string, unknown> | undefined => {
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
};

interface RunningStack {
  readonly ac: string;
  readonly gc: string;
  readonly mc: {
    id: string;
    signaling: string;
    webtransport?: string;
    webtransport_h2?: string;
    url: string;
    jwks: string;
  }[];
  readonly mh: { id: string; ws: string; webtransport?: string }[];
}

let backends: IsolatedBackends;
let pool: Pool;
let stateDir: string;

beforeAll(async () => {
  backends = await isolatedBackends();
  pool = createPool(backends.databaseUrl, 1);
  stateDir = await mkdtemp(join(tmpdir(), 'dt-stack-join-'));
});

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await pool?.end();
  await backends?.cleanUp();
  await rm(stateDir, { recursive: true, force: true });
});

function startStack(): { process: Spawned; running: Promise<RunningStack> } {
  const stack = spawnTs('services/stack.ts', [], {
    DATABASE_URL: backends.databaseUrl,
    STACK_STATE_DIR: stateDir,
    STACK_EPHEMERAL_PORTS: 'true',
    STACK_REDIS_KEY_PREFIX: backends.redisPrefix,
    AC_SERVICE_TOKEN_LIFETIME_SECONDS: String(SERVICE_TOKEN_LIFETIME_SECONDS),
    MH_DRAIN_GRACE_MS: '0',
    LOG_LEVEL: 'info',
    AC_MASTER_KEY: undefined,
    STACK_MEETING_CONTROLLERS: undefined,
  });
  const running = stack.line((line) => {
    const parsed = json(line);
    return parsed?.message === 'stack running; Ctrl-C stops it'
      ? (parsed as unknown as RunningStack)
      : undefined;
  }, 25_000);
  return { process: stack, running };
}

function client(stack: RunningStack, user: string, args: string[]): Spawned {
  return spawnTs(
    'client/cli.ts',
    ['join', '--json', '--ac', stack.ac, '--gc', stack.gc, '--user', user, ...args],
    { DARK_TOWER_PASSWORD: undefined, STACK_DEMO_PASSWORD: undefined },
  );
}

const event =
  (name: string) =>
  (line: string): Record<string, unknown> | undefined => {
    const parsed = json(line);
    return parsed?.event === name ? parsed : undefined;
  };

async function jwksKids(url: string): Promise<string[]> {
  const body = (await (await fetch(url)).json()) as { keys: { kid: string }[] };
  return body.keys.map((key) => key.kid);
}

let firstKids: string[] = [];
let mcClientId = '';

describe('npm run stack with Meeting Controllers, joined from the command line', () => {
  it('lets two command-line clients meet: each receives the other’s frames', async () => {
    const { process: stack, running } = startStack();
    const urls = await running;
    expect(urls.mc.map((mc) => mc.id)).toEqual(['mc-1', 'mc-2']);
    expect(urls.mh.map((mh) => mh.id)).toEqual(['mh-1', 'mh-2']);
    for (const mc of urls.mc) {
      expect(mc.signaling).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/signaling$/);
      // WebTransport signaling for the browser, over HTTP/3 and HTTP/2.
      expect(mc.webtransport).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\/signaling$/);
      expect(mc.webtransport_h2).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\/signaling$/);
    }
    for (const mh of urls.mh) {
      expect(mh.webtransport).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\/media$/);
    }
    firstKids = (await Promise.all(urls.mc.map((mc) => jwksKids(mc.jwks)))).flat();

    const alice = client(urls, 'demo', ['--meeting', 'create', '--publish', '--duration', '7s']);
    const created = await alice.line(event('meeting'), 15_000);
    const meeting = String(created.meeting_id);
    const bob = client(urls, 'demo2', ['--meeting', meeting, '--publish', '--duration', '3s']);
    const [aliceCode, bobCode] = await Promise.all([alice.exited, bob.exited]);
    expect({ aliceCode, stderr: alice.stderr.join('') }).toEqual({ aliceCode: 0, stderr: '' });
    expect({ bobCode, stderr: bob.stderr.join('') }).toEqual({ bobCode: 0, stderr: '' });

    const aliceJoined = await alice.line(event('joined'), 0);
    const bobJoined = await bob.line(event('joined'), 0);
    const aliceId = String(aliceJoined.participant_id);
    const bobId = String(bobJoined.participant_id);
    expect(aliceId).not.toBe(bobId);
    // One meeting, one controller: the one GC placed the meeting on.
    expect(bobJoined.controller).toBe(created.controller);
    expect(['mc-1', 'mc-2']).toContain(aliceJoined.controller);

    // Each was told of both members, and received the other's frames (about 30 a second).
    for (const [who, other] of [
      [alice, bobId],
      [bob, aliceId],
    ] as const) {
      await who.line(
        (line) =>
          (event('participants')(line)?.participants as string[] | undefined)?.includes(other)
            ? true
            : undefined,
        0,
      );
    }
    const aliceSummary = await alice.line(event('summary'), 0);
    const bobSummary = await bob.line(event('summary'), 0);
    const aliceGot = (aliceSummary.frames_received as Record<string, number>)[bobId] ?? 0;
    const bobGot = (bobSummary.frames_received as Record<string, number>)[aliceId] ?? 0;
    console.log(
      `stack join: alice sent ${String(aliceSummary.frames_sent)} got ${aliceGot} from bob; ` +
        `bob sent ${String(bobSummary.frames_sent)} got ${bobGot} from alice`,
    );
    expect(aliceGot).toBeGreaterThan(20);
    expect(bobGot).toBeGreaterThan(20);
    expect(aliceSummary.frames_from_unknown_publishers).toBe(0);
    // Nobody receives their own frames.
    expect(Object.keys(aliceSummary.frames_received as object)).toEqual([bobId]);

    // The controllers' 4-second service tokens were refreshed while the meeting ran: each
    // controller fetched one at start and again every 2 s.
    const issued = await pool.query<{ subject: string; n: string }>(
      `SELECT subject, count(*) AS n FROM ac.audit_log
        WHERE event_type = 'service_token_issued' AND subject LIKE 'meeting-controller-%'
        GROUP BY subject`,
    );
    expect(issued.rows).toHaveLength(1);
    mcClientId = issued.rows[0]?.subject ?? '';
    expect(Number(issued.rows[0]?.n)).toBeGreaterThanOrEqual(2 * 4);

    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
  }, 60_000);

  it('restarts with the same controller signing keys and service account', async () => {
    expect(firstKids).toHaveLength(2);
    for (const file of ['mc-client.json', 'mc-1-signing-key.pem', 'mc-2-signing-key.pem']) {
      expect((await stat(join(stateDir, file))).mode & 0o777).toBe(0o600);
    }
    const { process: stack, running } = startStack();
    const urls = await running;
    const kids = (await Promise.all(urls.mc.map((mc) => jwksKids(mc.jwks)))).flat();
    expect(kids).toEqual(firstKids);
    expect(stack.lines.join('\n')).not.toContain('meeting controller service account created');
    const services = await pool.query(
      `SELECT client_id FROM ac.services WHERE client_id LIKE 'meeting-controller-%'`,
    );
    expect(services.rows).toEqual([{ client_id: mcClientId }]);
    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
  }, 40_000);
});
