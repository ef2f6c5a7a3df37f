// Hostile input into a running handler: 100,000 random and mutated datagrams from a session
// that publishes nothing and from a connection that never said hello, plus malformed WebSocket
// frames and control messages on connections of their own, while a genuine publisher and
// subscriber keep going. Nothing may crash, every datagram must be counted as a drop by
// reason, and the genuine stream must arrive whole.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createLogger } from '../../adapters/logging/logger.ts';
import { helloMessage, type MediaClient } from '../../client/media/index.ts';
import { MediaKind } from '../generated/darktower/mh/v1/route.ts';
import { connectMh, type MhClient } from './grpc-client.ts';
import { startMh, type RunningMh } from './server.ts';
import {
  acceptedClient,
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
const MH = 'mh-fuzz';
const MEETING = 'meeting-fuzz';
/** Hostile datagrams sent: 100,000 in the suite; `MH_FUZZ_COUNT=1000000` for the long run. */
const FUZZ_COUNT = Number(process.env.MH_FUZZ_COUNT ?? 100_000);
if (!Number.isInteger(FUZZ_COUNT) || FUZZ_COUNT < 1_000 || FUZZ_COUNT > 10_000_000)
  throw new Error('MH_FUZZ_COUNT must be an integer from 1,000 to 10,000,000');
let acm: AcForMh;
let controller: StandInController;
let mh: RunningMh;
let route: MhClient;

beforeAll(async () => {
  acm = await startAcForMh(logger);
  controller = await startStandInController('mc-1');
  mh = await startMh(
    mhTestEnvironment({
      id: MH,
      acUrl: acm.ac.url,
      controllers: [controller],
      redisPrefix: `${acm.backends.redisPrefix}mh:`,
      extra: { MH_HELLO_TIMEOUT_MS: '60000' },
    }),
    { logger },
  );
  route = connectMh(mh.grpcAddress, acm.routeToken);
}, 30_000);

afterAll(async () => {
  route?.close();
  await mh?.close();
  await controller?.close();
  await acm?.close();
});

/** xorshift32: the same hostile input on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/** Random bytes, or a genuine datagram with a mutation (flips, cuts, extensions, fields). */
function hostileDatagram(random: () => number, genuine: Uint8Array): Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  if (random() < 0.4) {
    const bytes = new Uint8Array(int(1_400));
    for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
    if (bytes.length > 0 && random() < 0.5) bytes[0] = 1; // past the version check more often
    return bytes;
  }
  let bytes: Uint8Array = new Uint8Array(genuine);
  switch (int(7)) {
    case 0:
      for (let flips = 1 + int(4); flips > 0; flips--) {
        const at = int(bytes.length);
        bytes[at] = (bytes[at] as number) ^ (1 << int(8));
      }
      break;
    case 1:
      bytes = bytes.subarray(0, int(bytes.length));
      break;
    case 2: {
      const longer = new Uint8Array(bytes.length + 1 + int(1_300));
      longer.set(bytes);
      bytes = longer;
      break;
    }
    case 3:
      bytes[2] = int(256); // hop count
      break;
    case 4:
      bytes[1] = int(256); // flags
      break;
    case 5:
      bytes[30] = 0; // fragment count 0
      bytes[31] = 0;
      break;
    default:
      break; // as it is: mallory does not publish this stream
  }
  return bytes;
}

/** Sends on a WebSocket, waiting while too much is queued. */
async function sendPaced(
  socket: { send(d: Uint8Array): void; bufferedAmount: number },
  d: Uint8Array,
) {
  socket.send(d);
  while (socket.bufferedAmount > 1 << 20) await new Promise((resolve) => setTimeout(resolve, 1));
}

/** A raw TCP connection that has done the WebSocket handshake on /v1/media. */
async function rawWebSocket(): Promise<{ socket: Socket; closed: Promise<Buffer> }> {
  const url = new URL(mh.wsUrl);
  const socket = connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  let handshakeDone = false;
  // Closed: the socket closed, or the server sent a close frame after the handshake.
  const closed = new Promise<Buffer>((resolve) => {
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('data', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (handshakeDone && all.subarray(end + 4).includes(0x88)) resolve(all);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
  });
  socket.write(
    'GET /v1/media HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await new Promise<void>((resolve) => {
    const onData = () => {
      if (Buffer.concat(chunks).includes('\r\n\r\n')) {
        socket.off('data', onData);
        handshakeDone = true;
        resolve();
      }
    };
    socket.on('data', onData);
  });
  return { socket, closed };
}

