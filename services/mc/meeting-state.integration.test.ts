// Two controllers' drivers over one real Redis, each with core's endpoint and ownership machine
// and the meeting-state keeper: a meeting runs on one; a join for it on the other claims it over
// the coordination channel; the first writes its last state, lets go and closes its members'
// connections (4409); the second takes the lease at once and restores the meeting.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { controllerId, meetingId, participantId, regionId } from '../../core/ids.ts';
import { layoutRequestNamed } from '../../core/layout/named.ts';
import { ControllerEndpoint } from '../../core/mc/endpoint.ts';
import {
  DEFAULT_OWNERSHIP_POLICY,
  MeetingOwnership,
  type OwnershipPolicy,
} from '../../core/mc/ownership.ts';
import { controllerConfig, report } from '../../core/mc/testing.ts';
import { deterministicRandom } from '../../core/random.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import {
  createRedis,
  deleteOwnKeys,
  testKeyPrefix,
  type Redis,
} from '../../adapters/redis/client.ts';
import {
  RedisMeetingCoordination,
  RedisMeetingStateStore,
  leaseKey,
  ownerKey,
  sessionKey,
  stateKey,
} from '../../adapters/redis/meeting-state.ts';
import { TEST_REDIS_URL } from '../../adapters/redis/testing.ts';
import type { ServerMessage } from '../generated/darktower/mc/v1/signaling.ts';
import { systemClock } from '../shared/clock.ts';
import { ControllerDriver, type DriverEffects, type SignalingPeer } from './driver.ts';
import { MeetingStateKeeper } from './meeting-state.ts';

const logger = createLogger('test', 'silent');
const M = meetingId('handover-1');
let redis: Redis;
const running: { driver: ControllerDriver; keeper: MeetingStateKeeper }[] = [];

beforeAll(() => {
  redis = createRedis(TEST_REDIS_URL, testKeyPrefix());
});
afterEach(async () => {
  for (const { driver, keeper } of running.splice(0)) {
    driver.stop();
    await keeper.stop();
  }
});
afterAll(async () => {
  await deleteOwnKeys(redis);
  await redis.quit();
});

class Peer implements SignalingPeer {
  readonly messages: ServerMessage[] = [];
  closedWith: number | undefined;
  private queue = Promise.resolve();
  send(message: ServerMessage | Promise<ServerMessage>): void {
    this.queue = this.queue.then(async () => void this.messages.push(await message));
  }
  close(code: number): void {
    this.closedWith = code;
  }
}

const effects: DriverEffects = {
  signGrant: async (grant) => `token-for-${grant.participant}`,
  handlerAddress: (handler) => ({
    id: handler,
    websocketUrl: `ws://${handler}/v1/media`,
    quicAddress: '',
    webtransportUrl: '',
    certHash: Buffer.alloc(0),
  }),
  applyRouteCommand: async () => {},
  endMeeting: async () => {},
  writeSession: async () => {},
  deleteSession: async () => {},
  heartbeat: async () => [],
};

/** The snapshot writes a store was asked for: how many sessions went with each. */
class CountingStore extends RedisMeetingStateStore {
  readonly writes: { meeting: string; sessions: number }[] = [];
  override write(...args: Parameters<RedisMeetingStateStore['write']>) {
    this.writes.push({ meeting: args[0].meeting, sessions: args[2].length });
    return super.write(...args);
  }
}

async function controller(id: string, policy: OwnershipPolicy = DEFAULT_OWNERSHIP_POLICY) {
  const config = controllerConfig({ controller: controllerId(id) });
  const endpoint = new ControllerEndpoint(config, systemClock.now());
  const store = new CountingStore(redis);
  const keeper = new MeetingStateKeeper(
    new MeetingOwnership(
      { controller: controllerId(id), token: `${id}-token` },
      deterministicRandom(id.length),
      policy,
    ),
    store,
    new RedisMeetingCoordination(redis),
    endpoint,
    config.region,
    systemClock,
    logger,
  );
  const driver = new ControllerDriver(
    endpoint,
    config.region,
    effects,
    systemClock,
    logger,
    keeper,
  );
  driver.loadReports([report('h1', systemClock.now()), report('h2', systemClock.now())]);
  driver.start();
  await keeper.start(driver);
  running.push({ driver, keeper });
  return { driver, keeper, endpoint, store };
}

