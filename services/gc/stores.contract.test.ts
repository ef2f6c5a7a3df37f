import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgMeetingStore } from '../../adapters/postgres/gc-stores.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { createTestDatabase, type TestDatabase } from '../../adapters/postgres/test-database.ts';
import {
  createRedis,
  deleteOwnKeys,
  testKeyPrefix,
  type Redis,
} from '../../adapters/redis/client.ts';
import { RedisMeetingCache } from '../../adapters/redis/meeting-cache.ts';
import { RedisTenantConfigCache } from '../../adapters/redis/tenant-cache.ts';
import { CachedMeetingStore } from './cached-meetings.ts';
import { migrateSchemas } from '../shared/schema.ts';
import {
  RedisMcAvailability,
  RedisMeetingAssignments,
} from '../../adapters/redis/mc-availability.ts';
import { RedisEndedMeetings } from '../../adapters/redis/ended-meetings.ts';
import {
  MemoryEndedMeetings,
  MemoryMcAvailability,
  MemoryMeetingCache,
  MemoryMeetingAssignments,
  MemoryMeetingStore,
  MemoryTenantConfigCache,
} from './memory-stores.ts';
import { ENDED_MEETING_NOTICE_MS } from '../../ports/gc.ts';
import type {
  EndedMeetings,
  MeetingCache,
  McAvailability,
  MeetingAssignments,
  MeetingRecord,
  MeetingStore,
  PlacementBacklog,
  TenantConfigCache,
  TenantStore,
} from '../../ports/gc.ts';

let database: TestDatabase;
let pool: Pool;
let redis: Redis;

beforeAll(async () => {
  database = await createTestDatabase();
  pool = createPool(database.url, 4);
  await migrateSchemas(pool, ['gc']);
  redis = createRedis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', testKeyPrefix());
});

afterAll(async () => {
  await pool.end();
  await database.drop();
  await deleteOwnKeys(redis);
  await redis.quit();
});

const defaultTenant = {
  orgId: 'default',
  displayName: 'Default organisation',
  maxParticipants: 100,
};

const aMeeting = (overrides: Partial<MeetingRecord> = {}): MeetingRecord => ({
  meetingId: `m-${randomUUID()}`,
  orgId: 'default',
  title: "Robert'); DROP TABLE gc.meetings;--",
  createdBy: 'user-1',
  maxParticipants: 25,
  status: 'active',
  createdAtMs: 1_763_000_000_000,
  endedAtMs: undefined,
  ...overrides,
});

describe.each<[string, () => MeetingStore & TenantStore]>([
  ['in-memory', () => new MemoryMeetingStore([defaultTenant])],
  ['PostgreSQL', () => new PgMeetingStore(pool)],
  [
    'PostgreSQL behind the Redis meeting cache',
    () => {
      const store = new PgMeetingStore(pool);
      const cached = new CachedMeetingStore(store, new RedisMeetingCache(redis));
      return Object.assign(cached, { getTenant: (orgId: string) => store.getTenant(orgId) });
    },
  ],
  [
    'in-memory behind the in-memory meeting cache',
    () => {
      const store = new MemoryMeetingStore([defaultTenant]);
      const cached = new CachedMeetingStore(store, new MemoryMeetingCache());
      return Object.assign(cached, { getTenant: (orgId: string) => store.getTenant(orgId) });
    },
  ],
])('GC meeting store contract: %s', (_name, make) => {
  it('creates a meeting once and reads it back unchanged', async () => {
    const store = make();
    const meeting = aMeeting();
    expect((await store.create(meeting)).ok).toBe(true);
    expect(await store.get(meeting.meetingId)).toEqual(meeting);
    expect(await store.create(meeting)).toEqual({
      ok: false,
      error: { kind: 'duplicate', meetingId: meeting.meetingId },
    });
  });

  it('refuses a meeting of an unknown organisation', async () => {
    const store = make();
    const meeting = aMeeting({ orgId: 'nobody' });
    expect(await store.create(meeting)).toEqual({
      ok: false,
      error: { kind: 'unknown_org', orgId: 'nobody' },
    });
    expect(await store.get(meeting.meetingId)).toBeUndefined();
  });

  it('ends a meeting once; ending again keeps the first end time', async () => {
    const store = make();
    const meeting = aMeeting();
    await store.create(meeting);
    const ended = await store.end(meeting.meetingId, meeting.createdAtMs + 60_000);
    expect(ended).toEqual({ ...meeting, status: 'ended', endedAtMs: meeting.createdAtMs + 60_000 });
    expect(await store.end(meeting.meetingId, meeting.createdAtMs + 120_000)).toEqual(ended);
    expect(await store.end('unknown', 0)).toBeUndefined();
  });

  it('creates once per (org, creator, Idempotency-Key), answering the earlier meeting after', async () => {
    const store = make();
    const key = `key-${randomUUID()}`;
    const first = aMeeting();
    expect(await store.create(first, { key, fingerprint: 'f1' })).toEqual({
      ok: true,
      value: undefined,
    });
    const retry = aMeeting();
    expect(await store.create(retry, { key, fingerprint: 'f2' })).toEqual({
      ok: false,
      error: { kind: 'idempotency_key_used', existing: first, fingerprint: 'f1' },
    });
    expect(await store.get(retry.meetingId)).toBeUndefined();
    // Another creator's key, or no key, is independent.
    const other = aMeeting({ createdBy: 'user-2' });
    expect((await store.create(other, { key, fingerprint: 'f1' })).ok).toBe(true);
    expect((await store.create(aMeeting())).ok).toBe(true);
  });

  it('reads tenant configuration', async () => {
    const store = make();
    expect(await store.getTenant('default')).toEqual(defaultTenant);
    expect(await store.getTenant("' OR 1=1 --")).toBeUndefined();
  });
});

