/**
 * A Meeting Controller's meeting state in Redis (docs/protocol.md, "Meeting Controller state in
 * Redis"): per meeting a lease `meeting:{<id>}:owner` (the holding controller's id, with a PX
 * TTL) and a snapshot `meeting:{<id>}:state` (JSON, see `core/mc/snapshot.ts`). The meeting id
 * in braces is the Redis Cluster hash tag, shared with the sessions `session:{<id>}:<participant>`,
 * so one script reads the lease and writes the snapshot atomically on one node or a Cluster.
 * Controllers coordinate on one pub/sub channel, `<prefix>mc:coordination`.
 */
import { z } from 'zod';
import { controllerId, type ControllerId, type MeetingId } from '../../core/ids.ts';
import type { LiveSession, MeetingSnapshot } from '../../core/mc/snapshot.ts';
import { MEETING_SNAPSHOT_VERSION } from '../../core/mc/snapshot.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type {
  CoordinationMessage,
  MeetingCoordination,
  MeetingStateStore,
  UndecodableRecord,
} from '../../ports/mc.ts';
import { Cluster, type StateConnection } from './cluster.ts';

export const ownerKey = (meeting: string) => `meeting:{${meeting}}:owner`;
export const stateKey = (meeting: string) => `meeting:{${meeting}}:state`;
/** A participant's session (written by the controller on join and heartbeat, and with snapshots). */
export const sessionKey = (meeting: string, participant: string) =>
  `session:{${meeting}}:${participant}`;

/** A session key's value: who runs the meeting, whose session, when last heard (ms). */
export function sessionValue(
  controller: string,
  meeting: string,
  participant: string,
  at: number,
): string {
  return JSON.stringify({ controller, meeting, participant, at });
}
export const COORDINATION_CHANNEL = 'mc:coordination';

/** A snapshot outlives its sessions: kept this long after its last write or lease renewal. */
export const STATE_TTL_MS = 10 * 60_000;
/** A record larger than this is refused unread (a meeting of hundreds of members is far below). */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;

