// The meeting-state adapter on the real Redis: controller leases, meeting records taken by
// compare-and-set, fenced snapshot writes, records read
// back (tampered and foreign ones refused, typed), and the coordination channel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerId, meetingId, participantId } from '../../core/ids.ts';
import type { MeetingInput } from '../../core/mc/meeting.ts';
import {
  joinInput,
  joinSettled,
  meetingConfig,
  newMeeting,
  viewOf,
} from '../../core/mc/testing.ts';
import { liveSessions, restoreMeeting, snapshotMeeting } from '../../core/mc/snapshot.ts';
import type { CoordinationMessage } from '../../ports/mc.ts';
import { createRedis, deleteOwnKeys, testKeyPrefix, type Redis } from './client.ts';
import type { Holder } from '../../core/mc/ownership.ts';
import {
  RedisMeetingCoordination,
  RedisMeetingStateStore,
  decodeHolder,
  decodeSnapshot,
  encodeHolder,
  leaseKey,
  ownerKey,
  sessionKey,
  stateKey,
} from './meeting-state.ts';
import { RedisMeetingStateEraser } from './meeting-erase.ts';
import { TEST_REDIS_URL } from './testing.ts';

const a: Holder = { controller: controllerId('mc-a'), token: 'ta' };
const b: Holder = { controller: controllerId('mc-b'), token: 'tb' };
/** mc-a started again: the same id, another token. */
const a2: Holder = { controller: controllerId('mc-a'), token: 'ta2' };
const HOLD_MS = 5_000;
let redis: Redis;
let store: RedisMeetingStateStore;

beforeAll(() => {
  redis = createRedis(TEST_REDIS_URL, testKeyPrefix());
  store = new RedisMeetingStateStore(redis);
});

afterAll(async () => {
  await deleteOwnKeys(redis);
  await redis.quit();
});

/** A meeting with an MLS group of alice and bob and carol's key package waiting to be added. */
const mlsSnapshotOf = (meeting: string) => {
  const mls = { commitTimeoutMs: 5_000, rotationIntervalMs: 3_600_000 };
  const { machine } = newMeeting(['h1'], { mls }, viewOf(['h1']));
  const kp = (who: string) => new TextEncoder().encode(`kp:${who}`);
  const join = (who: string, now: number) =>
    machine.handle({ ...(joinInput(who) as object), keyPackage: kp(who) } as MeetingInput, now);
  join('alice', 0);
  join('bob', 1);
  for (let o = machine.pollOutput(); o !== null; o = machine.pollOutput()) {
    if (o.type !== 'mls' || o.output.type !== 'request-commit') continue;
    const request = o.output;
    machine.handle(
      {
        type: 'mls-commit',
        participant: request.to,
        request: request.request,
        epoch: request.epoch,
        commit: new Uint8Array([1]),
        welcome: new Uint8Array([2]),
      },
      2,
    );
  }
  join('carol', 3);
  return { ...snapshotMeeting(machine, 10), meeting: meetingId(meeting) };
};

const snapshotOf = (meeting: string) => {
  const { machine } = newMeeting(['h1', 'h2'], {}, viewOf(['h1', 'h2']));
  joinSettled(machine, ['alice', 'bob'], 0);
  return { ...snapshotMeeting(machine, 10), meeting: meetingId(meeting) };
};

