// A join end to end: AC, GC, two Media Handlers and a Meeting Controller in process, on real
// PostgreSQL and Redis and loopback ports. Two users log in at AC, look their meeting up at
// GC, join at the controller over WebSocket signaling, connect to the handler the controller
// chose with its connection token, and each receives the other's frames.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { signClaims } from '../../adapters/jwt/tokens.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { type Pool } from '../../adapters/postgres/pool.ts';
import { createRedis, type Redis } from '../../adapters/redis/client.ts';
import { MediaClient, type WebSocketConstructor } from '../../client/media/index.ts';
import {
  ClientError,
  createMeeting as createMeetingAt,
  JoinError,
  login,
  MeetingSession,
} from '../../client/meeting/index.ts';
import type { E2eeMember } from '../../client/e2ee/index.ts';
import { type RunningAc } from '../ac/server.ts';
import { connectGc } from '../gc/grpc-client.ts';
import { type RunningGc } from '../gc/server.ts';
import { mcRegistration, userTokenIn } from '../gc/testing.ts';
import {
  ErrorKind,
  type JoinResponse,
  type ServerMessage,
} from '../generated/darktower/mc/v1/signaling.ts';
import { startMh, type RunningMh } from '../mh/server.ts';
import { eventually, mhTestEnvironment, type StandInController } from '../mh/testing.ts';
import { validClaims } from '../shared/jwt-attacks.ts';
import { http, json, TEST_REDIS_URL, type IsolatedBackends } from '../shared/testing.ts';
import {
  mcTestEnvironment,
  startControlPlane,
  type ControlPlane,
} from './control-plane-testing.ts';
import { startMc, type RunningMc } from './server.ts';
import { SignalingClient } from './testing.ts';

const logger = createLogger('test', 'silent');
const MC_ID = 'mc-join-test';
const JOIN_SCOPES = ['user.read.gc', 'user.write.gc', 'user.write.mc'];

let plane: ControlPlane;
let backends: IsolatedBackends;
let pool: Pool;
let redis: Redis;
let ac: RunningAc;
let gc: RunningGc;
let mc: RunningMc;
let serviceToken: string;
const mhs: RunningMh[] = [];
const routeAddresses = new Map<string, string>();

beforeAll(async () => {
  plane = await startControlPlane(logger);
  ({ backends, pool, ac, gc } = plane);
  redis = createRedis(TEST_REDIS_URL, backends.redisPrefix);
  serviceToken = plane.mcServiceToken;
  mc = await startMc(mcTestEnvironment(plane, MC_ID), {
    logger,
    routeAddress: (handler) => routeAddresses.get(handler),
  });
  // The handlers trust the controller's keys at its JWKS URL.
  const controller = { issuer: MC_ID, jwksUrl: mc.jwksUrl } as StandInController;
  for (const id of ['mh-1', 'mh-2']) {
    const mh = await startMh(
      mhTestEnvironment({
        id,
        acUrl: ac.url,
        controllers: [controller],
        redisPrefix: `${backends.redisPrefix}mh:`,
      }),
      { logger },
    );
    routeAddresses.set(id, mh.grpcAddress);
    mhs.push(mh);
  }
  // The controller knows both handlers from their load reports in Redis.
  await eventually(
    async () => (await http(`${mc.url}/ready`)).body.media_handlers === '2',
    10_000,
    'both handlers known',
  );
});

