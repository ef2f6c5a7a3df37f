// The plain UDP benchmark ingress beside the WebSocket one: a UDP publisher reaches a WebSocket
// subscriber (both transports share the forwarder's key space), control messages travel with
// the 0x01 prefix, and packets without a known prefix are dropped and counted.
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { StreamPublisher } from '../../client/media/index.ts';
import { ClientControl, HandlerControl } from '../generated/darktower/mh/v1/control.ts';
import { MediaKind } from '../generated/darktower/mh/v1/route.ts';
import { connectMh } from './grpc-client.ts';
import { startMh, type RunningMh } from './server.ts';
import {
  acceptedClient,
  dropsByReason,
  eventually,
  grant,
  mhTestEnvironment,
  startAcForMh,
  startStandInController,
  tokenFrom,
  type AcForMh,
  type StandInController,
} from './testing.ts';

const logger = createLogger('test', 'silent');
const MH = 'mh-udp';
let acm: AcForMh;
let controller: StandInController;
let mh: RunningMh;

beforeAll(async () => {
  acm = await startAcForMh(logger);
  controller = await startStandInController('mc-1');
  mh = await startMh(
    mhTestEnvironment({
      id: MH,
      acUrl: acm.ac.url,
      controllers: [controller],
      redisPrefix: `${acm.backends.redisPrefix}mh:`,
      extra: { MH_UDP_BIND_ADDRESS: '127.0.0.1:0' },
    }),
    { logger },
  );
}, 30_000);

afterAll(async () => {
  await mh?.close();
  await controller?.close();
  await acm?.close();
});

describe('MH UDP benchmark ingress', () => {
  it('carries a hello and media from UDP to a WebSocket subscriber; drops unknown packets', async () => {
    const [host, port] = (mh.udpAddress as string).split(':') as [string, string];
    const socket: Socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const replies: Buffer[] = [];
    socket.on('message', (packet) => replies.push(packet));
    const send = (bytes: Uint8Array) => socket.send(bytes, Number(port), host);

    const token = await tokenFrom(controller, grant('meeting-udp', 'alice', MH));
    const hello = ClientControl.encode({ hello: { connectionToken: token } }).finish();
    send(Buffer.concat([Buffer.from([0x01]), hello]));
    await eventually(() => replies.length === 1, 3_000, 'the hello answer');
    expect(replies[0]?.[0]).toBe(0x01);
    expect(HandlerControl.decode((replies[0] as Buffer).subarray(1)).helloAnswer).toMatchObject({
      accepted: { participant: 'alice', meeting: 'meeting-udp' },
    });

    const bob = await acceptedClient(
      mh.wsUrl,
      await tokenFrom(controller, grant('meeting-udp', 'bob', MH)),
    );
    const received: string[] = [];
    bob.onDatagram = (_h, _p, raw) => received.push(Buffer.from(raw).toString('hex'));
    const route = connectMh(mh.grpcAddress, acm.routeToken);
    await route.applyRouteCommand({
      id: 'udp-1',
      meeting: 'meeting-udp',
      controller: 'mc-1',
      add: [
        { publish: { publisher: 'alice', kind: MediaKind.MEDIA_KIND_CAMERA, handler: MH } },
        {
          deliver: {
            publisher: 'alice',
            kind: MediaKind.MEDIA_KIND_CAMERA,
            handler: MH,
            subscriber: 'bob',
          },
        },
      ],
      remove: [],
    });
    route.close();
    const sent: string[] = [];
    const camera = new StreamPublisher(
      {
        maxDatagramBytes: 1_200,
        sendDatagram: (d) => {
          sent.push(Buffer.from(d).toString('hex'));
          send(Buffer.concat([Buffer.from([0x00]), d]));
          return true;
        },
      },
      'meeting-udp',
      'alice',
      'camera',
    );
    for (let i = 0; i < 20; i++) camera.publish(Buffer.alloc(100, i));
    await eventually(() => received.length === 20, 3_000, 'datagrams over UDP');
    expect(received).toEqual(sent);

    const before = (await dropsByReason(mh.metricsUrl))['transport-malformed-packet'] ?? 0;
    send(Buffer.from([0x07, 1, 2, 3]));
    send(Buffer.from([0x00]));
    await eventually(
      async () =>
        ((await dropsByReason(mh.metricsUrl))['transport-malformed-packet'] ?? 0) === before + 2,
      3_000,
      'malformed packets counted',
    );
    socket.close();
    await bob.close();
  });
});
