// Meeting Controller failover (spec 003 "Failure Scenarios" 2), with real processes: two
// controllers run as child processes over one Redis, beside AC, GC and two Media Handlers.
// The controller running a meeting is killed with SIGKILL mid-meeting; its members reconnect
// through GC to the other controller, which takes the meeting over from Redis: same participant
// ids, same streams, every session kept, media flowing. The time from the kill to media
// flowing again is measured and written to reports/mc-failover.json. The members run MLS: the
// controller taking over goes on as the group's delivery service where the killed one left it
// (the snapshot holds the group's epoch, members and counters), so a member joining after the
// take-over is added to the same group, and a leave after it is committed there: every member
// left derives the same exporter key, without anyone rejoining the group.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../adapters/redis/client.ts';
import { E2eeMember } from '../../client/e2ee/index.ts';
import { unwrap } from '../../core/result.ts';
import { stateKey } from '../../adapters/redis/meeting-state.ts';
import { TEST_REDIS_URL } from '../shared/testing.ts';
import { eventually } from '../mh/testing.ts';
import { startFailoverPlatform, type FailoverPlatform } from './failover-testing.ts';
import {
  Member,
  controllerOf,
  createMeeting,
  metricValue,
  writeReport,
} from './failover-shared.ts';

let platform: FailoverPlatform;
let redis: Redis;
const members: Member[] = [];

beforeAll(async () => {
  platform = await startFailoverPlatform({ mcIds: ['mc-fail-a', 'mc-fail-b'] });
  redis = createRedis(TEST_REDIS_URL, `${platform.backends.redisPrefix}mc:`);
});

afterAll(async () => {
  for (const member of members) member.close();
  await redis?.quit();
  await platform?.stop();
});

const stored = async (meeting: string) =>
  JSON.parse((await redis.get(stateKey(meeting))) ?? 'null') as {
    members: { id: string; joinOrder: number }[];
    mls?: { group: number; epoch: number; members: string[] } | null;
  } | null;

const subjectOf = (token: string): string =>
  (
    JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      sub: string;
    }
  ).sub;

/** Each member's MLS epoch and exporter key (hex): equal at every member of one group. */
async function keysOf(of: readonly Member[]): Promise<{ epoch?: number; key: string }[]> {
  return Promise.all(
    of.map(async (m) => ({
      ...(m.e2ee?.epoch === undefined ? {} : { epoch: m.e2ee.epoch }),
      key: Buffer.from(unwrap(await (m.e2ee as E2eeMember).mls.sframeBaseKey())).toString('hex'),
    })),
  );
}

