// The Meeting Controller on a Redis Cluster (spec 001 "Redis: Cluster Mode", 003 "Failure
// Scenarios" 4): six redis-server processes on loopback (3 masters, 3 replicas, node timeout
// 2 s, AOF), started and stopped by this test in a temporary directory. A controller (a child
// process) keeps a meeting's state and sessions there; the master holding the meeting's slot is
// killed with SIGKILL mid-meeting. The controller keeps serving: the member who joins during
// the failover is written as soon as the replica took over, nothing written before is lost,
// and media flows. Times go to reports/mc-redis-cluster-failover.json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createRedisCluster, type Cluster } from '../../adapters/redis/cluster.ts';
import { sessionKey, stateKey } from '../../adapters/redis/meeting-state.ts';
import { eventually } from '../mh/testing.ts';
import {
  startCluster,
  startFailoverPlatform,
  type FailoverPlatform,
  type TestCluster,
} from './failover-testing.ts';
import { Member, createMeeting, writeReport } from './failover-shared.ts';

let cluster: TestCluster | undefined;
let platform: FailoverPlatform | undefined;
let reader: Cluster | undefined;
const members: Member[] = [];

beforeAll(async () => {
  cluster = await startCluster(2_000);
  platform = await startFailoverPlatform({ mcIds: ['mc-cluster'], clusterSeeds: cluster.seeds });
  reader = createRedisCluster(
    cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
    `${platform.backends.redisPrefix}mc:`,
  );
});

afterAll(async () => {
  if (process.env.DEBUG_MC_LOG === '1')
    console.log(
      platform?.mcs
        .get('mc-cluster')
        ?.log.filter((l) => !l.includes('"level":30'))
        .slice(-40)
        .join('\n'),
    );
  for (const member of members) member.close();
  reader?.disconnect();
  await platform?.stop();
  await cluster?.stop();
});

interface StoredMeeting {
  readonly members: { id: string }[];
}

async function storedIn(meeting: string): Promise<StoredMeeting | undefined> {
  const raw = await reader?.get(stateKey(meeting)).catch(() => null);
  return raw === null || raw === undefined ? undefined : (JSON.parse(raw) as StoredMeeting);
}

/** Whether the replica at `port` holds `key` (read directly, READONLY). */
async function replicaHas(port: number, key: string): Promise<boolean> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.call('READONLY');
    return (await redis.exists(key)) === 1;
  } finally {
    redis.disconnect();
  }
}

describe('Meeting Controller on a Redis Cluster', () => {
  it('keeps serving a meeting when the master holding it dies; nothing lost', async () => {
    if (cluster === undefined || platform === undefined) throw new Error('not started');
    const [aliceToken, bobToken, carolToken] = await Promise.all([
      platform.user('alice'),
      platform.user('bob'),
      platform.user('carol'),
    ]);
    const meeting = await createMeeting(platform, aliceToken);
    const alice = new Member('alice', aliceToken, meeting, platform);
    const bob = new Member('bob', bobToken, meeting, platform);
    members.push(alice, bob);
    await alice.join(10_000);
    await bob.join(10_000);
    alice.startPublishing();
    bob.startPublishing();
    await eventually(
      async () => (await storedIn(meeting))?.members.length === 2,
      10_000,
      'the meeting in the cluster',
    );

    // The master serving the meeting's slot, and its replica holding what was written.
    const prefix = `${platform.backends.redisPrefix}mc:`;
    const fullKey = `${prefix}${stateKey(meeting)}`;
    const master = await cluster.masterOf(fullKey);
    const replicaPort = await replicaOf(cluster, master);
    await eventually(
      async () =>
        (await replicaHas(replicaPort, fullKey)) &&
        (await replicaHas(replicaPort, `${prefix}${sessionKey(meeting, bob.participant)}`)),
      5_000,
      'the replica in sync',
    );

    const killedAt = performance.now();
    cluster.kill(master);
    // A member joins while the master is gone: the controller answers at once (it runs the
    // meeting); its session and the meeting's state reach Redis once the replica took over.
    const carol = new Member('carol', carolToken, meeting, platform);
    members.push(carol);
    await carol.join(10_000);
    const carolJoinedAt = performance.now();
    await cluster.waitHealthy(fullKey, 20_000);
    const clusterOkAt = performance.now();
    await eventually(
      async () => {
        const state = await storedIn(meeting);
        const session = await reader?.exists(sessionKey(meeting, carol.participant)).catch(() => 0);
        return state?.members.length === 3 && session === 1;
      },
      15_000,
      'the new member written after the failover',
    );
    const writtenAt = performance.now();
    // Media flows with the member who joined during the failover.
    carol.startPublishing();
    await eventually(
      () => carol.firstFrom('alice', 0) !== undefined && alice.firstFrom('carol', 0) !== undefined,
      10_000,
      'media with the new member',
    );

    // Nothing lost: every member in the state, every session alive.
    const state = await storedIn(meeting);
    expect(state?.members.map((m) => m.id)).toEqual([
      alice.participant,
      bob.participant,
      carol.participant,
    ]);
    for (const who of [alice, bob, carol]) {
      expect(await reader?.pttl(sessionKey(meeting, who.participant))).toBeGreaterThan(200_000);
    }
    expect(await cluster.masterOf(fullKey)).toBe(replicaPort);
    // A new meeting is served (its lease taken, its state written) after the failover.
    const later = await createMeeting(platform, bobToken);
    const dave = new Member('bob', bobToken, later, platform);
    members.push(dave);
    await dave.join(10_000);
    await eventually(
      async () => (await storedIn(later))?.members.length === 1,
      10_000,
      'new meeting',
    );

    writeReport('mc-redis-cluster-failover', {
      specTargetMs: 10_000,
      clusterNodeTimeoutMs: 2_000,
      killToClusterOkMs: Math.round(clusterOkAt - killedAt),
      killToJoinAnsweredMs: Math.round(carolJoinedAt - killedAt),
      killToStateAndSessionWrittenMs: Math.round(writtenAt - killedAt),
      sessionsLost: 0,
    });
  });
});

async function replicaOf(cluster: TestCluster, master: number): Promise<number> {
  const redis = new Redis({ host: '127.0.0.1', port: master, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  try {
    const nodes = String(await redis.call('CLUSTER', 'NODES'))
      .trim()
      .split('\n');
    const masterId = nodes.find((line) => line.includes(`:${master}@`))?.split(' ')[0];
    const replica = nodes.find((line) => line.split(' ')[3] === masterId);
    const port = Number(/:(\d+)@/.exec(replica ?? '')?.[1]);
    if (!cluster.nodes.some((n) => n.port === port)) throw new Error('no replica found');
    return port;
  } finally {
    redis.disconnect();
  }
}
