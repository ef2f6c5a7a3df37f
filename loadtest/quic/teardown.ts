/**
 * How long a killed process takes to go: from SIGKILL to its host closing its TCP connections.
 * The kernel frees a killed process's memory before it closes its sockets, so the time grows
 * with the process's resident memory (on these machines about 3-5 ms for an empty Node
 * process, 18-22 ms for one of 164 MB and 33-41 ms for one of 300 MB of heap). A client whose
 * handler is killed hears of it only then: the loopback model's `serviceTimes.processTeardownMs`.
 *
 * `measureTeardown` starts a throwaway Node process that holds `residentBytes` of heap (small
 * objects, resident) and listens on loopback, connects to it, kills it and times the close.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * The throwaway process: grows its V8 heap with small objects until its resident memory is the
 * size asked, prints its port, waits to be killed. A service's memory is heap of that kind, and
 * the kernel takes more than twice as long to free it as the same size in a few large buffers
 * (measured here: 23-29 ms against 9-11 ms for a 200 MB process), so a holder of buffers timed
 * the handlers' teardown at a third of what their kill takes.
 */
const HOLDER = `
const bytes = Number(process.argv[1]);
const held = [];
while (process.memoryUsage.rss() < bytes) {
  const block = new Array(4096);
  for (let i = 0; i < block.length; i++) block[i] = { i, s: 'x' + i };
  held.push(block);
}
const server = require('node:net').createServer((socket) => socket.on('error', () => {}));
server.listen(0, '127.0.0.1', () => process.stdout.write(
  server.address().port + ' ' + process.memoryUsage().heapUsed + '\\n'));
setInterval(() => held.length, 60_000);
`;

/** Largest memory a measurement holds (the machine's other work keeps the rest). */
export const MAX_TEARDOWN_BYTES = 2 * 1024 ** 3;

/** A throwaway process holding memory, listening on loopback. */
export interface Holder {
  readonly child: ChildProcess;
  readonly port: number;
  /** Its V8 heap in use once it held what it was asked (bytes). */
  readonly heapBytes: number;
}

/** Starts a throwaway process holding `residentBytes` (bounded by MAX_TEARDOWN_BYTES). */
export async function startHolder(residentBytes: number): Promise<Holder> {
  const bytes = Math.max(0, Math.min(MAX_TEARDOWN_BYTES, Math.round(residentBytes)));
  // Room in the old generation for what it holds (V8's default limit is below the bound).
  const heapMiB = Math.ceil(bytes / 2 ** 20) + 256;
  const child = spawn(
    process.execPath,
    [`--max-old-space-size=${heapMiB}`, '-e', HOLDER, String(bytes)],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  try {
    const [port, heapBytes] = await new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('teardown: holder did not start')), 30_000);
      child.once('error', reject);
      child.once('exit', () => reject(new Error('teardown: holder exited')));
      child.stdout.once('data', (data: Buffer) => {
        clearTimeout(timer);
        resolve(String(data).trim().split(' ').map(Number));
      });
    });
    return { child, port: port ?? 0, heapBytes: heapBytes ?? 0 };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/** One kill of a process holding `residentBytes`: ms from SIGKILL to the connection closing. */
export async function measureTeardownOnce(residentBytes: number): Promise<number> {
  const { child, port } = await startHolder(residentBytes);
  try {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<number>((resolve) =>
      socket.once('close', () => resolve(performance.now())),
    );
    const killedAt = performance.now();
    child.kill('SIGKILL');
    const closedAt = await closed;
    socket.destroy();
    return Math.round((closedAt - killedAt) * 1000) / 1000;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** `rounds` kills of a process holding `residentBytes`, one after another (ms each). */
export async function measureTeardown(residentBytes: number, rounds = 3): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) samples.push(await measureTeardownOnce(residentBytes));
  return samples;
}