afterAll(async () => {
  await mc?.close();
  for (const mh of mhs) await mh.close();
  await redis?.quit();
  await plane?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function createMeeting(token: string): Promise<string> {
  const created = await http(`${gc.url}/v1/meetings`, json({ title: 'Join test' }, bearer(token)));
  expect(created.status).toBe(201);
  return created.body.meeting_id as string;
}

const joinResponse = (m: ServerMessage) => m.joinResponse;
const errorOf = (m: ServerMessage) => m.error;

/** Opens signaling at `url` and sends a join; the client and the first answer to it. */
async function join(url: string, token: string, meeting: string) {
  const client = await SignalingClient.open(url);
  client.send({
    join: {
      accessToken: token,
      meetingId: meeting,
      layout: 'grid',
      region: '',
      keyPackage: Buffer.alloc(0),
    },
  });
  const answer = await client.next((m) => m.joinResponse ?? m.error ?? m.joinRejected);
  return { client, answer };
}

interface Joined {
  readonly name: string;
  readonly signaling: SignalingClient;
  readonly response: JoinResponse;
  readonly media: MediaClient;
  readonly startedAt: number;
  firstFrameAt: number | undefined;
  readonly frames: string[];
}

/** One user's whole join: GC lookup, signaling join, media connection; times from the join. */
async function joinMeeting(name: string, token: string, meeting: string): Promise<Joined> {
  const lookup = await http(`${gc.url}/v1/meetings/${meeting}`, { headers: bearer(token) });
  expect(lookup.status).toBe(200);
  const controller = lookup.body.meeting_controller as { id: string; url: string };
  expect(controller.id).toBe(MC_ID);
  const startedAt = performance.now();
  const signaling = await SignalingClient.open(controller.url);
  signaling.send({
    join: {
      accessToken: token,
      meetingId: meeting,
      layout: 'grid',
      region: '',
      keyPackage: Buffer.alloc(0),
    },
  });
  const response = await signaling.next(joinResponse);
  const handler = response.mediaHandler;
  expect(handler?.websocketUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/media$/);
  const { client, outcome } = await MediaClient.connect({
    url: handler?.websocketUrl ?? '',
    token: response.connectionToken,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
  expect(outcome).toMatchObject({ kind: 'accepted', participant: response.participantId });
  signaling.send({ mediaConnected: { handler: handler?.id ?? '' } });
  const joined: Joined = {
    name,
    signaling,
    response,
    media: client as MediaClient,
    startedAt,
    firstFrameAt: undefined,
    frames: [],
  };
  joined.media.onDatagram = (_header, payload) => {
    joined.firstFrameAt ??= performance.now();
    joined.frames.push(Buffer.from(payload).toString('utf8'));
  };
  return joined;
}

describe('MC join over WebSocket signaling', () => {
  it('joins two users end to end: each receives the other’s frames from its handler', async () => {
    const alice = await userTokenIn(ac, pool, {
      username: 'alice',
      password: 'alice-password-1',
      org: 'default',
      scopes: JOIN_SCOPES,
    });
    const bob = await userTokenIn(ac, pool, {
      username: 'bob',
      password: 'bob-password-1',
      org: 'default',
      scopes: JOIN_SCOPES,
    });
    const meeting = await createMeeting(alice);

    const [a, b] = await Promise.all([
      joinMeeting('alice', alice, meeting),
      joinMeeting('bob', bob, meeting),
    ]);
    expect(a.response.participantId).not.toBe(b.response.participantId);
    // Each publishes its camera every 20 ms until both have the other's frames.
    let sequence = 0;
    const publishers = [a, b].map((j) => ({
      joined: j,
      camera: j.media.publisher(meeting, j.response.participantId, 'camera'),
    }));
    const sender = setInterval(() => {
      sequence++;
      for (const { joined, camera } of publishers) {
        for (const d of camera.datagrams(Buffer.from(`${joined.name}:${sequence}`))) {
          joined.media.sendDatagram(d);
        }
      }
    }, 20);
    try {
      await eventually(() => a.frames.length >= 5 && b.frames.length >= 5, 10_000, 'frames');
    } finally {
      clearInterval(sender);
    }
    expect(a.frames.every((f) => f.startsWith('bob:'))).toBe(true);
    expect(b.frames.every((f) => f.startsWith('alice:'))).toBe(true);

    // Each member was told of both.
    for (const j of [a, b]) {
      await j.signaling.next((m) =>
        m.participants?.participants.length === 2 ? m.participants : undefined,
      );
    }
    // Their sessions are in Redis with a TTL.
    for (const j of [a, b]) {
      const key = `mc:session:{${meeting}}:${j.response.participantId}`;
      expect(JSON.parse((await redis.get(key)) ?? '{}')).toMatchObject({ controller: MC_ID });
      expect(await redis.pttl(key)).toBeGreaterThan(200_000);
    }

    const figures = [a, b].map((j) => ({
      participant: j.name,
      handler: j.response.mediaHandler?.id,
      join_to_first_frame_ms: Math.round(((j.firstFrameAt ?? NaN) - j.startedAt) * 10) / 10,
    }));
    console.log(`join-to-first-frame ${JSON.stringify(figures)}`);
    for (const f of figures) expect(f.join_to_first_frame_ms).toBeGreaterThan(0);

    // Every acknowledged route call is timed on /metrics.
    const metrics = await (await fetch(`${mc.metricsUrl}/metrics`)).text();
    const series = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? NaN);
    const acked = series(/^mc_route_commands_total\{outcome="acked"\} (\d+)$/m);
    expect(acked).toBeGreaterThan(0);
    expect(series(/^mc_route_command_seconds_count (\d+)$/m)).toBe(acked);
    // Each accepted join is timed in the controller, decoded request to answer sent.
    expect(series(/^mc_join_seconds_count (\d+)$/m)).toBe(
      series(/^mc_joins_total\{outcome="accepted"\} (\d+)$/m),
    );
    expect(series(/^mc_join_seconds_count (\d+)$/m)).toBeGreaterThanOrEqual(2);
    expect(series(/^mc_join_seconds_sum ([\d.e-]+)$/m)).toBeGreaterThan(0);
    // Each one's lookup at GC is timed too, and is part of that time.
    expect(series(/^mc_meeting_lookup_seconds_count (\d+)$/m)).toBe(
      series(/^mc_join_seconds_count (\d+)$/m),
    );
    expect(series(/^mc_meeting_lookup_seconds_sum ([\d.e-]+)$/m)).toBeGreaterThan(0);
    expect(series(/^mc_meeting_lookup_seconds_sum ([\d.e-]+)$/m)).toBeLessThan(
      series(/^mc_join_seconds_sum ([\d.e-]+)$/m),
    );

    // A leave closes that signaling connection.
    a.signaling.send({ leave: {} });
    expect((await a.signaling.closed).code).toBe(1000);
    await Promise.all([a.media.close(), b.media.close(), b.signaling.close()]);
  });

  it('refuses bad, expired, unscoped and other-tenant tokens and unknown meetings, typed', async () => {
    const carol = await userTokenIn(ac, pool, {
      username: 'carol',
      password: 'carol-password-1',
      org: 'default',
      scopes: JOIN_SCOPES,
    });
    const meeting = await createMeeting(carol);
    const key = ac.keys.signingKey();
    if (!key) throw new Error('no signing key');
    const context = {
      key,
      publicJwk: {},
      issuer: 'dark-tower-ac',
      audience: 'dark-tower',
      now: Date.now(),
      scopes: JOIN_SCOPES.join(' '),
    };
    const expired = await signClaims(
      validClaims({ ...context, now: Date.now() - 3 * 3_600_000 }),
      key,
    );
    const unscoped = await userTokenIn(ac, pool, {
      username: 'dave',
      password: 'dave-password-1',
      org: 'default',
      scopes: ['user.read.gc'],
    });
    const otherTenant = await userTokenIn(ac, pool, {
      username: 'eve',
      password: 'eve-password-1',
      org: 'globex',
      scopes: JOIN_SCOPES,
    });
    const cases: [string, string, string, ErrorKind][] = [
      ['garbage', 'not.a.jwt', meeting, ErrorKind.ERROR_KIND_INVALID_TOKEN],
      ['expired', expired, meeting, ErrorKind.ERROR_KIND_INVALID_TOKEN],
      ['unscoped', unscoped, meeting, ErrorKind.ERROR_KIND_INSUFFICIENT_SCOPE],
      ['other tenant', otherTenant, meeting, ErrorKind.ERROR_KIND_UNKNOWN_MEETING],
      ['unknown meeting', carol, 'no-such-meeting', ErrorKind.ERROR_KIND_UNKNOWN_MEETING],
    ];
    for (const [name, token, id, kind] of cases) {
      const { client, answer } = await join(mc.signalingUrl, token, id);
      expect({ name, answer }).toMatchObject({ name, answer: { kind } });
      expect((await client.closed).code).toBe(4401);
    }
    // The same user with a good token still joins.
    const { client, answer } = await join(mc.signalingUrl, carol, meeting);
    expect(answer).toMatchObject({ participantId: expect.any(String) as string });
    await client.close();
  });

  it('answers malformed, text and oversized messages with a typed error, closing that connection only', async () => {
    const frank = await userTokenIn(ac, pool, {
      username: 'frank',
      password: 'frank-password-1',
      org: 'default',
      scopes: JOIN_SCOPES,
    });
    const meeting = await createMeeting(frank);
    const { client: joined } = await join(mc.signalingUrl, frank, meeting);

    const garbage = await SignalingClient.open(mc.signalingUrl);
    garbage.socket.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(await garbage.next(errorOf)).toMatchObject({ kind: ErrorKind.ERROR_KIND_MALFORMED });
    expect((await garbage.closed).code).toBe(4400);

    const text = await SignalingClient.open(mc.signalingUrl);
    text.socket.send('{"join":{}}');
    expect(await text.next(errorOf)).toMatchObject({ kind: ErrorKind.ERROR_KIND_MALFORMED });

    const notJoin = await SignalingClient.open(mc.signalingUrl);
    notJoin.send({ heartbeat: {} });
    expect(await notJoin.next(errorOf)).toMatchObject({ kind: ErrorKind.ERROR_KIND_MALFORMED });

    const large = await SignalingClient.open(mc.signalingUrl);
    large.socket.send(Buffer.alloc(20_000));
    expect(await large.next(errorOf)).toMatchObject({ kind: ErrorKind.ERROR_KIND_TOO_LARGE });
    expect((await large.closed).code).toBe(1009);

    // The joined participant's connection is untouched and still answered.
    joined.send({ tokenRequest: { handler: 'mh-nowhere' } });
    expect(await joined.next(errorOf)).toMatchObject({
      kind: ErrorKind.ERROR_KIND_TOKEN_REFUSED,
    });
    // A joined connection sending garbage is closed, typed.
    joined.socket.send(Buffer.from([0xff]));
    expect(
      await joined.next((m) => (m.error?.kind === ErrorKind.ERROR_KIND_MALFORMED ? m : undefined)),
    ).toBeDefined();
    expect((await joined.closed).code).toBe(4400);
  });

  it('refuses a join for a meeting GC placed on another controller, naming it', async () => {
    // Another controller registers: GC spreads new meetings over both.
    const other = connectGc(gc.grpcAddress, serviceToken);
    try {
      const registration = mcRegistration('mc-elsewhere');
      expect((await other.registerMc(registration)).accepted).toBe(true);
      const grace = await userTokenIn(ac, pool, {
        username: 'grace',
        password: 'grace-password-1',
        org: 'default',
        scopes: JOIN_SCOPES,
      });
      let elsewhere: string | undefined;
      for (let attempt = 0; attempt < 40 && elsewhere === undefined; attempt++) {
        const created = await http(
          `${gc.url}/v1/meetings`,
          json({ title: 'Elsewhere' }, bearer(grace)),
        );
        const controller = created.body.meeting_controller as { id: string } | null;
        if (controller?.id === 'mc-elsewhere') elsewhere = created.body.meeting_id as string;
      }
      if (elsewhere === undefined) throw new Error('GC placed no meeting on the other controller');
      const { client, answer } = await join(mc.signalingUrl, grace, elsewhere);
      expect(answer).toMatchObject({
        kind: ErrorKind.ERROR_KIND_WRONG_CONTROLLER,
        message: expect.stringContaining(registration.publicUrl) as string,
      });
      expect((await client.closed).code).toBe(4401);
    } finally {
      other.close();
    }
  });

  it('joins through the client library: two sessions exchange frames; refusals are typed', async () => {
    const scopes = { org: 'default', scopes: JOIN_SCOPES };
    await userTokenIn(ac, pool, { username: 'heidi', password: 'heidi-password-1', ...scopes });
    await userTokenIn(ac, pool, { username: 'ivan', password: 'ivan-password-1', ...scopes });
    const heidi = await login(ac.url, { username: 'heidi', password: 'heidi-password-1' });
    const ivan = await login(ac.url, { username: 'ivan', password: 'ivan-password-1' });
    expect(heidi.scopes).toEqual(expect.arrayContaining(JOIN_SCOPES));
    // The test before registered a second controller, which GC may place a meeting on.
    let meeting = await createMeetingAt(gc.url, heidi.accessToken, 'Library');
    for (let attempt = 0; attempt < 40 && meeting.controller?.id !== MC_ID; attempt++)
      meeting = await createMeetingAt(gc.url, heidi.accessToken, 'Library');
    expect(meeting.controller?.id).toBe(MC_ID);

    const options = { gcUrl: gc.url, meetingId: meeting.meetingId, WebSocket: WebSocket as never };
    const a = await MeetingSession.join({ ...options, token: heidi.accessToken });
    const b = await MeetingSession.join({ ...options, token: ivan.accessToken });
    const got = { a: [] as string[], b: [] as string[] };
    a.onFrame = (publisher) => publisher !== undefined && got.a.push(publisher);
    b.onFrame = (publisher) => publisher !== undefined && got.b.push(publisher);
    const cameras = [a.publisher('camera'), b.publisher('camera')];
    const sender = setInterval(() => {
      for (const camera of cameras) camera.publish(new Uint8Array(100));
    }, 20);
    try {
      await eventually(() => got.a.length >= 5 && got.b.length >= 5, 10_000, 'frames');
    } finally {
      clearInterval(sender);
    }
    // Each knows the other by participant id, from the member list.
    expect(new Set(got.a)).toEqual(new Set([b.participantId]));
    expect(new Set(got.b)).toEqual(new Set([a.participantId]));
    expect(a.participants).toEqual(expect.arrayContaining([a.participantId, b.participantId]));
    // A keyframe request reaches the publisher whose video the requester receives, through the
    // controller: b asks for every stream it receives, a names b.
    const wanted = { a: [] as (readonly string[])[], b: [] as (readonly string[])[] };
    a.onKeyframeWanted = (kinds) => wanted.a.push(kinds);
    b.onKeyframeWanted = (kinds) => wanted.b.push(kinds);
    b.requestKeyframe();
    a.requestKeyframe(b.participantId);
    await eventually(() => wanted.a.length === 1 && wanted.b.length === 1, 10_000, 'keyframes');
    expect(wanted).toEqual({ a: [['camera']], b: [['camera']] });
    await Promise.all([a.leave(), b.leave()]);

    // A wrong password, an unscoped token and an unknown meeting: typed errors.
    await expect(
      login(ac.url, { username: 'heidi', password: 'wrong-password' }),
    ).rejects.toMatchObject({ kind: 'unauthorized' });
    const judy = await userTokenIn(ac, pool, {
      username: 'judy',
      password: 'judy-password-1',
      org: 'default',
      scopes: ['user.read.gc'],
    });
    const refused = await MeetingSession.join({ ...options, token: judy }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(JoinError);
    expect(refused).toMatchObject({
      kind: 'refused',
      signalingError: ErrorKind.ERROR_KIND_INSUFFICIENT_SCOPE,
    });
    const unknown = await MeetingSession.join({
      ...options,
      token: heidi.accessToken,
      meetingId: 'no-such-meeting',
    }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ClientError);
    expect(unknown).toMatchObject({ kind: 'not_found' });
  });

  it('joins end to end encrypted through the client library; a lost media session is reported and followed home', async () => {
    const scopes = { org: 'default', scopes: JOIN_SCOPES };
    await userTokenIn(ac, pool, { username: 'kim', password: 'kim-password-1', ...scopes });
    await userTokenIn(ac, pool, { username: 'leo', password: 'leo-password-1', ...scopes });
    const kim = await login(ac.url, { username: 'kim', password: 'kim-password-1' });
    const leo = await login(ac.url, { username: 'leo', password: 'leo-password-1' });
    let meeting = await createMeetingAt(gc.url, kim.accessToken, 'Library E2EE');
    for (let attempt = 0; attempt < 40 && meeting.controller?.id !== MC_ID; attempt++)
      meeting = await createMeetingAt(gc.url, kim.accessToken, 'Library E2EE');
    const options = {
      gcUrl: gc.url,
      meetingId: meeting.meetingId,
      WebSocket: WebSocket as never,
      e2ee: true,
    };
    const stagesOf = (into: string[]) => ({
      onStage: (stage: string) => void into.push(stage),
    });
    const kimStages: string[] = [];
    const leoStages: string[] = [];
    const a = await MeetingSession.join({
      ...options,
      token: kim.accessToken,
      ...stagesOf(kimStages),
    });
    const b = await MeetingSession.join({
      ...options,
      token: leo.accessToken,
      ...stagesOf(leoStages),
    });
    const [ma, mb] = [a.member, b.member] as [E2eeMember, E2eeMember];
    // Both in one MLS group, in the same epoch (the one that added leo).
    await eventually(() => ma.epoch !== undefined && ma.epoch === mb.epoch, 10_000, 'one epoch');
    // Leo's join is timed through the welcome that added him, then his first epoch; kim created
    // the group and had no welcome.
    const mls = (stages: string[]) => stages.filter((s) => s.startsWith('mls-'));
    expect(mls(leoStages)).toEqual(['mls-welcome', 'mls-epoch']);
    expect(mls(kimStages)).toEqual(['mls-epoch']);
    const sealed = await ma.encrypt(new TextEncoder().encode('from kim'));
    if (!sealed.ok) throw new Error(sealed.error.kind);
    const opened = await mb.decrypt(sealed.value);
    expect(opened.ok && new TextDecoder().decode(opened.value.plaintext)).toBe('from kim');
    expect(opened.ok && mb.senderOf(opened.value.epoch, opened.value.senderIndex)).toBe(
      a.participantId,
    );

    // Kim's media session drops alone: she tells the controller at once and it sends her
    // home with a fresh token; she reconnects there.
    const lost = new Promise<void>((resolve) => (a.onMediaLost = resolve));
    const moved = new Promise<string>((resolve) => (a.onMove = (h) => resolve(h.id)));
    a.dropMedia();
    await lost;
    expect(await moved).toBe(a.handler.id);

    // Leo leaves: kim moves to a new epoch without him.
    const before = ma.epoch as number;
    await b.leave();
    expect(mb.heldEpochs()).toEqual([]);
    await eventually(() => (ma.epoch ?? 0) > before, 10_000, 'a new epoch after the leave');
    await a.leave();
  });
});
