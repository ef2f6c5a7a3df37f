// Two GC replicas sharing PostgreSQL and Redis: what one writes, the other reads, although
// each keeps meetings and placements in process. The clock never moves past the in-process
// time to live, so whatever the second replica sees change was told to it, not timed out.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { createRedis } from '../../adapters/redis/client.ts';
import type { RunningAc } from '../ac/server.ts';
import { McHealth } from '../generated/darktower/gc/v1/gc.ts';
import { ManualClock } from '../shared/clock.ts';
import {
  http,
  isolatedBackends,
  json,
  TEST_REDIS_URL,
  type IsolatedBackends,
} from '../shared/testing.ts';
import { connectGc, type GcClient } from './grpc-client.ts';
import { LOCAL_CACHE, startGc, type RunningGc } from './server.ts';
import { mcRegistration, startAcForGc } from './testing.ts';

let backends: IsolatedBackends;
let pool: Pool;
let clock: ManualClock;
let ac: RunningAc;
let first: RunningGc;
let second: RunningGc;
let token: string;
let mcClient: GcClient;
const logger = createLogger('test', 'silent');

const bearer = () => ({ authorization: `Bearer ${token}` });
const getMeeting = (gc: RunningGc, id: string) =>
  http(`${gc.url}/v1/meetings/${id}`, { headers: bearer() });

beforeAll(async () => {
  backends = await isolatedBackends();
  pool = createPool(backends.databaseUrl, 2);
  clock = new ManualClock(Date.parse('2026-11-22T04:00:00Z'));
  const started = await startAcForGc({
    backends,
    pool,
    clock,
    logger,
    user: { username: 'bob', password: 'bob-password' },
  });
  ac = started.ac;
  token = started.userToken;
  first = await startGc(started.gcEnv, { clock, logger });
  second = await startGc(started.gcEnv, { clock, logger });
  mcClient = connectGc(first.grpcAddress, started.mcToken);
});

afterAll(async () => {
  mcClient.close();
  await first.close();
  await second.close();
  await ac.close();
  await pool.end();
  await backends.cleanUp();
});

describe('GC replicas with in-process caches', () => {
  it('reads a meeting created on one replica on the other at once', async () => {
    const created = await http(`${first.url}/v1/meetings`, json({ title: 'Sync' }, bearer()));
    expect(created.status).toBe(201);
    const id = created.body.meeting_id as string;
    expect(await getMeeting(second, id)).toMatchObject({
      status: 200,
      body: { meeting_id: id, status: 'active' },
    });
    expect((await getMeeting(first, 'abcdefghjkmn')).status).toBe(404);
  });

  it('reads a meeting ended on one replica as ended on the other, which had it cached', async () => {
    const id = (await http(`${first.url}/v1/meetings`, json({ title: 'Retro' }, bearer()))).body
      .meeting_id as string;
    for (let i = 0; i < 3; i++) {
      expect((await getMeeting(second, id)).body.status).toBe('active');
    }
    clock.advance(1_000);
    const ended = await http(`${first.url}/v1/meetings/${id}`, {
      method: 'DELETE',
      headers: bearer(),
    });
    expect(ended).toMatchObject({ status: 200, body: { status: 'ended' } });
    expect((await getMeeting(first, id)).body.status).toBe('ended');
    // Well inside the time to live: only the invalidation can have reached the second replica.
    expect(1_000).toBeLessThan(LOCAL_CACHE.meetings.ttlMs);
    await vi.waitFor(
      async () =>
        expect((await getMeeting(second, id)).body).toMatchObject({
          status: 'ended',
          ended_at: new Date(clock.now()).toISOString(),
          meeting_controller: null,
        }),
      { timeout: 1_000, interval: 5 },
    );
  });

  it('follows a meeting placed again by the other replica', async () => {
    await mcClient.registerMc(mcRegistration('mc-a'));
    await mcClient.registerMc(mcRegistration('mc-b'));
    // The registrations place the meetings earlier tests created without a controller.
    await vi.waitFor(async () => {
      const pending = await pool.query(
        "SELECT 1 FROM gc.meetings WHERE placement_pending AND status = 'active'",
      );
      expect(pending.rowCount).toBe(0);
    });
    // Each replica reuses its view of the controllers for a second: let both see them.
    clock.advance(1_000);
    const id = (await http(`${first.url}/v1/meetings`, json({ title: 'Plan' }, bearer()))).body
      .meeting_id as string;
    const placed = (await getMeeting(first, id)).body.meeting_controller as { id: string };
    expect((await getMeeting(second, id)).body.meeting_controller).toEqual(placed);
    const survivor = placed.id === 'mc-a' ? 'mc-b' : 'mc-a';
    const redis = createRedis(TEST_REDIS_URL, `${backends.redisPrefix}gc:`);
    const countBefore = Number(await redis.hget(`mc:controller:${survivor}`, 'meetingCount'));
    await mcClient.mcHeartbeat({
      mcId: placed.id,
      currentMeetings: 1,
      currentParticipants: 0,
      health: McHealth.MC_HEALTH_DRAINING,
    });
    // Past each replica's one-second view of the controllers, inside the cache's time to live.
    clock.advance(1_500);
    expect(1_500).toBeLessThan(LOCAL_CACHE.assignments.ttlMs);
    expect(((await getMeeting(first, id)).body.meeting_controller as { id: string }).id).toBe(
      survivor,
    );
    expect(((await getMeeting(second, id)).body.meeting_controller as { id: string }).id).toBe(
      survivor,
    );
    // Placed again once, by the first replica: the second was told, so it did not place too.
    try {
      expect(Number(await redis.hget(`mc:controller:${survivor}`, 'meetingCount'))).toBe(
        countBefore + 1,
      );
    } finally {
      await redis.quit();
    }
  });
});
