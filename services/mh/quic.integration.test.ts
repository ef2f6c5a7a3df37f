// The QUIC media ingress beside the WebSocket one: three Node clients over QUIC DATAGRAM frames
// (adapters/quic's connection injected into the media client), every frame byte-exact, exactly
// once, to the right subscribers only; the handler's QUIC address and certificate hash are in
// its load report in Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createRedis, type Redis } from '../../adapters/redis/client.ts';
import { RedisHandlerLoadStore } from '../../adapters/redis/mh-load-reports.ts';
import type { MediaClient } from '../../client/media/index.ts';
import { MediaKind, type Leg } from '../generated/darktower/mh/v1/route.ts';
import { TEST_REDIS_URL } from '../shared/testing.ts';
import { connectMh, type MhClient } from './grpc-client.ts';
import { startMh, type RunningMh } from './server.ts';
import {
  acceptedQuicClient,
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
const MH = 'mh-quic-1';
const MEETING = 'meeting-quic';
let acm: AcForMh;
let controller: StandInController;
let mh: RunningMh;
let route: MhClient;
let redis: Redis;

const camera = (publisher: string): Leg => ({
  publish: { publisher, kind: MediaKind.MEDIA_KIND_CAMERA, handler: MH },
});
const deliver = (publisher: string, subscriber: string): Leg => ({
  deliver: { publisher, kind: MediaKind.MEDIA_KIND_CAMERA, handler: MH, subscriber },
});

function record(client: MediaClient): string[] {
  const received: string[] = [];
  client.onDatagram = (_header, _payload, raw) => received.push(Buffer.from(raw).toString('hex'));
  return received;
}

beforeAll(async () => {
  acm = await startAcForMh(logger);
  controller = await startStandInController('mc-1');
  redis = createRedis(TEST_REDIS_URL, `${acm.backends.redisPrefix}mh:`);
  mh = await startMh(
    mhTestEnvironment({
      id: MH,
      acUrl: acm.ac.url,
      controllers: [controller],
      redisPrefix: `${acm.backends.redisPrefix}mh:`,
      extra: { MH_QUIC_BIND_ADDRESS: '127.0.0.1:0' },
    }),
    { logger },
  );
  route = connectMh(mh.grpcAddress, acm.routeToken);
}, 30_000);

afterAll(async () => {
  route?.close();
  await mh?.close();
  await controller?.close();
  await redis?.quit();
  await acm?.close();
});

describe('MH over QUIC', () => {
  it('forwards every frame byte-exact, exactly once, to the right subscribers only', async () => {
    const token = async (participant: string) =>
      tokenFrom(controller, grant(MEETING, participant, MH));
    const alice = await acceptedQuicClient(mh, await token('alice'));
    const bob = await acceptedQuicClient(mh, await token('bob'));
    const carol = await acceptedQuicClient(mh, await token('carol'));
    const got = { alice: record(alice), bob: record(bob), carol: record(carol) };
    const ack = await route.applyRouteCommand({
      id: 'quic-1',
      meeting: MEETING,
      controller: 'mc-1',
      add: [
        camera('alice'),
        camera('bob'),
        deliver('alice', 'bob'),
        deliver('alice', 'carol'),
        deliver('bob', 'alice'),
      ],
      remove: [],
    });
    expect(ack).toMatchObject({ duplicate: false, changed: 5, ignored: 0 });

    const sent = { alice: [] as string[], bob: [] as string[] };
    const aliceCamera = alice.publisher(MEETING, 'alice', 'camera');
    const bobCamera = bob.publisher(MEETING, 'bob', 'camera');
    for (let frame = 0; frame < 150; frame++) {
      const size = 100 + ((frame * 397) % 3000);
      const body = Buffer.alloc(size, frame);
      body.writeUInt32BE(frame * 7919, 0);
      for (const d of aliceCamera.datagrams(body, { keyframe: frame % 30 === 0 })) {
        expect(alice.sendDatagram(d)).toBe(true);
        sent.alice.push(Buffer.from(d).toString('hex'));
      }
      for (const d of bobCamera.datagrams(body.subarray(0, 200))) {
        expect(bob.sendDatagram(d)).toBe(true);
        sent.bob.push(Buffer.from(d).toString('hex'));
      }
      // Paced like media (a burst of frames, then a pause), well inside the DATAGRAM queues.
      if (frame % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await eventually(
      () =>
        got.bob.length >= sent.alice.length &&
        got.carol.length >= sent.alice.length &&
        got.alice.length >= sent.bob.length,
      10_000,
      'all datagrams over QUIC',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Exactly once and byte-exact: the same multiset (QUIC datagrams may be reordered).
    expect([...got.bob].sort()).toEqual([...sent.alice].sort());
    expect([...got.carol].sort()).toEqual([...sent.alice].sort());
    expect([...got.alice].sort()).toEqual([...sent.bob].sort());
    expect(sent.alice.length).toBeGreaterThan(200);
    expect(await metricValue(mh.metricsUrl, 'mh_connections{transport="quic"}')).toBe(3);
    // Everything delivered: no connection has datagrams waiting.
    expect(await metricValue(mh.metricsUrl, 'mh_send_queue_bytes_max')).toBe(0);

    // The load report in Redis names the QUIC address and certificate hash.
    const store = new RedisHandlerLoadStore(redis);
    await eventually(
      async () =>
        (await store.list('us-west-1', Date.now(), 10_000)).some((r) => r.quicAddress !== ''),
      5_000,
      'a load report with the QUIC address',
    );
    const [report] = await store.list('us-west-1', Date.now(), 10_000);
    expect(report?.quicAddress).toBe(mh.quicAddress);
    expect(report?.quicCertificateSha256).toBe(
      Buffer.from(mh.quicCertificateSha256 as Uint8Array).toString('hex'),
    );

    await Promise.all([alice.close(), bob.close(), carol.close()]);
  });
});
