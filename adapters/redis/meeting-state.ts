/**
 * A Meeting Controller's meeting state in Redis (docs/protocol.md, "Meeting Controller state in
 * Redis"): per controller a lease `controller:{<id>}:lease` (the token of the process holding
 * it, with a PX TTL); per meeting a record `meeting:{<id>}:owner` naming the holder that runs
 * it (`<controller>/<token>`, valid while that controller's lease carries the token) and a
 * snapshot `meeting:{<id>}:state` (JSON, see `core/mc/snapshot.ts`). The meeting id in braces
 * is the Redis Cluster hash tag, shared with the sessions `session:{<id>}:<participant>`, so one
 * script reads the record and writes the snapshot atomically on one node or a Cluster.
 * Controllers coordinate on one pub/sub channel, `<prefix>mc:coordination`.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { controllerId, type MeetingId } from '../../core/ids.ts';
import type { Holder } from '../../core/mc/ownership.ts';
import type { LiveSession, MeetingSnapshot } from '../../core/mc/snapshot.ts';
import { MEETING_SNAPSHOT_VERSION } from '../../core/mc/snapshot.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type {
  CoordinationMessage,
  EncodedSnapshot,
  MeetingCoordination,
  MeetingStateStore,
  UndecodableRecord,
} from '../../ports/mc.ts';
import { Cluster, type StateConnection } from './cluster.ts';

export const leaseKey = (controller: string) => `controller:{${controller}}:lease`;
export const ownerKey = (meeting: string) => `meeting:{${meeting}}:owner`;
export const stateKey = (meeting: string) => `meeting:{${meeting}}:state`;
/** A participant's session (written by the controller on join and heartbeat, and with snapshots). */
export const sessionKey = (meeting: string, participant: string) =>
  `session:{${meeting}}:${participant}`;

/** A holder as a meeting record names it: `<controller>/<token>` (ids hold no `/`). */
export const encodeHolder = (holder: Holder): string => `${holder.controller}/${holder.token}`;

/** A meeting record read back (one without a token names a holder no lease carries). */
export function decodeHolder(value: string): Holder {
  const separator = value.lastIndexOf('/');
  return separator < 0
    ? { controller: controllerId(value), token: '' }
    : { controller: controllerId(value.slice(0, separator)), token: value.slice(separator + 1) };
}

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

/** A snapshot outlives its sessions: kept this long after its last write or record refresh. */
export const STATE_TTL_MS = 10 * 60_000;
/** A record larger than this is refused unread (a meeting of hundreds of members is far below). */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;

/**
 * Takes the meeting's record when it is free, names the caller, or names the lapsed holder the
 * caller found (ARGV[3], or empty); answers the holder.
 */
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and holder ~= ARGV[3] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`;

/**
 * Refreshes the caller's record (taking it again if it lapsed and nobody took it, as after a
 * store failover) and the snapshot's TTL; answers the holder.
 */
const KEEP = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return ARGV[1]`;

/**
 * Writes the snapshot only while the record names the caller (a controller whose meeting was
 * taken writes nothing; a record that lapsed with nobody taking it, as after a failover, is
 * taken again, like KEEP), and each live session (KEYS[3..], values and PX TTLs from ARGV[5..]
 * in pairs).
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

/** Deletes the key if it holds ARGV[1] (a meeting's record, or a controller lease). */
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

  async renewLease(holder: Holder, leaseMs: number): Promise<string | null> {
    // One command: SET with GET answers what the lease carried before.
    return await this.redis.set(leaseKey(holder.controller), holder.token, 'PX', leaseMs, 'GET');
  }

  async releaseLease(holder: Holder): Promise<void> {
    await this.redis.eval(RELEASE, 1, leaseKey(holder.controller), holder.token);
  }

  async holderAlive(holder: Holder): Promise<boolean> {
    return (
      holder.token !== '' && (await this.redis.get(leaseKey(holder.controller))) === holder.token
    );
  }

  async acquire(meeting: MeetingId, holder: Holder, holdMs: number, lapsed?: Holder) {
    const answer = await this.redis.eval(
      ACQUIRE,
      1,
      ownerKey(meeting),
      encodeHolder(holder),
      holdMs,
      lapsed === undefined ? '' : encodeHolder(lapsed),
    );
    return decodeHolder(String(answer));
  }

  async keep(meeting: MeetingId, holder: Holder, holdMs: number) {
    const answer = await this.redis.eval(
      KEEP,
      2,
      ownerKey(meeting),
      stateKey(meeting),
      encodeHolder(holder),
      holdMs,
      this.stateTtlMs,
    );
    return decodeHolder(String(answer));
  }

  async release(meeting: MeetingId, holder: Holder): Promise<void> {
    await this.redis.eval(RELEASE, 1, ownerKey(meeting), encodeHolder(holder));
  }

  encode(snapshot: MeetingSnapshot): EncodedSnapshot {
    // `takenAt` first, so that everything after it is the snapshot but its time.
    const { takenAt, ...rest } = snapshot;
    const stored = encodeSnapshot({ takenAt, ...rest });
    const untimed = stored.slice(stored.indexOf(','));
    return {
      meeting: snapshot.meeting,
      stored,
      fingerprint: createHash('sha1').update(untimed).digest('base64'),
    };
  }

  async write(
    snapshot: EncodedSnapshot,
    holder: Holder,
    sessions: readonly LiveSession[],
    holdMs: number,
  ): Promise<boolean> {
    const meeting = snapshot.meeting;
    const written = await this.redis.eval(
      WRITE,
      2 + sessions.length,
      ownerKey(meeting),
      stateKey(meeting),
      ...sessions.map((session) => sessionKey(meeting, session.participant)),
      encodeHolder(holder),
      snapshot.stored,
      this.stateTtlMs,
      holdMs,
      ...sessions.flatMap((session) => [
        sessionValue(holder.controller, meeting, session.participant, session.lastSeenAt),
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

/** How long subscribing waits for its connection to be ready. */
const SUBSCRIBE_READY_WAIT_MS = 2_000;

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
    // A connection without an offline queue refuses commands until it is ready.
    if (subscriber.status !== 'ready')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SUBSCRIBE_READY_WAIT_MS);
        subscriber.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    await subscriber.subscribe(this.channel);
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber !== undefined) subscriber.disconnect();
  }
}
