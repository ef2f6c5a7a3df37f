// A meeting ended at the Global Controller ends at its Meeting Controller: AC, GC (PostgreSQL),
// a Meeting Controller and a Media Handler in process, on real Redis and loopback ports. Two
// members join and send media; the creator ends the meeting at GC (DELETE /v1/meetings/{id}).
// GC names the meeting in its answer to the controller's next heartbeat; the controller's core
// ends it: each member gets a typed `MeetingEnded` and its signaling closes (4410), the handler
// drops the meeting's legs and sessions, the meeting's Redis state (lease, snapshot, sessions) is
// deleted, and GC stops naming it once the controller acknowledged it. A later join of the
// meeting gets a typed error and writes nothing. The time from the DELETE to the members told is
// written to reports/mc-meeting-end.json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createRedis, type Redis } from '../../adapters/redis/client.ts';
import { endedMeetingsKey } from '../../adapters/redis/ended-meetings.ts';
import { MediaClient, type WebSocketConstructor } from '../../client/media/index.ts';
import { meetingId, participantId, regionId } from '../../core/ids.ts';
import { layoutRequestNamed } from '../../core/layout/named.ts';
import { userTokenIn } from '../gc/testing.ts';
import {
  ErrorKind,
  RejectReason,
  type JoinResponse,
  type ServerMessage,
} from '../generated/darktower/mc/v1/signaling.ts';
import { startMh, type RunningMh } from '../mh/server.ts';
import { eventually, mhTestEnvironment, type StandInController } from '../mh/testing.ts';
import { http, TEST_REDIS_URL } from '../shared/testing.ts';
import {
  JOIN_SCOPES,
  mcTestEnvironment,
  startControlPlane,
  type ControlPlane,
} from './control-plane-testing.ts';
import { writeReport } from './failover-shared.ts';
import { startMc, type RunningMc } from './server.ts';
import type { SignalingPeer } from './driver.ts';
import { SignalingClient } from './testing.ts';

const logger = createLogger('test', 'silent');
const MC_ID = 'mc-end-test';

let plane: ControlPlane;
let redis: Redis;
let mc: RunningMc;
let mh: RunningMh;
const routeAddresses = new Map<string, string>();
const closers: (() => unknown)[] = [];

beforeAll(async () => {
  plane = await startControlPlane(logger);
  redis = createRedis(TEST_REDIS_URL, plane.backends.redisPrefix);
  mc = await startMc(mcTestEnvironment(plane, MC_ID), {
    logger,
    routeAddress: (handler) => routeAddresses.get(handler),
  });
  const controller = { issuer: MC_ID, jwksUrl: mc.jwksUrl } as StandInController;
  mh = await startMh(
    mhTestEnvironment({
      id: 'mh-1',
      acUrl: plane.ac.url,
      controllers: [controller],
      redisPrefix: `${plane.backends.redisPrefix}mh:`,
    }),
    { logger },
  );
  routeAddresses.set('mh-1', mh.grpcAddress);
  await eventually(
    async () => (await http(`${mc.url}/ready`)).body.media_handlers === '1',
    10_000,
    'the handler known',
  );
});