const until = async (check: () => boolean | Promise<boolean>, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const joinAnswer = (peer: Peer) =>
  peer.messages.find((m) => m.joinResponse !== undefined || m.error !== undefined);

describe('meeting hand-over between live controllers', () => {
  it('a claimed meeting moves to the claimant with its members, in well under the lease', async () => {
    const a = await controller('mc-live-a');
    const b = await controller('mc-live-b');
    const region = regionId(controllerConfig().region);
    const alice = new Peer();
    const bob = new Peer();
    a.driver.join(M, participantId('alice'), region, layoutRequestNamed('grid'), alice);
    a.driver.join(M, participantId('bob'), region, layoutRequestNamed('grid'), bob);
    await until(() => joinAnswer(alice) !== undefined && joinAnswer(bob) !== undefined);
    expect(a.keeper.runs(M)).toBe(true);
    expect(await redis.get(ownerKey(M))).toBe('mc-live-a/mc-live-a-token');

    // GC now names b: alice joins there.
    const claimedAt = Date.now();
    const aliceAtB = new Peer();
    b.driver.join(M, participantId('alice'), region, layoutRequestNamed('grid'), aliceAtB);
    await until(() => joinAnswer(aliceAtB) !== undefined);
    const tookMs = Date.now() - claimedAt;
    expect(joinAnswer(aliceAtB)?.joinResponse).toMatchObject({
      participantId: 'alice',
      reconnect: true,
    });
    expect(b.endpoint.meeting(M)?.roster.members.has(participantId('bob'))).toBe(true);
    // Faster than waiting for the lease to lapse: the holder let go when claimed.
    expect(tookMs).toBeLessThan(DEFAULT_OWNERSHIP_POLICY.leaseMs);
    expect(a.keeper.runs(M)).toBe(false);
    expect(a.endpoint.meeting(M)).toBeUndefined();
    expect(alice.closedWith).toBe(4409);
    expect(bob.closedWith).toBe(4409);
    expect(await redis.get(ownerKey(M))).toBe('mc-live-b/mc-live-b-token');
  });

  it('writes a change after it, the sessions only when they changed', async () => {
    const a = await controller('mc-live-d');
    const m = meetingId('writes-1');
    const region = regionId(controllerConfig().region);
    const alice = new Peer();
    a.driver.join(m, participantId('alice'), region, layoutRequestNamed('grid'), alice);
    await until(() => joinAnswer(alice) !== undefined);
    await until(async () => (await redis.exists(sessionKey(m, 'alice'))) === 1);
    const before = a.store.writes.length;
    expect(a.store.writes.at(-1)).toEqual({ meeting: m, sessions: 1 });
    // A change that leaves every session as it was: the snapshot is written, no session.
    a.driver.message(m, { type: 'speaker', participant: participantId('alice') });
    await until(() => a.store.writes.length > before);
    expect(a.store.writes.slice(before)).toEqual([{ meeting: m, sessions: 0 }]);
    expect(JSON.parse((await redis.get(stateKey(m))) ?? '{}').activeSpeakers).toEqual(['alice']);
  });

  it('a join for a meeting whose holder never lets go is refused with a retry hint at the backoff deadline', async () => {
    // The backoff's deadline shortened from 10 s to 1.5 s to keep the test short.
    const b = await controller('mc-live-c', {
      ...DEFAULT_OWNERSHIP_POLICY,
      backoff: { ...DEFAULT_OWNERSHIP_POLICY.backoff, deadlineMs: 1_500 },
    });
    const m = meetingId('held-elsewhere');
    // Another controller runs the meeting and its lease lives (it does not listen).
    await redis.set(ownerKey(m), 'mc-elsewhere/e1', 'PX', 60_000);
    await redis.set(leaseKey('mc-elsewhere'), 'e1', 'PX', 60_000);
    const peer = new Peer();
    const region = regionId(controllerConfig().region);
    b.driver.join(m, participantId('carol'), region, layoutRequestNamed('grid'), peer);
    await until(() => joinAnswer(peer) !== undefined, 5_000);
    expect(joinAnswer(peer)?.error).toMatchObject({ retryAfterMs: 3_200 });
    expect(peer.closedWith).toBe(4401);
    expect(b.endpoint.meeting(m)).toBeUndefined();
  });
});
