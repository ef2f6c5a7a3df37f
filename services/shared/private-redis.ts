// Test support for suites that take Redis away: a private, empty, non-persistent redis-server
// on a spare loopback port, which a test kills, restarts, pauses and resumes without touching
// the shared Redis other test files use.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedis } from '../../adapters/redis/client.ts';

/** The redis-server binary, when installed (`bash scripts/services-up.sh` installs it). */
export const REDIS_SERVER_BINARY: string | undefined = [
  '/usr/bin/redis-server',
  '/usr/local/bin/redis-server',
].find((path) => existsSync(path));

/** A loopback port free at the time of asking. */
export async function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A private, empty, non-persistent Redis. */
export class PrivateRedis {
  private process: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server and waits (up to 10 s) until it answers PING. */
  async start(): Promise<void> {
    this.process = spawn(
      REDIS_SERVER_BINARY ?? 'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const probe = createRedis(this.url, 'probe:');
    try {
      const deadline = performance.now() + 10_000;
      for (;;) {
        if ((await probe.ping().catch(() => undefined)) === 'PONG') return;
        if (performance.now() > deadline) throw new Error(`redis-server on ${this.port} not up`);
        await sleep(50);
      }
    } finally {
      probe.disconnect();
    }
  }

  /** Kills the server as a crash would: connections are cut. */
  async kill(): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /**
   * Stops the server without closing anything (SIGSTOP): connections stay open and commands
   * get no answer, as with a hung server or a network that drops packets.
   */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  /** Lets a paused server run again (SIGCONT); it answers what it was sent meanwhile. */
  resume(): void {
    this.process?.kill('SIGCONT');
  }
}