describe('Meeting Controller failover', () => {
  it('a controller killed mid-meeting: its members reconnect to the other, keep their ids and streams, media flows', async () => {
    const [aliceToken, bobToken, carolToken] = await Promise.all([
      platform.user('alice'),
      platform.user('bob'),
      platform.user('carol'),
    ]);
    const meeting = await createMeeting(platform, aliceToken);
    // The MLS identity is the participant id: the user token's subject.
    const e2ee = (token: string) => E2eeMember.create(meeting, subjectOf(token));
    const alice = new Member('alice', aliceToken, meeting, platform, await e2ee(aliceToken));
    const bob = new Member('bob', bobToken, meeting, platform, await e2ee(bobToken));
    members.push(alice, bob);
    await alice.join(10_000);
    await eventually(() => alice.e2ee?.epoch === 0, 10_000, 'alice created the MLS group');
    await bob.join(10_000);
    await eventually(
      () => alice.e2ee?.epoch === 1 && bob.e2ee?.epoch === 1,
      10_000,
      'bob added to the MLS group',
    );
    const first = alice.controller ?? '';
    expect(bob.controller).toBe(first);
    const ids = { alice: alice.participant, bob: bob.participant };

    // A reconnect to the same controller keeps the participant.
    bob.signaling?.socket.terminate();
    const again = await bob.join(10_000);
    expect(again).toMatchObject({ participantId: ids.bob, reconnect: true });

    alice.startPublishing();
    bob.startPublishing();
    await eventually(
      () => alice.firstFrom('bob', 0) !== undefined && bob.firstFrom('alice', 0) !== undefined,
      10_000,
      'media before the kill',
    );
    await eventually(
      async () => {
        const state = await stored(meeting);
        return state?.members.length === 2 && state.mls?.epoch === 1;
      },
      5_000,
      'the meeting and its MLS epoch in Redis',
    );
    const [aliceKeyBefore, bobKeyBefore] = await keysOf([alice, bob]);
    expect(aliceKeyBefore).toEqual(bobKeyBefore);

    // The controller running the meeting dies.
    const killed = platform.mcs.get(first);
    if (killed === undefined) throw new Error('no such controller');
    const killedAt = performance.now();
    killed.kill('SIGKILL');
    await killed.exited;

    // Each member reconnects wherever GC now sends it.
    const [aliceBack, bobBack] = await Promise.all([
      alice.join(20_000, first),
      bob.join(20_000, first),
    ]);
    const rejoinedAt = performance.now();
    const second = alice.controller ?? '';
    expect(second).not.toBe(first);
    expect(bob.controller).toBe(second);
    expect(aliceBack).toMatchObject({ participantId: ids.alice, reconnect: true });
    expect(bobBack).toMatchObject({ participantId: ids.bob, reconnect: true });
    expect((await controllerOf(platform, aliceToken, meeting))?.id).toBe(second);

    // Media flows again: each receives the other's frames sent after its reconnect, and a member
    // joining through the new controller gets media both ways (routes it commanded).
    await eventually(
      () =>
        alice.firstFrom('bob', rejoinedAt) !== undefined &&
        bob.firstFrom('alice', rejoinedAt) !== undefined,
      10_000,
      'media after the reconnect',
    );
    const mediaBackAt = Math.max(
      alice.firstFrom('bob', rejoinedAt) ?? 0,
      bob.firstFrom('alice', rejoinedAt) ?? 0,
    );
    const carol = new Member('carol', carolToken, meeting, platform, await e2ee(carolToken));
    members.push(carol);
    await carol.join(10_000, first);
    // Carol is added to the group the killed controller ran, by a commit of a member in it:
    // epoch 2 of group 0, one exporter key at all three (nobody rejoined the group).
    await eventually(
      () => [alice, bob, carol].every((m) => m.e2ee?.epoch === 2),
      15_000,
      'carol added to the same MLS group after the take-over',
    );
    const afterJoin = await keysOf([alice, bob, carol]);
    expect(new Set(afterJoin.map((k) => JSON.stringify(k))).size).toBe(1);
    expect(afterJoin[0]?.key).not.toBe(aliceKeyBefore?.key);
    carol.startPublishing();
    await eventually(
      () =>
        carol.firstFrom('alice', 0) !== undefined &&
        carol.firstFrom('bob', 0) !== undefined &&
        alice.firstFrom('carol', 0) !== undefined,
      10_000,
      'media with a member who joined after the failover',
    );

    // No session lost: the meeting's members in Redis, each session with its TTL running.
    const state = await stored(meeting);
    expect(state?.members.map((m) => m.id)).toEqual([ids.alice, ids.bob, carol.participant]);
    expect(state?.members.map((m) => m.joinOrder)).toEqual([0, 1, 2]);
    for (const participant of [ids.alice, ids.bob, carol.participant]) {
      expect(await redis.pttl(`session:{${meeting}}:${participant}`)).toBeGreaterThan(200_000);
    }
    expect((await stored(meeting))?.mls).toMatchObject({
      group: 0,
      epoch: 2,
      members: [ids.alice, ids.bob, carol.participant],
    });
    const survivor = platform.mcs.get(second);
    expect(
      await metricValue(survivor?.metricsUrl ?? '', 'mc_meeting_state_total{event="restored"}'),
    ).toBeGreaterThanOrEqual(1);

    const framesDuringOutage = alice.received.filter(
      (r) => r.from === 'bob' && r.at > killedAt && r.at < rejoinedAt,
    ).length;
    const figures = {
      specTargetMs: 10_000,
      killToReconnectedMs: Math.round(rejoinedAt - killedAt),
      killToMediaAfterReconnectMs: Math.round(mediaBackAt - killedAt),
      killToNewMemberMediaMs: Math.round(
        Math.max(carol.firstFrom('alice', 0) ?? 0, alice.firstFrom('carol', 0) ?? 0) - killedAt,
      ),
      framesForwardedWhileNoController: framesDuringOutage,
      sessionsLost: 0,
      leaseMs: 3_000,
      gcHeartbeatIntervalMs: 2_000,
      gcHeartbeatTimeoutMs: 5_000,
    };
    writeReport('mc-failover', figures);

    // A leave after the take-over: committed in the same group; the two left share the new key.
    carol.leave();
    await eventually(
      () => alice.e2ee?.epoch === 3 && bob.e2ee?.epoch === 3,
      15_000,
      'carol removed from the MLS group by a commit after the take-over',
    );
    const [aliceAfterLeave, bobAfterLeave] = await keysOf([alice, bob]);
    expect(aliceAfterLeave).toEqual(bobAfterLeave);
    expect(aliceAfterLeave?.key).not.toBe(afterJoin[0]?.key);
    expect(alice.e2ee?.failureCount).toBe(0);
  });

  it('a tampered or foreign record in Redis is refused, typed; the controller serves the meeting afresh', async () => {
    const token = await platform.user('dave');
    const live = [...platform.mcs.values()].find(
      (mc) => mc.process.exitCode === null && mc.process.signalCode === null,
    );
    if (live === undefined) throw new Error('no live controller');
    const before = {
      encoding: await metricValue(
        live.metricsUrl,
        'mc_meeting_state_total{event="refused_bad_encoding"}',
      ),
      foreign: await metricValue(
        live.metricsUrl,
        'mc_meeting_state_total{event="refused_foreign_meeting"}',
      ),
    };
    const tampered = await createMeeting(platform, token);
    await redis.set(stateKey(tampered), '{"version":1,"meeting":"x","members":"lots"}');
    const foreign = await createMeeting(platform, token);
    const other = await createMeeting(platform, token);
    const someone = new Member('dave', token, other, platform);
    members.push(someone);
    await someone.join(15_000);
    await eventually(async () => (await stored(other)) !== null, 5_000, 'a record to copy');
    await redis.set(stateKey(foreign), (await redis.get(stateKey(other))) ?? '');
    someone.close();

    for (const meeting of [tampered, foreign]) {
      const member = new Member('dave', token, meeting, platform);
      members.push(member);
      const answer = await member.join(15_000);
      // A fresh meeting: a first join, not a reconnect into someone else's state.
      expect(answer.reconnect).toBe(false);
      await eventually(
        async () => (await stored(meeting))?.members.length === 1,
        5_000,
        'the record replaced by the meeting’s own',
      );
      member.close();
    }
    expect(live.process.exitCode).toBeNull();
    expect(
      await metricValue(live.metricsUrl, 'mc_meeting_state_total{event="refused_bad_encoding"}'),
    ).toBe(before.encoding + 1);
    expect(
      await metricValue(live.metricsUrl, 'mc_meeting_state_total{event="refused_foreign_meeting"}'),
    ).toBe(before.foreign + 1);
  });
});