describe.each<[string, () => MeetingStore & PlacementBacklog]>([
  ['in-memory', () => new MemoryMeetingStore([defaultTenant])],
  ['PostgreSQL', () => new PgMeetingStore(pool)],
])('GC placement backlog contract: %s', (_name, make) => {
  it('lists active meetings added, oldest first, until removed or ended', async () => {
    const store = make();
    const older = aMeeting({ createdAtMs: 1_000 });
    const newer = aMeeting({ createdAtMs: 2_000 });
    const ended = aMeeting({ createdAtMs: 1_500 });
    for (const meeting of [newer, older, ended]) {
      await store.create(meeting);
      await store.addPendingPlacement(meeting.meetingId);
    }
    await store.end(ended.meetingId, 3_000);
    const mine = (await store.pendingPlacements(10_000)).filter((id) =>
      [older, newer, ended].some((meeting) => meeting.meetingId === id),
    );
    expect(mine).toEqual([older.meetingId, newer.meetingId]);
    await store.removePendingPlacement(older.meetingId);
    expect(await store.pendingPlacements(10_000)).not.toContain(older.meetingId);
    expect(await store.pendingPlacements(10_000)).toContain(newer.meetingId);
  });
});

describe.each<[string, () => TenantConfigCache]>([
  ['in-memory', () => new MemoryTenantConfigCache(300_000, () => Date.now())],
  ['Redis', () => new RedisTenantConfigCache(redis, 300_000)],
])('tenant config cache contract: %s', (_name, make) => {
  it('returns what was put, and nothing for other tenants', async () => {
    const cache = make();
    const tenant = { ...defaultTenant, orgId: `org-${randomUUID()}` };
    expect(await cache.get(tenant.orgId)).toBeUndefined();
    await cache.put(tenant);
    expect(await cache.get(tenant.orgId)).toEqual(tenant);
    expect(await cache.get('other')).toBeUndefined();
  });
});

describe('Redis tenant cache expiry', () => {
  it('sets the 5-minute TTL on the key', async () => {
    const cache = new RedisTenantConfigCache(redis, 300_000);
    await cache.put({ ...defaultTenant, orgId: 'ttl-check' });
    const ttl = await redis.pttl('tenant:ttl-check');
    expect(ttl).toBeGreaterThan(290_000);
    expect(ttl).toBeLessThanOrEqual(300_000);
  });
});

describe.each<[string, () => McAvailability & { assignments: MeetingAssignments }]>([
  [
    'in-memory',
    () =>
      Object.assign(new MemoryMcAvailability(), { assignments: new MemoryMeetingAssignments() }),
  ],
  [
    'Redis',
    () =>
      Object.assign(new RedisMcAvailability(redis), {
        assignments: new RedisMeetingAssignments(redis),
      }),
  ],
])('MC availability contract: %s', (_name, make) => {
  it('registers, counts assignments, and keeps the count across re-registration', async () => {
    const availability = make();
    const id = `mc-${randomUUID()}`;
    const owner = 'mc-service';
    await availability.register(
      { id, region: 'us-west-1', endpoint: 'https://mc-1:4433', owner },
      1_000,
    );
    await availability.countAssignment(id);
    await availability.countAssignment(id);
    expect(
      await availability.register(
        { id, region: 'us-west-1', endpoint: 'https://mc-1b:4433', owner },
        2_000,
      ),
    ).toEqual({ ok: true, value: undefined });
    const mine = (await availability.list()).find((record) => record.id === id);
    expect(mine).toEqual({
      id,
      region: 'us-west-1',
      endpoint: 'https://mc-1b:4433',
      healthy: true,
      meetingCount: 2,
      lastHeartbeatMs: 2_000,
    });
  });

  it('applies heartbeats of known controllers only', async () => {
    const availability = make();
    const id = `mc-${randomUUID()}`;
    expect(await availability.heartbeat(id, 'svc', 3, true, 1_000)).toBe('unknown');
    expect((await availability.list()).some((record) => record.id === id)).toBe(false);
    await availability.register(
      { id, region: 'eu-west-1', endpoint: 'https://mc-2:4433', owner: 'svc' },
      1_000,
    );
    expect(await availability.heartbeat(id, 'svc', 7, false, 3_000)).toBe('recorded');
    expect((await availability.list()).find((record) => record.id === id)).toMatchObject({
      healthy: false,
      meetingCount: 7,
      lastHeartbeatMs: 3_000,
    });
  });

  it('binds a controller id to the service that registered it', async () => {
    const availability = make();
    const id = `mc-${randomUUID()}`;
    const mine = { id, region: 'us-west-1', endpoint: 'https://mc-1:4433', owner: 'svc-a' };
    expect((await availability.register(mine, 1_000)).ok).toBe(true);
    expect(
      await availability.register(
        { ...mine, endpoint: 'https://attacker.example', owner: 'svc-b' },
        2_000,
      ),
    ).toEqual({ ok: false, error: { kind: 'owned_by_other' } });
    expect(await availability.heartbeat(id, 'svc-b', 0, false, 3_000)).toBe('owned_by_other');
    expect((await availability.list()).find((record) => record.id === id)).toEqual({
      id,
      region: 'us-west-1',
      endpoint: 'https://mc-1:4433',
      healthy: true,
      meetingCount: 0,
      lastHeartbeatMs: 1_000,
    });
    expect(await availability.heartbeat(id, 'svc-a', 1, true, 4_000)).toBe('recorded');
  });

  it('remembers meeting assignments', async () => {
    const { assignments } = make();
    const meeting = `m-${randomUUID()}`;
    expect(await assignments.get(meeting)).toBeUndefined();
    await assignments.set(meeting, 'mc-a');
    await assignments.set(meeting, 'mc-b');
    expect(await assignments.get(meeting)).toBe('mc-b');
  });
});

