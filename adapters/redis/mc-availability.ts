import type { WebTransportEndpoint } from '../../core/placement/index.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type {
  HeartbeatOutcome,
  McAvailability,
  McOwnershipError,
  McRecord,
  McRegistration,
  MeetingAssignments,
} from '../../ports/gc.ts';
import type { Redis } from './client.ts';

const CONTROLLERS = 'mc:ids';
const controllerKey = (id: string) => `mc:controller:${id}`;

/** A controller silent this long is forgotten entirely (well past core's 5 s health timeout). */
const FORGET_AFTER_MS = 10 * 60_000;

/**
 * Registers a controller for its owner (the registering service), keeping the meeting count
 * of an earlier registration; 0 when another owner holds the id. A record without an owner
 * (written before owners were kept) is claimed by the first registration.
 */
const REGISTER = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[6] then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'region', ARGV[2], 'endpoint', ARGV[3], 'healthy', '1', 'lastHeartbeatMs', ARGV[4], 'owner', ARGV[6], 'webtransport', ARGV[7])
redis.call('HSETNX', KEYS[1], 'meetingCount', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[2], ARGV[1])
return 1`;

/**
 * Records a heartbeat of a known controller's owner: 1 recorded, 0 unknown (or without an
 * owner: it must register again), -1 another service's controller.
 */
const HEARTBEAT = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return 0 end
if owner ~= ARGV[5] then return -1 end
redis.call('HSET', KEYS[1], 'meetingCount', ARGV[1], 'healthy', ARGV[2], 'lastHeartbeatMs', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`;

/**
 * Controller availability in Redis: one hash per controller (`mc:controller:<id>`), a set of
 * ids, and small scripts so a registration or heartbeat is one atomic step. Every GC replica
 * reads the same view; core's placement registry is rebuilt from it.
 */
export class RedisMcAvailability implements McAvailability {
  constructor(private readonly redis: Redis) {}

  async register(mc: McRegistration, now: number): Promise<Result<void, McOwnershipError>> {
    const registered = await this.redis.eval(
      REGISTER,
      2,
      controllerKey(mc.id),
      CONTROLLERS,
      mc.id,
      mc.region,
      mc.endpoint,
      String(now),
      String(FORGET_AFTER_MS),
      mc.owner,
      JSON.stringify(mc.webTransport ?? []),
    );
    return registered === 1 ? ok(undefined) : err({ kind: 'owned_by_other' });
  }

  async heartbeat(
    id: string,
    owner: string,
    meetingCount: number,
    healthy: boolean,
    now: number,
  ): Promise<HeartbeatOutcome> {
    const outcome = await this.redis.eval(
      HEARTBEAT,
      1,
      controllerKey(id),
      String(meetingCount),
      healthy ? '1' : '0',
      String(now),
      String(FORGET_AFTER_MS),
      owner,
    );
    if (outcome === 1) return 'recorded';
    return outcome === -1 ? 'owned_by_other' : 'unknown';
  }

  async countAssignment(id: string) {
    await this.redis.hincrby(controllerKey(id), 'meetingCount', 1);
  }

  async list(): Promise<McRecord[]> {
    const ids = (await this.redis.smembers(CONTROLLERS)).sort();
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(controllerKey(id));
    const replies = (await pipeline.exec()) ?? [];
    const records: McRecord[] = [];
    const forgotten: string[] = [];
    replies.forEach(([error, fields], index) => {
      const record = error ? undefined : toRecord(fields as Record<string, string>);
      if (record) records.push(record);
      else forgotten.push(ids[index] ?? '');
    });
    if (forgotten.length > 0) await this.redis.srem(CONTROLLERS, ...forgotten);
    return records;
  }
}

/**
 * The WebTransport endpoints stored with a registration (JSON); none when absent (a record
 * written before they were kept) or unreadable.
 */
function webTransportOf(stored: string | undefined): readonly WebTransportEndpoint[] {
  if (stored === undefined || stored === '') return [];
  try {
    const parsed: unknown = JSON.parse(stored);
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (e): e is WebTransportEndpoint =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as WebTransportEndpoint).url === 'string' &&
        ((e as WebTransportEndpoint).carrier === 'h3' ||
          (e as WebTransportEndpoint).carrier === 'h2') &&
        typeof (e as WebTransportEndpoint).certSha256 === 'string',
    );
  } catch {
    return [];
  }
}

function toRecord(fields: Record<string, string>): McRecord | undefined {
  if (!fields.id || !fields.region || !fields.endpoint) return undefined;
  const webTransport = webTransportOf(fields.webtransport);
  return {
    id: fields.id,
    region: fields.region,
    endpoint: fields.endpoint,
    ...(webTransport.length === 0 ? {} : { webTransport }),
    healthy: fields.healthy === '1',
    meetingCount: Number(fields.meetingCount ?? 0),
    lastHeartbeatMs: Number(fields.lastHeartbeatMs ?? 0),
  };
}

/** Meeting placements in Redis (`meeting:<id>:mc`), kept a day. */
export class RedisMeetingAssignments implements MeetingAssignments {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs = 24 * 3_600_000,
  ) {}

  async get(meetingId: string) {
    return (await this.redis.get(`meeting:${meetingId}:mc`)) ?? undefined;
  }

  async set(meetingId: string, mcId: string) {
    await this.redis.set(`meeting:${meetingId}:mc`, mcId, 'PX', this.ttlMs);
  }
}
