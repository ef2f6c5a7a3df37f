import { status as GrpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createRedis, type Redis } from '../../adapters/redis/client.ts';
import type { MediaClient } from '../../client/media/index.ts';
import type { DatagramHeader } from '../../core/protocol/datagram.ts';
import { MediaKind, type Leg } from '../generated/darktower/mh/v1/route.ts';
import { TEST_REDIS_URL } from '../shared/testing.ts';
import {
  controlKind,
  helloBytes,
  mediaDatagram,
  templateBytes,
} from '../../loadtest/k6/lib/mh-wire.ts';
import { headerTemplate } from '../../loadtest/k6/templates.ts';
import { connectMh, type MhClient } from './grpc-client.ts';
import { startMh, type RunningMh } from './server.ts';
import {
  acceptedClient,
  connectClient,
  dropsByReason,
  eventually,
  grant,
  metricValue,
  mhTestEnvironment,
  startAcForMh,
  startStandInController,
  tokenFrom,
  type AcForMh,
  type StandInController,
} from './testing.ts';

const logger = createLogger('test', 'silent');
const MH = 'mh-test-1';
const MEETING = 'meeting-1';
let acm: AcForMh;
let controller: StandInController;
let stranger: StandInController;
let mh: RunningMh;
let route: MhClient;
let redis: Redis;

const camera = (publisher: string, handler = MH): Leg => ({
  publish: { publisher, kind: MediaKind.MEDIA_KIND_CAMERA, handler },
});
const deliver = (publisher: string, subscriber: string, handler = MH): Leg => ({
  deliver: { publisher, kind: MediaKind.MEDIA_KIND_CAMERA, handler, subscriber },
});
let commandId = 0;
const command = (add: Leg[], remove: Leg[] = [], meeting = MEETING, id = `cmd-${++commandId}`) =>
  route.applyRouteCommand({ id, meeting, controller: 'mc-1', add, remove });

/** Records every datagram a client receives, as raw bytes in hex with its header. */
function record(client: MediaClient): { raw: string; header: DatagramHeader }[] {
  const received: { raw: string; header: DatagramHeader }[] = [];
  client.onDatagram = (header, _payload, raw) =>
    received.push({ raw: Buffer.from(raw).toString('hex'), header });
  return received;
}

beforeAll(async () => {
  acm = await startAcForMh(logger);
  controller = await startStandInController('mc-1');
  stranger = await startStandInController('mc-stranger');
  redis = createRedis(TEST_REDIS_URL, `${acm.backends.redisPrefix}mh:`);
  mh = await startMh(
    mhTestEnvironment({
      id: MH,
      acUrl: acm.ac.url,
      controllers: [controller],
      redisPrefix: `${acm.backends.redisPrefix}mh:`,
    }),
    { logger },
  );
  route = connectMh(mh.grpcAddress, acm.routeToken);
}, 30_000);

afterAll(async () => {
  route?.close();
  await mh?.close();
  await controller?.close();
  await stranger?.close();
  await redis?.quit();
  await acm?.close();
});