describe('meeting state in Redis', () => {
  it('a controller lease: set to the holder’s token, answering what it carried; lapses', async () => {
    expect(await store.renewLease(a, 300)).toBeNull();
    expect(await store.holderAlive(a)).toBe(true);
    expect(await store.renewLease(a, 300)).toBe('ta');
    // Another start of the same controller: the earlier token is no longer alive.
    expect(await store.renewLease(a2, 300)).toBe('ta');
    expect(await store.holderAlive(a)).toBe(false);
    expect(await store.holderAlive(a2)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await store.holderAlive(a2)).toBe(false);
    expect(await store.renewLease(a2, 300)).toBeNull();
    // Released only by its own token.
    await store.releaseLease(a);
    expect(await store.holderAlive(a2)).toBe(true);
    await store.releaseLease(a2);
    expect(await redis.get(leaseKey('mc-a'))).toBeNull();
  });

  it('a meeting record is taken only when free, the caller’s, or the lapsed holder named', async () => {
    const m = meetingId('lease-1');
    expect(await store.acquire(m, a, HOLD_MS)).toEqual(a);
    expect(await store.acquire(m, b, HOLD_MS)).toEqual(a);
    expect(await store.keep(m, a, HOLD_MS)).toEqual(a);
    expect(await store.keep(m, b, HOLD_MS)).toEqual(a);
    // Naming a lapsed holder other than the one there takes nothing (compare-and-set).
    expect(await store.acquire(m, b, HOLD_MS, a2)).toEqual(a);
    expect(await store.acquire(m, b, HOLD_MS, a)).toEqual(b);
    expect(await redis.get(ownerKey(m))).toBe('mc-b/tb');
    // The former holder's refresh finds the other controller's record.
    expect(await store.keep(m, a, HOLD_MS)).toEqual(b);
  });

  it('a refresh takes a record gone missing again when nobody took it', async () => {
    const m = meetingId('lease-2');
    expect(await store.acquire(m, a, 200)).toEqual(a);
    await redis.del(ownerKey(m));
    expect(await store.keep(m, a, HOLD_MS)).toEqual(a);
    expect(await redis.get(ownerKey(m))).toBe('mc-a/ta');
    expect(await redis.pttl(ownerKey(m))).toBeGreaterThan(HOLD_MS - 1_000);
  });

  it('release deletes only the caller’s own record', async () => {
    const m = meetingId('lease-3');
    await store.acquire(m, a, HOLD_MS);
    await store.release(m, b);
    await store.release(m, a2);
    expect(await redis.get(ownerKey(m))).toBe('mc-a/ta');
    await store.release(m, a);
    expect(await redis.get(ownerKey(m))).toBeNull();
  });

  it('writes a snapshot only under the writer’s record, and reads it back equal', async () => {
    const snapshot = snapshotOf('state-1');
    await store.acquire(snapshot.meeting, b, HOLD_MS);
    expect(await store.write(store.encode(snapshot), a, [], HOLD_MS)).toBe(false);
    expect(await store.read(snapshot.meeting)).toEqual({ ok: true, value: undefined });
    await store.release(snapshot.meeting, b);
    await store.acquire(snapshot.meeting, a, HOLD_MS);
    expect(await store.write(store.encode(snapshot), b, [], HOLD_MS)).toBe(false);
    // Fenced by token: the same controller's earlier start writes nothing either.
    expect(await store.write(store.encode(snapshot), a2, [], HOLD_MS)).toBe(false);
    expect(await store.write(store.encode(snapshot), a, [], HOLD_MS)).toBe(true);
    const read = await store.read(snapshot.meeting);
    expect(read).toEqual({ ok: true, value: JSON.parse(JSON.stringify(snapshot)) });
    expect(await redis.pttl(stateKey(snapshot.meeting))).toBeGreaterThan(60_000);
    // The holder's refreshes keep the snapshot as long as it runs the meeting.
    await redis.pexpire(stateKey(snapshot.meeting), 1_000);
    await store.keep(snapshot.meeting, b, HOLD_MS);
    expect(await redis.pttl(stateKey(snapshot.meeting))).toBeLessThanOrEqual(1_000);
    await store.keep(snapshot.meeting, a, HOLD_MS);
    expect(await redis.pttl(stateKey(snapshot.meeting))).toBeGreaterThan(60_000);
  });

  it('a stale controller whose meeting was taken after its lease lapsed writes nothing', async () => {
    const snapshot = snapshotOf('state-6');
    const m = snapshot.meeting;
    await store.renewLease(a, 200);
    await store.acquire(m, a, HOLD_MS);
    expect(await store.write(store.encode(snapshot), a, [], HOLD_MS)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // b finds a's lease lapsed and takes the record from a.
    expect(await store.holderAlive(a)).toBe(false);
    expect(await store.acquire(m, b, HOLD_MS, a)).toEqual(b);
    // a comes back (its lease taken again) and tries to write: fenced out.
    await store.renewLease(a, 5_000);
    const later = { ...snapshot, takenAt: 99 };
    expect(await store.write(store.encode(later), a, [], HOLD_MS)).toBe(false);
    expect(await store.read(m)).toMatchObject({ ok: true, value: { takenAt: snapshot.takenAt } });
    await store.releaseLease(a);
  });

  it('writes the live sessions with the snapshot, each with the time it has left', async () => {
    const snapshot = snapshotOf('state-4');
    const m = snapshot.meeting;
    const sessions = liveSessions(snapshot, 300_000, 60_010);
    expect(sessions.map((s) => s.ttlMs)).toEqual([239_990, 239_990]);
    await store.acquire(m, a, HOLD_MS);
    expect(await store.write(store.encode(snapshot), b, sessions, HOLD_MS)).toBe(false);
    expect(await redis.exists(sessionKey(m, 'alice'))).toBe(0);
    expect(await store.write(store.encode(snapshot), a, sessions, HOLD_MS)).toBe(true);
    for (const who of ['alice', 'bob']) {
      const ttl = await redis.pttl(sessionKey(m, who));
      expect(ttl).toBeGreaterThan(230_000);
      expect(ttl).toBeLessThanOrEqual(239_990);
      expect(JSON.parse((await redis.get(sessionKey(m, who))) ?? '{}')).toEqual({
        controller: 'mc-a',
        meeting: m,
        participant: who,
        at: 0,
      });
    }
    // A session already over is not written.
    expect(liveSessions(snapshot, 300_000, 300_000)).toEqual([]);
  });

  it('a write after the record went missing with nobody taking it (a store failover) takes it again', async () => {
    const snapshot = snapshotOf('state-5');
    await store.acquire(snapshot.meeting, a, HOLD_MS);
    await redis.del(ownerKey(snapshot.meeting));
    expect(await store.write(store.encode(snapshot), a, [], HOLD_MS)).toBe(true);
    expect(await redis.get(ownerKey(snapshot.meeting))).toBe('mc-a/ta');
    expect(await redis.pttl(ownerKey(snapshot.meeting))).toBeGreaterThan(4_000);
  });

  it('an ended meeting’s record and snapshot are erased only by their holder', async () => {
    const eraser = new RedisMeetingStateEraser(redis);
    const snapshot = snapshotOf('state-ended');
    const m = snapshot.meeting;
    await store.acquire(m, a, HOLD_MS);
    expect(await store.write(store.encode(snapshot), a, [], HOLD_MS)).toBe(true);
    // Another controller, or the same id started again, erases nothing.
    expect(await eraser.erase(m, b)).toBe(false);
    expect(await eraser.erase(m, a2)).toBe(false);
    expect(await redis.exists(ownerKey(m), stateKey(m))).toBe(2);
    expect(await eraser.erase(m, a)).toBe(true);
    expect(await redis.exists(ownerKey(m), stateKey(m))).toBe(0);
    expect(await store.read(m)).toEqual({ ok: true, value: undefined });
  });

  it('a snapshot’s fingerprint leaves out only the time it was taken', () => {
    const snapshot = snapshotOf('state-7');
    const encoded = store.encode(snapshot);
    expect(JSON.parse(encoded.stored)).toEqual(JSON.parse(JSON.stringify(snapshot)));
    expect(store.encode({ ...snapshot, takenAt: 12_345 }).fingerprint).toBe(encoded.fingerprint);
    expect(store.encode({ ...snapshot, nextCommandId: 99 }).fingerprint).not.toBe(
      encoded.fingerprint,
    );
    expect(
      store.encode({ ...snapshot, activeSpeakers: [participantId('alice')] }).fingerprint,
    ).not.toBe(encoded.fingerprint);
  });

  it('a record written without a token names a holder no lease carries', () => {
    expect(decodeHolder('mc-x')).toEqual({ controller: 'mc-x', token: '' });
    expect(decodeHolder(encodeHolder(a))).toEqual(a);
  });

  it('refuses tampered records with a typed error', async () => {
    const m = meetingId('state-2');
    const good = JSON.stringify(snapshotOf('state-2'));
    const tampered = [
      'not json {',
      '[]',
      '{"version":1}',
      good.replace('"version":2', '"version":"2"'),
      good.replace('"version":2', '"version":3'),
      good.replace('"camera"', '"hologram"'),
      good.replace('"type":"deliver"', '"type":"teleport"'),
      good.replace('"nextCommandId":', '"extra":1,"nextCommandId":'),
      'x'.repeat(5 * 1024 * 1024),
    ];
    for (const record of tampered) {
      await redis.set(stateKey(m), record);
      const read = await store.read(m);
      expect(read.ok, record.slice(0, 40)).toBe(false);
      if (!read.ok) expect(read.error.kind).toBe('bad-encoding');
    }
  });

  it('keeps the MLS delivery state (key packages as hex) and refuses a tampered one, typed', async () => {
    const m = meetingId('state-mls');
    const snapshot = mlsSnapshotOf('state-mls');
    expect(snapshot.mls).toMatchObject({ epoch: 1, members: ['alice', 'bob'] });
    expect(snapshot.mls?.joining.map((j) => j.participant)).toEqual(['carol']);
    await store.acquire(m, a, HOLD_MS);
    expect(await store.write(store.encode(snapshot), a, [], HOLD_MS)).toBe(true);
    const read = await store.read(m);
    expect(read).toEqual({ ok: true, value: JSON.parse(JSON.stringify(snapshot)) });
    const good = JSON.stringify(snapshot);
    const hex = snapshot.mls?.joining[0]?.keyPackage ?? '';
    const tampered = [
      good.replace(hex, 'not hex'),
      good.replace(hex, hex.slice(1)),
      good.replace('"rotation":null', '"rotation":"weekly"'),
      good.replace('"nextRequest":', '"nextRequest":0,"x":'),
      good.replace('"group":0', '"group":-2'),
      good.replace('"epoch":1', '"epoch":1.5'),
    ];
    for (const record of tampered) {
      expect(record).not.toBe(good);
      await redis.set(stateKey(m), record);
      const back = await store.read(m);
      expect(back.ok, record.slice(-200)).toBe(false);
      if (!back.ok) expect(back.error.kind).toBe('bad-encoding');
    }
  });

  it('a well-formed record of another meeting decodes but is not restored (foreign)', async () => {
    const m = meetingId('state-3');
    await redis.set(stateKey(m), JSON.stringify(snapshotOf('someone-else')));
    const read = await store.read(m);
    if (!read.ok || read.value === undefined) throw new Error('not decoded');
    const restored = restoreMeeting(
      read.value,
      { ...meetingConfig(), meeting: m },
      viewOf(['h1']),
      20,
    );
    expect(restored).toMatchObject({ ok: false, error: { kind: 'foreign-meeting' } });
  });

  it('decodes what it encodes for any roster (property of the schema over core’s type)', () => {
    for (const people of [[], ['a'], ['a', 'b', 'c', 'd', 'e']]) {
      const { machine } = newMeeting(['h1', 'h2']);
      joinSettled(machine, people, 0);
      const snapshot = snapshotMeeting(machine, 5);
      expect(decodeSnapshot(JSON.stringify(snapshot))).toEqual({
        ok: true,
        value: JSON.parse(JSON.stringify(snapshot)),
      });
    }
  });

  it('carries coordination messages between controllers; malformed ones are reported', async () => {
    const listener = new RedisMeetingCoordination(redis);
    const speaker = new RedisMeetingCoordination(redis);
    const heard: CoordinationMessage[] = [];
    const malformed: string[] = [];
    await listener.subscribe(
      (message) => heard.push(message),
      (detail) => malformed.push(detail),
    );
    try {
      const message = { type: 'claim', meeting: meetingId('m'), by: b.controller } as const;
      await speaker.publish(message);
      const channel = `${String(redis.options.keyPrefix)}mc:coordination`;
      await redis.publish(channel, '{"type":"explode"}');
      await redis.publish(channel, 'nonsense');
      const deadline = Date.now() + 5_000;
      while ((heard.length < 1 || malformed.length < 2) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(heard).toEqual([message]);
      expect(malformed).toEqual(['not a coordination message', 'not JSON']);
    } finally {
      await listener.close();
      await speaker.close();
    }
  });
});
