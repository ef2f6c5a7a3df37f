// Starts client/web/e2e/stack.ts (AC, GC, MC, two MHs, users, the web server) in a child
// process for the suite and stops it afterwards. Its details reach the tests through
// DARK_TOWER_WEB_STACK.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const READY_PREFIX = 'DARK_TOWER_WEB_STACK ';
const STARTUP_TIMEOUT_MS = 60_000;

export default async function globalSetup(): Promise<() => Promise<void>> {
  const script = fileURLToPath(new URL('./stack.ts', import.meta.url));
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    // stdin stays open: the stack stops when it closes (if this process dies).
    stdio: ['pipe', 'pipe', 'inherit'],
    env: {
      ...process.env,
      WEB_STACK_USERS: 'alice,bob,carol,dave',
      WEB_STACK_STOP_ON_STDIN_END: '1',
    },
  });
  const info = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the web stack did not start in time')),
      STARTUP_TIMEOUT_MS,
    );
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const line = buffered.split('\n').find((l) => l.startsWith(READY_PREFIX));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line.slice(READY_PREFIX.length));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the web stack exited (${code}) before it was ready`));
    });
  });
  process.env.DARK_TOWER_WEB_STACK = info;
  return async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
}