/** Takes a free lease, extends one held by the caller; answers the holder. */
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return holder`;

/** ACQUIRE, and the snapshot kept as long as the caller holds the lease. */
const RENEW = `
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  holder = ARGV[1]
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return holder`;

/**
 * Writes the snapshot only under the caller's lease (a controller that lost it writes nothing;
 * a lease that lapsed with nobody taking it, as after a failover, is taken again, like RENEW),
 * and each live session (KEYS[3..], values and PX TTLs from ARGV[5..] in pairs).
 */
const WRITE = `
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
elseif holder ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'PX', ARGV[2 * i])
end
return 1`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

const name = z.string().min(1).max(256);
const kind = z.enum(['camera', 'screen', 'audio']);
const count = z.number().int().min(0);
const streamIds = z.array(count).max(256 * 256);
const layoutOptions = {
  pinnedUsers: z.array(name).max(1_024).optional(),
  excludedUsers: z.array(name).max(1_024).optional(),
  includeSelf: z.boolean().optional(),
  preferVideoOverAudio: z.boolean().optional(),
};
const layout = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('grid'),
    rows: z.number().int().min(1).max(256),
    columns: z.number().int().min(1).max(256),
    streamIds,
    ...layoutOptions,
  }),
  z.strictObject({
    type: z.literal('speaker'),
    thumbnails: z.number().int().min(0).max(256),
    streamIds,
    ...layoutOptions,
  }),
]);
const route = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('publish'), publisher: name, kind, handler: name }),
  z.strictObject({ type: z.literal('cascade'), publisher: name, kind, from: name, to: name }),
  z.strictObject({
    type: z.literal('deliver'),
    publisher: name,
    kind,
    handler: name,
    subscriber: name,
  }),
]);
const epochNumber = z.number().int().min(0);
const mlsSchema = z.strictObject({
  group: z.number().int().min(-1),
  epoch: epochNumber,
  epochStartedAt: z.number().finite(),
  members: z.array(name).max(100_000),
  synced: z.array(z.tuple([name, epochNumber])).max(100_000),
  joining: z
    .array(
      z.strictObject({
        participant: name,
        // A KeyPackage in lowercase hex (a few hundred bytes; 64 KiB at most).
        keyPackage: z
          .string()
          .min(2)
          .max(128 * 1024)
          .regex(/^(?:[0-9a-f]{2})+$/),
      }),
    )
    .max(100_000),
  leaving: z.array(name).max(100_000),
  rotation: z.enum(['manual', 'hourly']).nullable(),
  nextRequest: z.number().int().min(1),
});
const snapshotSchema = z.strictObject({
  // Version 1 records (before the MLS state) are still read.
  version: z.union([z.literal(1), z.literal(MEETING_SNAPSHOT_VERSION)]),
  meeting: name,
  region: name,
  takenAt: z.number().finite(),
  nextJoinOrder: count,
  nextCommandId: count,
  nextKeyEpoch: count,
  members: z
    .array(
      z.strictObject({
        id: name,
        region: name,
        joinOrder: count,
        publishes: z.array(kind).max(3),
        layout,
        connectedHandler: name.nullable(),
        lastSeenAt: z.number().finite(),
      }),
    )
    .max(100_000),
  departed: z.array(name).max(256),
  activeSpeakers: z.array(name).max(8),
  legs: z.array(route).max(1_000_000),
  mls: mlsSchema.nullable().optional(),
});

/** A snapshot as stored: JSON. */
export function encodeSnapshot(snapshot: MeetingSnapshot): string {
  return JSON.stringify(snapshot);
}

/** A stored record read back: a snapshot of the expected shape, or why not. */
export function decodeSnapshot(raw: string): Result<MeetingSnapshot, UndecodableRecord> {
  if (raw.length > MAX_RECORD_BYTES)
    return err({ kind: 'bad-encoding', detail: `record over ${MAX_RECORD_BYTES} bytes` });
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return err({ kind: 'bad-encoding', detail: 'not JSON' });
  }
  const parsed = snapshotSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return err({
      kind: 'bad-encoding',
      detail: `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`.slice(0, 200),
    });
  }
  // The schema checked every field the type names; the ids are branded strings.
  return ok(parsed.data as unknown as MeetingSnapshot);
}

export class RedisMeetingStateStore implements MeetingStateStore {
  constructor(
    private readonly redis: StateConnection,
    private readonly stateTtlMs = STATE_TTL_MS,
  ) {}

  async acquire(meeting: MeetingId, controller: ControllerId, leaseMs: number) {
    const holder = await this.redis.eval(ACQUIRE, 1, ownerKey(meeting), controller, leaseMs);
    return controllerId(String(holder));
  }

  async renew(meeting: MeetingId, controller: ControllerId, leaseMs: number) {
    const holder = await this.redis.eval(
      RENEW,
      2,
      ownerKey(meeting),
      stateKey(meeting),
      controller,
      leaseMs,
      this.stateTtlMs,
    );
    return controllerId(String(holder));
  }

  async release(meeting: MeetingId, controller: ControllerId): Promise<void> {
    await this.redis.eval(RELEASE, 1, ownerKey(meeting), controller);
  }

  async write(
    snapshot: MeetingSnapshot,
    controller: ControllerId,
    sessions: readonly LiveSession[],
    leaseMs: number,
  ): Promise<boolean> {
    const meeting = snapshot.meeting;
    const written = await this.redis.eval(
      WRITE,
      2 + sessions.length,
      ownerKey(meeting),
      stateKey(meeting),
      ...sessions.map((session) => sessionKey(meeting, session.participant)),
      controller,
      encodeSnapshot(snapshot),
      this.stateTtlMs,
      leaseMs,
      ...sessions.flatMap((session) => [
        sessionValue(controller, meeting, session.participant, session.lastSeenAt),
        Math.ceil(session.ttlMs),
      ]),
    );
    return written === 1;
  }

  async read(meeting: MeetingId) {
    const raw = await this.redis.get(stateKey(meeting));
    if (raw === null) return ok(undefined);
    return decodeSnapshot(raw);
  }
}

const coordinationMessage = z.strictObject({
  type: z.enum(['claim', 'released']),
  meeting: name,
  by: name,
});

/**
 * The controllers' pub/sub channel. Channels are not key-prefixed by the client, so the
 * connection's key prefix is put in front of the channel name (deployments sharing one Redis
 * do not hear each other). Subscribing takes a connection of its own (a duplicate).
 */
export class RedisMeetingCoordination implements MeetingCoordination {
  private subscriber: StateConnection | undefined;
  private readonly channel: string;

  constructor(private readonly redis: StateConnection) {
    this.channel = `${String(redis.options.keyPrefix ?? '')}${COORDINATION_CHANNEL}`;
  }

  async publish(message: CoordinationMessage): Promise<void> {
    await this.redis.publish(this.channel, JSON.stringify(message));
  }

  async subscribe(
    onMessage: (message: CoordinationMessage) => void,
    onMalformed: (detail: string) => void,
  ): Promise<void> {
    const subscriber: StateConnection =
      this.redis instanceof Cluster ? this.redis.duplicate() : this.redis.duplicate();
    this.subscriber = subscriber;
    subscriber.on('error', () => {});
    subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return onMalformed('not JSON');
      }
      const parsed = coordinationMessage.safeParse(json);
      if (!parsed.success) return onMalformed('not a coordination message');
      onMessage(parsed.data as CoordinationMessage);
    });
    await subscriber.subscribe(this.channel);
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber !== undefined) subscriber.disconnect();
  }
}
