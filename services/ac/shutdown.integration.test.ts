import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isolatedBackends,
  testMasterKey,
  TEST_REDIS_URL,
  type IsolatedBackends,
} from '../shared/testing.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
let backends: IsolatedBackends;

beforeAll(async () => {
  backends = await isolatedBackends();
});

afterAll(async () => {
  await backends.cleanUp();
});

async function waitUntilReady(url: string): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt++) {
    try {
      if ((await fetch(`${url}/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('AC did not become ready');
}

describe('AC process', () => {
  it('exits with a clear message when its environment is invalid', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/ac/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, AC_MASTER_KEY: 'too-short' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(2);
    expect(stderr).toContain('DATABASE_URL');
    expect(stderr).toContain('AC_MASTER_KEY: must be 32 bytes, base64-encoded');
  });

  it('drains an in-flight login on SIGTERM, then exits cleanly', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/ac/main.ts'], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: backends.databaseUrl,
        REDIS_URL: TEST_REDIS_URL,
        BIND_ADDRESS: `127.0.0.1:${port}`,
        METRICS_BIND_ADDRESS: '127.0.0.1:0',
        AC_MASTER_KEY: testMasterKey(),
        AC_REDIS_KEY_PREFIX: backends.redisPrefix,
        LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    const exited = once(child, 'exit');
    await waitUntilReady(url);
    // A login costs a bcrypt comparison (~0.25 s): long enough to be in flight at SIGTERM.
    const login = fetch(`${url}/v1/auth/user/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'nobody', password: 'wrong-password' }),
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    child.kill('SIGTERM');
    expect((await login).status).toBe(401);
    const [code] = (await exited) as [number];
    expect(code).toBe(0);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });
});