afterAll(async () => {
  for (const close of closers) await close();
  await mc?.close();
  await mh?.close();
  await redis?.quit();
  await plane?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const user = (name: string) =>
  userTokenIn(plane.ac, plane.pool, {
    username: name,
    password: `${name}-password-1`,
    org: 'default',
    scopes: JOIN_SCOPES,
  });

/** Every Redis key of the meeting under the controller's prefix (lease, snapshot, sessions). */
async function meetingKeys(meeting: string): Promise<string[]> {
  return redis.keys(`${plane.backends.redisPrefix}mc:*{${meeting}}*`);
}

interface Joined {
  readonly signaling: SignalingClient;
  readonly response: JoinResponse;
  readonly media: MediaClient;
  readonly mediaClosed: Promise<string>;
}

async function join(token: string, meeting: string): Promise<Joined> {
  const signaling = await SignalingClient.open(mc.signalingUrl);
  closers.push(() => signaling.socket.terminate());
  signaling.send({
    join: {
      accessToken: token,
      meetingId: meeting,
      layout: 'grid',
      region: '',
      keyPackage: Buffer.alloc(0),
    },
  });
  const response = await signaling.next((m: ServerMessage) => m.joinResponse, 10_000);
  const { client, outcome } = await MediaClient.connect({
    url: response.mediaHandler?.websocketUrl ?? '',
    token: response.connectionToken,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
  if (outcome.kind !== 'accepted' || client === undefined)
    throw new Error(`media refused: ${JSON.stringify(outcome)}`);
  closers.push(() => client.close());
  // The handler closes the session (its reason), or the connection.
  const mediaClosed = new Promise<string>((resolve) => {
    client.onSessionClosed = (reason: string) => resolve(reason);
    client.onClose = (code: number, reason: string) => resolve(`${code} ${reason}`);
  });
  signaling.send({ mediaConnected: { handler: response.mediaHandler?.id ?? '' } });
  return { signaling, response, media: client, mediaClosed };
}

const legsOf = (meeting: string) =>
  mh.driver.forwarder.routes().filter((installed) => installed.meeting === meeting);

describe('a meeting ended at GC', () => {
  it('ends at its controller: members told and closed, legs dropped, Redis state deleted, later joins refused', async () => {
    const [aliceToken, bobToken] = await Promise.all([user('alice'), user('bob')]);
    const created = await http(`${plane.gc.url}/v1/meetings`, {
      method: 'POST',
      headers: { ...bearer(aliceToken), 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Ends' }),
    });
    expect(created.status).toBe(201);
    const meeting = created.body.meeting_id as string;
    const alice = await join(aliceToken, meeting);
    const bob = await join(bobToken, meeting);
    await eventually(() => legsOf(meeting).length > 0, 10_000, 'legs on the handler');
    await eventually(
      async () => (await meetingKeys(meeting)).length === 4,
      5_000,
      'lease, snapshot and two sessions in Redis',
    );

    const endedAt = performance.now();
    const ended = await http(`${plane.gc.url}/v1/meetings/${meeting}`, {
      method: 'DELETE',
      headers: bearer(aliceToken),
    });
    expect(ended.status).toBe(200);

    // Each member: a typed MeetingEnded, then its signaling closed with 4410.
    const [aliceClosed, bobClosed] = await Promise.all([
      alice.signaling.closed,
      bob.signaling.closed,
    ]);
    const toldAt = performance.now();
    for (const member of [alice, bob])
      expect(member.signaling.received.filter((m) => m.meetingEnded !== undefined)).toEqual([
        { meetingEnded: {} },
      ]);
    expect(aliceClosed).toEqual({ code: 4410, reason: 'meeting ended' });
    expect(bobClosed).toEqual({ code: 4410, reason: 'meeting ended' });
    // The handler dropped the meeting: no leg left, its media sessions closed.
    await eventually(() => legsOf(meeting).length === 0, 5_000, 'legs removed');
    expect(await alice.mediaClosed).toMatch(/meeting-ended/);
    expect(await bob.mediaClosed).toMatch(/meeting-ended/);
    // Its Redis state is gone, and GC stops naming it once the controller said it ended it.
    await eventually(async () => (await meetingKeys(meeting)).length === 0, 5_000, 'state deleted');
    await eventually(
      async () => (await redis.zcard(`gc:${endedMeetingsKey(MC_ID)}`)) === 0,
      10_000,
      'the end acknowledged to GC',
    );
    expect(mc.driver.endpoint.meetingCount).toBe(0);

    // A later join through signaling: refused, typed (GC answers the meeting is not active).
    const late = await SignalingClient.open(mc.signalingUrl);
    closers.push(() => late.socket.terminate());
    late.send({
      join: {
        accessToken: bobToken,
        meetingId: meeting,
        layout: 'grid',
        region: '',
        keyPackage: Buffer.alloc(0),
      },
    });
    const refused = await late.next((m) => m.error ?? m.joinRejected ?? m.joinResponse, 5_000);
    expect(refused).toMatchObject({ kind: ErrorKind.ERROR_KIND_UNKNOWN_MEETING });
    // A join the controller admitted before it heard of the end (one that raced it) is
    // rejected by core as for an ended meeting: no lease taken, nothing written.
    const sent: ServerMessage[] = [];
    let closedWith: number | undefined;
    const peer: SignalingPeer = {
      send: (message) => void Promise.resolve(message).then((m) => sent.push(m)),
      close: (code) => {
        closedWith = code;
      },
    };
    mc.driver.join(
      meetingId(meeting),
      participantId(bob.response.participantId),
      regionId('us-west-1'),
      layoutRequestNamed('grid'),
      peer,
    );
    await eventually(() => sent.length > 0, 5_000, 'the raced join answered');
    expect(sent).toEqual([
      { joinRejected: { reason: RejectReason.REJECT_REASON_MEETING_ENDED, retryAfterMs: 0 } },
    ]);
    expect(closedWith).toBe(4003);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await meetingKeys(meeting)).toEqual([]);
    expect(mc.driver.endpoint.meetingCount).toBe(0);

    writeReport('mc-meeting-end', {
      deleteToMembersToldMs: Math.round(toldAt - endedAt),
      gcHeartbeatIntervalMs: 2_000,
      bound: 'one heartbeat interval plus a round trip',
    });
  });
});