describe('Redis MC availability written before owners were kept', () => {
  it('asks such a controller to register again, and binds it to the service that does', async () => {
    const availability = new RedisMcAvailability(redis);
    const id = `mc-${randomUUID()}`;
    await redis.hset(`mc:controller:${id}`, {
      id,
      region: 'us-west-1',
      endpoint: 'https://old:4433',
      healthy: '1',
      meetingCount: '4',
      lastHeartbeatMs: '1000',
    });
    await redis.sadd('mc:ids', id);
    expect(await availability.heartbeat(id, 'svc-a', 4, true, 2_000)).toBe('unknown');
    const registration = { id, region: 'us-west-1', endpoint: 'https://new:4433' };
    expect((await availability.register({ ...registration, owner: 'svc-a' }, 3_000)).ok).toBe(true);
    expect((await availability.register({ ...registration, owner: 'svc-b' }, 3_000)).ok).toBe(
      false,
    );
    expect((await availability.list()).find((record) => record.id === id)).toMatchObject({
      endpoint: 'https://new:4433',
      meetingCount: 4,
    });
  });
});

describe.each<[string, () => MeetingCache]>([
  ['in-memory', () => new MemoryMeetingCache()],
  ['Redis', () => new RedisMeetingCache(redis)],
])('meeting cache contract: %s', (_name, make) => {
  it('returns the record last put, with or without an end time', async () => {
    const cache = make();
    const meeting = aMeeting();
    expect(await cache.get(meeting.meetingId)).toBeUndefined();
    await cache.put(meeting);
    expect(await cache.get(meeting.meetingId)).toEqual(meeting);
    const ended = { ...meeting, status: 'ended' as const, endedAtMs: meeting.createdAtMs + 1 };
    await cache.put(ended);
    expect(await cache.get(meeting.meetingId)).toEqual(ended);
  });
});

describe.each<[string, () => EndedMeetings]>([
  ['in-memory', () => new MemoryEndedMeetings()],
  ['Redis', () => new RedisEndedMeetings(redis)],
])('ended meetings contract: %s', (_name, make) => {
  it('names a controller’s ended meetings oldest first, up to the limit, until removed; not older than the notice', async () => {
    const ended = make();
    const mc = `mc-${randomUUID()}`;
    const now = 1_000_000_000;
    await ended.add(mc, 'm-b', now - 10);
    await ended.add(mc, 'm-a', now - 20);
    await ended.add(mc, 'm-c', now - 5);
    // Added again (a second DELETE): keeps its place.
    await ended.add(mc, 'm-a', now - 1);
    await ended.add(`${mc}-other`, 'm-x', now);
    expect(await ended.list(mc, 10, now)).toEqual(['m-a', 'm-b', 'm-c']);
    expect(await ended.list(mc, 2, now)).toEqual(['m-a', 'm-b']);
    await ended.remove(mc, ['m-a', 'm-c', 'm-unknown']);
    expect(await ended.list(mc, 10, now)).toEqual(['m-b']);
    await ended.remove(mc, []);
    expect(await ended.list(mc, 10, now - 10 + ENDED_MEETING_NOTICE_MS)).toEqual([]);
    expect(await ended.list(`${mc}-none`, 10, now)).toEqual([]);
  });
});
