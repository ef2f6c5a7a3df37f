// GC's side of the shared HTTP layer's hardening, on a running GC against real PostgreSQL and
// Redis: a NUL byte in a meeting title, the security headers, a lower-case bearer scheme.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import type { RunningAc } from '../ac/server.ts';
import { ManualClock } from '../shared/clock.ts';
import { http, isolatedBackends, json, type IsolatedBackends } from '../shared/testing.ts';
import { startGc, type RunningGc } from './server.ts';
import { startAcForGc } from './testing.ts';

let backends: IsolatedBackends;
let pool: Pool;
let ac: RunningAc;
let gc: RunningGc;
let userToken: string;
const logger = createLogger('test', 'silent');

beforeAll(async () => {
  backends = await isolatedBackends();
  pool = createPool(backends.databaseUrl, 2);
  const clock = new ManualClock(Date.parse('2026-11-22T04:00:00Z'));
  const started = await startAcForGc({
    backends,
    pool,
    clock,
    logger,
    user: { username: 'alice', password: 'alice-password' },
  });
  ac = started.ac;
  userToken = started.userToken;
  gc = await startGc(started.gcEnv, { clock, logger });
});

afterAll(async () => {
  await gc.close();
  await ac.close();
  await pool.end();
  await backends.cleanUp();
});

const meetings = async () =>
  Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM gc.meetings')).rows[0]?.n);

describe('GC hardening', () => {
  it('answers a NUL byte in a meeting title with 400 and stores nothing', async () => {
    const before = await meetings();
    const response = await http(
      `${gc.url}/v1/meetings`,
      json({ title: 'Design\u0000review' }, { authorization: `Bearer ${userToken}` }),
    );
    expect(response).toMatchObject({
      status: 400,
      body: {
        error: 'invalid_request',
        error_description: 'title: must not contain a NUL character',
      },
    });
    expect(await meetings()).toBe(before);
  });

  it('accepts a lower-case bearer scheme and sends the security headers', async () => {
    const created = await http(
      `${gc.url}/v1/meetings`,
      json({ title: 'Standup' }, { authorization: `bearer ${userToken}` }),
    );
    expect(created.status).toBe(201);
    const answers = [
      created,
      await http(`${gc.url}/v1/meetings/${created.body.meeting_id as string}`, {
        headers: { authorization: `bearer ${userToken}` },
      }),
      await http(`${gc.url}/v1/meetings/unknown`),
      await http(`${gc.url}/health`),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([201, 200, 401, 200]);
    for (const answer of answers) {
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(answer.headers.get('content-security-policy')).toBe(
        "default-src 'none'; frame-ancestors 'none'",
      );
    }
  });
});
