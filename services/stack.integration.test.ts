import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../adapters/postgres/pool.ts';
import { isolatedBackends, type IsolatedBackends } from './shared/testing.ts';
import { lostStateProblem, STACK_RESET_COMMAND } from './shared/stack-state.ts';

const run = promisify(execFile);
let backends: IsolatedBackends;
let pool: Pool;
let stateDir: string;

beforeAll(async () => {
  backends = await isolatedBackends();
  pool = createPool(backends.databaseUrl, 1);
  stateDir = await mkdtemp(join(tmpdir(), 'dt-stack-state-'));
  // A signing key sealed under a master key the state directory no longer has.
  await pool.query(
    `INSERT INTO ac.signing_keys
       (kid, public_jwk, private_key_sealed, master_key_version, created_at_ms, active_from_ms, expires_at_ms)
     VALUES ('lost-key', '{}', '\\x00', 1, 0, 0, 1)`,
  );
});

afterAll(async () => {
  await pool.end();
  await backends.cleanUp();
  await rm(stateDir, { recursive: true, force: true });
});

describe('npm run stack with a lost state directory', () => {
  it('refuses to start on a database with sealed keys, naming the directory and the reset', async () => {
    const databaseName = new URL(backends.databaseUrl).pathname.slice(1);
    const outcome = await run('node_modules/.bin/tsx', ['services/stack.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: backends.databaseUrl,
        STACK_STATE_DIR: stateDir,
        LOG_LEVEL: 'error',
        AC_MASTER_KEY: undefined,
      },
      timeout: 30_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code?: number; stderr?: string }) => ({
        code: error.code,
        stderr: error.stderr ?? '',
      }),
    );
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(`The state directory ${stateDir} has no ac-master-key`);
    expect(outcome.stderr).toContain(databaseName);
    expect(outcome.stderr).toContain(STACK_RESET_COMMAND);
  });

  it('starts when the master key is kept, or the database has no sealed keys', async () => {
    const options = { pool, stateDir, databaseName: 'dark_tower' };
    expect(await lostStateProblem({ ...options, masterKeyKept: true })).toBeUndefined();
    expect(await lostStateProblem({ ...options, masterKeyKept: false })).toContain(
      STACK_RESET_COMMAND,
    );
    await writeFile(join(stateDir, 'unrelated'), '');
    await pool.query('DELETE FROM ac.signing_keys');
    expect(await lostStateProblem({ ...options, masterKeyKept: false })).toBeUndefined();
  });
});
