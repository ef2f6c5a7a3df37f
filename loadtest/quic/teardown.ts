/**
 * How long a killed process takes to go: from SIGKILL to its host closing its TCP connections.
 * The kernel frees a killed process's memory before it closes its sockets, so the time grows
 * with the process's resident memory (on these machines about 3 ms for an empty Node process
 * and 30 ms for one holding 300 MB). A client whose handler is killed hears of it only then:
 * the loopback model's `serviceTimes.processTeardownMs`.
 *
 * `measureTeardown` starts a throwaway Node process that holds `residentBytes` (touched, so
 * they are resident) and listens on loopback, connects to it, kills it and times the close.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';

/** The throwaway process: holds the memory, prints its port, waits to be killed. */
const HOLDER = `
const bytes = Number(process.argv[1]);
const held = [];
for (let left = bytes; left > 0; left -= 1 << 20) held.push(Buffer.alloc(Math.min(left, 1 << 20), 1));
const server = require('node:net').createServer((socket) => socket.on('error', () => {}));
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
setInterval(() => held.length, 60_000);
`;

/** Largest memory a measurement holds (the machine's other work keeps the rest). */
export const MAX_TEARDOWN_BYTES = 2 * 1024 ** 3;

/** One kill of a process holding `residentBytes`: ms from SIGKILL to the connection closing. */
export async function measureTeardownOnce(residentBytes: number): Promise<number> {
  const bytes = Math.max(0, Math.min(MAX_TEARDOWN_BYTES, Math.round(residentBytes)));
  const child = spawn(process.execPath, ['-e', HOLDER, String(bytes)], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('teardown: holder did not start')), 30_000);
      child.once('error', reject);
      child.once('exit', () => reject(new Error('teardown: holder exited')));
      child.stdout.once('data', (data: Buffer) => {
        clearTimeout(timer);
        resolve(Number(String(data).trim()));
      });
    });
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