describe('MH media forwarding', () => {
  it('forwards every frame byte-exact, exactly once, to the right subscribers only', async () => {
    const token = async (participant: string) =>
      tokenFrom(controller, grant(MEETING, participant, MH));
    const alice = await acceptedClient(mh.wsUrl, await token('alice'));
    const bob = await acceptedClient(mh.wsUrl, await token('bob'));
    const carol = await acceptedClient(mh.wsUrl, await token('carol'));
    const got = { alice: record(alice), bob: record(bob), carol: record(carol) };
    const ack = await command([
      camera('alice'),
      camera('bob'),
      deliver('alice', 'bob'),
      deliver('alice', 'carol'),
      deliver('bob', 'alice'),
    ]);
    expect(ack).toMatchObject({ duplicate: false, changed: 5, ignored: 0 });

    const sent = { alice: [] as string[], bob: [] as string[] };
    const aliceCamera = alice.publisher(MEETING, 'alice', 'camera');
    const bobCamera = bob.publisher(MEETING, 'bob', 'camera');
    for (let frame = 0; frame < 200; frame++) {
      // Frames of 1 to 3 fragments, with varied bytes.
      const size = 100 + ((frame * 397) % 3000);
      const body = Buffer.alloc(size, frame);
      body.writeUInt32BE(frame * 7919, 0);
      for (const d of aliceCamera.datagrams(body, { keyframe: frame % 30 === 0 })) {
        alice.sendDatagram(d);
        sent.alice.push(Buffer.from(d).toString('hex'));
      }
      for (const d of bobCamera.datagrams(body.subarray(0, 200))) {
        bob.sendDatagram(d);
        sent.bob.push(Buffer.from(d).toString('hex'));
      }
    }
    await eventually(
      () =>
        got.bob.length >= sent.alice.length &&
        got.carol.length >= sent.alice.length &&
        got.alice.length >= sent.bob.length,
      10_000,
      'all datagrams',
    );
    // Settle a moment: a duplicate would arrive now.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(got.bob.map((d) => d.raw)).toEqual(sent.alice);
    expect(got.carol.map((d) => d.raw)).toEqual(sent.alice);
    expect(got.alice.map((d) => d.raw)).toEqual(sent.bob);
    expect(got.bob.every((d) => d.header.hopCount === 0)).toBe(true);
    expect(sent.alice.length).toBeGreaterThan(300);

    // A removed delivery stops at once; the others continue.
    await command([], [deliver('alice', 'carol')]);
    const before = { bob: got.bob.length, carol: got.carol.length };
    alice.sendDatagram(aliceCamera.datagrams(Buffer.from('after removal'))[0] as Uint8Array);
    await eventually(() => got.bob.length === before.bob + 1, 5_000, 'bob after removal');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(got.carol.length).toBe(before.carol);

    // The meeting ends: every session is told and closed.
    const notices: string[] = [];
    for (const client of [alice, bob, carol]) client.onSessionClosed = (r) => notices.push(r);
    const ended = await route.endMeeting({ meeting: MEETING, controller: 'mc-1' });
    expect(ended.sessionsClosed).toBe(3);
    const closes = await Promise.all([alice.closed, bob.closed, carol.closed]);
    expect(closes.map((c) => c.code)).toEqual([4000, 4000, 4000]);
    expect(notices).toEqual(['meeting-ended', 'meeting-ended', 'meeting-ended']);
    expect(await metricValue(mh.metricsUrl, 'mh_sessions')).toBe(0);
    expect(await metricValue(mh.metricsUrl, 'mh_hellos_total{outcome="accepted"}')).toBe(3);
  });

  it('acknowledges a retransmitted command as a duplicate and applies it once', async () => {
    const served = () => metricValue(mh.metricsUrl, 'mh_route_command_seconds_count');
    const servedBefore = await served();
    const first = await command([camera('dave')], [], 'meeting-dup', 'same-id');
    const again = await command([camera('dave')], [], 'meeting-dup', 'same-id');
    expect(first).toEqual({ id: 'same-id', duplicate: false, changed: 1, ignored: 0 });
    expect(again).toEqual({ id: 'same-id', duplicate: true, changed: 0, ignored: 0 });
    const foreign = await command([camera('dave', 'mh-elsewhere')], [], 'meeting-dup');
    expect(foreign).toMatchObject({ changed: 0, ignored: 1 });
    // Each answered command timed once, in the handler (a duplicate too: it was answered).
    expect(await served()).toBe(servedBefore + 3);
    expect(await metricValue(mh.metricsUrl, 'mh_route_command_seconds_sum')).toBeGreaterThan(0);
  });

  it('refuses route calls without the scope, without a token, or malformed', async () => {
    const servedBefore = await metricValue(mh.metricsUrl, 'mh_route_command_seconds_count');
    const anonymous = connectMh(mh.grpcAddress, undefined);
    const wrongScope = connectMh(mh.grpcAddress, acm.otherToken);
    const request = { id: 'x', meeting: 'm', controller: 'mc-1', add: [camera('e')], remove: [] };
    await expect(anonymous.applyRouteCommand(request)).rejects.toMatchObject({
      code: GrpcStatus.UNAUTHENTICATED,
    });
    await expect(wrongScope.applyRouteCommand(request)).rejects.toMatchObject({
      code: GrpcStatus.PERMISSION_DENIED,
    });
    await expect(
      route.applyRouteCommand({ ...request, add: [{ publish: undefined }] as Leg[] }),
    ).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
    await expect(
      route.applyRouteCommand({
        ...request,
        add: [{ publish: { publisher: 'e', kind: MediaKind.MEDIA_KIND_UNSPECIFIED, handler: MH } }],
      }),
    ).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
    await expect(route.applyRouteCommand({ ...request, meeting: '' })).rejects.toMatchObject({
      code: GrpcStatus.INVALID_ARGUMENT,
    });
    anonymous.close();
    wrongScope.close();
    // Refused calls are not route commands served.
    expect(await metricValue(mh.metricsUrl, 'mh_route_command_seconds_count')).toBe(servedBefore);
  });

  it('publishes its load report to Redis every second, with a TTL', async () => {
    const key = `{us-west-1}:handler:${MH}`;
    await eventually(async () => (await redis.exists(key)) === 1, 3_000, 'load report');
    const report = await redis.hgetall(key);
    expect(report).toMatchObject({ id: MH, region: 'us-west-1', state: 'ok', draining: '0' });
    expect(report.address).toBe(mh.wsUrl);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5_000);
    expect(await redis.zscore('{us-west-1}:handlers', MH)).not.toBeNull();
    const first = Number(report.reportedAt);
    await eventually(
      async () => Number(await redis.hget(key, 'reportedAt')) > first,
      3_000,
      'the next report',
    );
  });

  it('answers /health and /ready truthfully', async () => {
    expect(await (await fetch(`${mh.url}/health`)).text()).toBe('OK');
    const ready = await fetch(`${mh.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      transports: 'listening',
      admission: 'open',
      redis: 'ok',
      connection_token_keys: 'ok',
    });
  });
});

describe('MH and the k6 wire code', () => {
  it('accepts a client speaking only loadtest/k6/lib/mh-wire.ts and forwards its datagrams', async () => {
    const meeting = 'meeting-k6';
    const bob = await acceptedClient(
      mh.wsUrl,
      await tokenFrom(controller, grant(meeting, 'bob', MH)),
    );
    const got = record(bob);
    await command([camera('p-1'), deliver('p-1', 'bob')], [], meeting);
    const { WebSocket } = await import('ws');
    const socket = new WebSocket(mh.wsUrl);
    await new Promise((resolve) => socket.once('open', resolve));
    const kinds: string[] = [];
    const answered = new Promise<void>((resolve) =>
      socket.on('message', (data: Buffer, binary: boolean) => {
        if (binary) return;
        kinds.push(controlKind(new Uint8Array(Buffer.from(data.toString(), 'base64'))));
        resolve();
      }),
    );
    const token = await tokenFrom(controller, grant(meeting, 'p-1', MH));
    socket.send(Buffer.from(helloBytes(token)).toString('base64'));
    await answered;
    expect(kinds).toEqual(['accepted']);
    const template = templateBytes(headerTemplate(meeting, 'p-1', 'camera').hex);
    for (let i = 0; i < 10; i++) {
      socket.send(new Uint8Array(mediaDatagram(template, i, 1_700_000_000_000_000 + i, 1_000)));
    }
    await eventually(() => got.length === 10, 3_000, 'the k6 datagrams');
    expect(got.map((d) => d.header.sequence)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(got.map((d) => d.header.captureTimeUs - 1_700_000_000_000_000)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    socket.close();
    await bob.close();
  });
});

describe('MH connection tokens', () => {
  /** Connects with `token` while a subscriber watches a publisher's stream; sends media. */
  async function attack(token: string) {
    const publisher = await acceptedClient(
      mh.wsUrl,
      await tokenFrom(controller, grant('meeting-attack', `victim-${++commandId}`, MH)),
    );
    void publisher;
    const { client, outcome } = await connectClient(mh.wsUrl, token);
    return { client, outcome };
  }

  const now = () => Date.now();

  it.each([
    ['expired', async () => tokenFrom(controller, grant('m', 'p', MH, now() - 120_000)), 'expired'],
    [
      'wrong handler',
      async () => tokenFrom(controller, grant('m', 'p', 'mh-other')),
      'wrong-handler',
    ],
    ['untrusted issuer', async () => tokenFrom(stranger, grant('m', 'p', MH)), 'untrusted_issuer'],
    [
      'forged signature (a key nobody published, under the trusted kid)',
      async () =>
        tokenFrom(
          {
            ...stranger,
            issuer: controller.issuer,
            key: { ...stranger.key, kid: controller.key.kid },
          },
          grant('m', 'p', MH),
        ),
      'bad_signature',
    ],
    [
      'unsigned (alg none)',
      async () => {
        const signed = await tokenFrom(controller, grant('m', 'p', MH));
        const [, payload] = signed.split('.');
        const header = Buffer.from(
          JSON.stringify({ alg: 'none', typ: 'dt-connection+jwt' }),
        ).toString('base64url');
        return `${header}.${payload}.`;
      },
      'unsupported_algorithm',
    ],
    [
      'tampered claims',
      async () => {
        const signed = await tokenFrom(controller, grant('m', 'p', MH));
        const [header, payload, signature] = signed.split('.');
        const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString());
        const changed = Buffer.from(JSON.stringify({ ...claims, participant: 'admin' })).toString(
          'base64url',
        );
        return `${header}.${changed}.${signature}`;
      },
      'bad_signature',
    ],
    ['an access token (wrong typ)', async () => acm.routeToken, 'wrong_token_type'],
    ['not a token', async () => 'garbage', 'malformed_token'],
  ])('refuses %s with its reason', async (_name, makeToken, reason) => {
    const { client, outcome } = await attack(await makeToken());
    expect(client).toBeUndefined();
    expect(outcome).toMatchObject({ kind: 'rejected', reason });
  });

  it('accepts a nonce once: a replayed token is refused', async () => {
    const token = await tokenFrom(controller, grant('meeting-replay', 'zoe', MH), 'nonce-1');
    const first = await acceptedClient(mh.wsUrl, token);
    await first.close();
    const replay = await connectClient(mh.wsUrl, token);
    expect(replay.outcome).toMatchObject({ kind: 'rejected', reason: 'nonce-replayed' });
  });

  it('accepts no media from a connection without a session, and counts it', async () => {
    const meeting = 'meeting-nomedia';
    const pub = await acceptedClient(
      mh.wsUrl,
      await tokenFrom(controller, grant(meeting, 'pub', MH)),
    );
    const sub = await acceptedClient(
      mh.wsUrl,
      await tokenFrom(controller, grant(meeting, 'sub', MH)),
    );
    const got = record(sub);
    await command([camera('pub'), deliver('pub', 'sub')], [], meeting);
    const forged = pub.publisher(meeting, 'pub', 'camera').datagrams(Buffer.from('forged'));
    const dropsBefore = (await dropsByReason(mh.metricsUrl))['unknown-connection'] ?? 0;
    // An attacker with an expired token sends the publisher's datagrams right after its hello
    // (while the token is checked) and until it is closed.
    const expired = await tokenFrom(controller, grant(meeting, 'pub', MH, Date.now() - 120_000));
    const { WebSocket } = await import('ws');
    const socket = new WebSocket(mh.wsUrl, 'darktower-media.v1');
    await new Promise((resolve) => socket.once('open', resolve));
    const { helloMessage } = await import('../../client/media/index.ts');
    for (let i = 0; i < 5; i++) socket.send(forged[0] as Uint8Array);
    socket.send(helloMessage(expired));
    for (let i = 0; i < 5; i++) socket.send(forged[0] as Uint8Array);
    const closed = await new Promise<number>((resolve) => socket.once('close', resolve));
    expect(closed).toBe(4401);
    await eventually(
      async () =>
        ((await dropsByReason(mh.metricsUrl))['unknown-connection'] ?? 0) >= dropsBefore + 10,
      3_000,
      'drops counted',
    );
    expect(got).toEqual([]);
    // The genuine publisher's datagram still reaches the subscriber.
    pub.sendDatagram(forged[0] as Uint8Array);
    await eventually(() => got.length === 1, 3_000, 'the genuine datagram');
    await pub.close();
    await sub.close();
  });
});