/** One WebSocket frame, masked unless told otherwise. */
function frame(
  opcode: number,
  payload: Buffer,
  options: { mask?: boolean; fin?: boolean; rsv1?: boolean; claimedLength?: bigint } = {},
): Buffer {
  const mask = options.mask ?? true;
  const first = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv1 ? 0x40 : 0) | opcode;
  const length = options.claimedLength ?? BigInt(payload.length);
  let header: Buffer;
  if (length < 126n) header = Buffer.from([first, (mask ? 0x80 : 0) | Number(length)]);
  else if (length < 65_536n) {
    header = Buffer.alloc(4);
    header[0] = first;
    header[1] = (mask ? 0x80 : 0) | 126;
    header.writeUInt16BE(Number(length), 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = (mask ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(length, 2);
  }
  if (!mask) return Buffer.concat([header, payload]);
  const key = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (key[i % 4] as number)));
  return Buffer.concat([header, key, masked]);
}

/** The close code in the last close frame the server sent (unmasked), or undefined. */
function closeCode(received: Buffer): number | undefined {
  const at = received.lastIndexOf(Buffer.from([0x88]));
  if (at < 0 || received.length < at + 4) return undefined;
  return received.readUInt16BE(at + 2);
}

describe('MH under hostile input', () => {
  it(
    `survives ${FUZZ_COUNT.toLocaleString('en')} hostile datagrams and malformed frames, counting every drop`,
    async () => {
      const token = async (p: string) => tokenFrom(controller, grant(MEETING, p, MH));
      const alice = await acceptedClient(mh.wsUrl, await token('alice'));
      const bob = await acceptedClient(mh.wsUrl, await token('bob'));
      const mallory: MediaClient = await acceptedClient(mh.wsUrl, await token('mallory'));
      const silent = new WebSocket(mh.wsUrl, 'darktower-media.v1');
      await new Promise((resolve) => silent.once('open', resolve));
      await route.applyRouteCommand({
        id: 'fuzz-1',
        meeting: MEETING,
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
      const received: string[] = [];
      bob.onDatagram = (_h, _p, raw) => received.push(Buffer.from(raw).toString('hex'));
      const aliceCamera = alice.publisher(MEETING, 'alice', 'camera');
      const genuine = aliceCamera.datagrams(Buffer.alloc(300, 7))[0] as Uint8Array;
      const sent: string[] = [];
      const before = await dropsByReason(mh.metricsUrl);
      const malformedControlBefore = await metricValue(mh.metricsUrl, 'mh_control_malformed_total');
      const refusalsBefore = {
        frames: await metricValue(
          mh.metricsUrl,
          'mh_transport_refusals_total{reason="malformed-frame"}',
        ),
        control: await metricValue(
          mh.metricsUrl,
          'mh_transport_refusals_total{reason="malformed-control"}',
        ),
      };

      const random = prng(20_261_205);
      const started = performance.now();
      for (let i = 0; i < FUZZ_COUNT; i++) {
        const bytes = hostileDatagram(random, genuine);
        if (i % 2 === 0)
          await sendPaced(
            {
              send: (d) => mallory.sendDatagram(d),
              get bufferedAmount() {
                return mallory.bufferedAmount;
              },
            },
            bytes,
          );
        else await sendPaced(silent, bytes);
        if (i % 500 === 0) {
          const d = aliceCamera.datagrams(Buffer.from(`genuine ${i}`))[0] as Uint8Array;
          alice.sendDatagram(d);
          sent.push(Buffer.from(d).toString('hex'));
        }
      }
      const sendSeconds = (performance.now() - started) / 1000;

      // Malformed frames and control messages, each on a connection of its own.
      const cases: { name: string; bytes: Buffer; code: number }[] = [
        { name: 'unmasked frame', bytes: frame(2, Buffer.alloc(50), { mask: false }), code: 1002 },
        { name: 'reserved opcode', bytes: frame(3, Buffer.alloc(10)), code: 1002 },
        {
          name: 'RSV1 without extension',
          bytes: frame(2, Buffer.alloc(10), { rsv1: true }),
          code: 1002,
        },
        { name: 'continuation first', bytes: frame(0, Buffer.alloc(10)), code: 1002 },
        {
          name: 'fragmented control frame',
          bytes: frame(9, Buffer.alloc(4), { fin: false }),
          code: 1002,
        },
        {
          name: 'message over the limit',
          bytes: frame(2, Buffer.alloc(0), { claimedLength: 1n << 40n }),
          code: 1009,
        },
        { name: 'invalid UTF-8 text', bytes: frame(1, Buffer.from([0xc3, 0x28])), code: 1007 },
        {
          name: 'text that is not base64',
          bytes: frame(1, Buffer.from('not base64!')),
          code: 4400,
        },
        {
          name: 'base64 of bytes that are no control message',
          bytes: frame(1, Buffer.from(Buffer.from([0xff, 0xff, 0xff, 0x0f]).toString('base64'))),
          code: 4400,
        },
        {
          name: 'a second hello',
          bytes: Buffer.concat([
            frame(1, Buffer.from(helloMessage('x'))),
            frame(1, Buffer.from(helloMessage('y'))),
          ]),
          code: 4400,
        },
      ];
      for (const c of cases) {
        const { socket, closed } = await rawWebSocket();
        socket.write(c.bytes);
        const reply = await closed;
        socket.destroy();
        expect({ name: c.name, code: closeCode(reply) }).toEqual({ name: c.name, code: c.code });
      }

      // Every hostile datagram is counted once, by reason; nothing of them was forwarded.
      const delta = async () => {
        const after = await dropsByReason(mh.metricsUrl);
        const change: Record<string, number> = {};
        for (const [reason, value] of Object.entries(after)) {
          const d = value - (before[reason] ?? 0);
          if (d !== 0) change[reason] = d;
        }
        return change;
      };
      const datagramDrops = (change: Record<string, number>) =>
        Object.values(change).reduce((sum, value) => sum + value, 0);
      await eventually(async () => datagramDrops(await delta()) >= FUZZ_COUNT, 30_000, 'all drops');
      const change = await delta();
      expect(datagramDrops(change)).toBe(FUZZ_COUNT);
      for (const reason of [
        'malformed',
        'bad-hop',
        'hop-exceeded',
        'not-publisher',
        'unknown-connection',
        'transport-oversized-datagram',
      ]) {
        expect(change[reason], reason).toBeGreaterThan(0);
      }
      // ws reports the first five frame errors, the transport the non-base64 text, the driver the
      // undecodable message and the second hello.
      expect(
        (await metricValue(
          mh.metricsUrl,
          'mh_transport_refusals_total{reason="malformed-frame"}',
        )) - refusalsBefore.frames,
      ).toBe(7);
      expect(
        (await metricValue(
          mh.metricsUrl,
          'mh_transport_refusals_total{reason="malformed-control"}',
        )) - refusalsBefore.control,
      ).toBe(1);
      expect(
        (await metricValue(mh.metricsUrl, 'mh_control_malformed_total')) - malformedControlBefore,
      ).toBe(2);

      // The genuine stream arrived whole, in order, once; the handler is healthy.
      await eventually(() => received.length >= sent.length, 5_000, 'genuine datagrams');
      expect(received).toEqual(sent);
      expect(await (await fetch(`${mh.url}/health`)).text()).toBe('OK');
      expect(mh.driver.forwarder.sessionCount).toBe(3);
      console.log(
        JSON.stringify({
          fuzz: FUZZ_COUNT,
          send_seconds: Number(sendSeconds.toFixed(2)),
          drops: change,
        }),
      );
      silent.close();
      await Promise.all([alice.close(), bob.close(), mallory.close()]);
    },
    Math.max(120_000, FUZZ_COUNT / 2),
  );
});
