// WebTransport (HTTP/3) on the handler's QUIC port: a Node WebTransport client and native
// Chromium each authenticate with a controller-issued connection token on the session's first
// stream and exchange media datagrams (at most 1,199 bytes) with a QUIC client, byte-exact.
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { frameControlMessage } from '../../adapters/quic/framing.ts';
import { connectWebTransport, WebTransportClientLink } from '../../adapters/webtransport/client.ts';
import { MediaClient, StreamPublisher } from '../../client/media/index.ts';
import { ClientControl, HandlerControl } from '../generated/darktower/mh/v1/control.ts';
import { MediaKind, type Leg } from '../generated/darktower/mh/v1/route.ts';
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

const CHROMIUM = '/usr/bin/chromium';

/** The browser's WebTransport, as much of it as the page scripts use (no DOM types here). */
interface BrowserWebTransport {
  readonly ready: Promise<void>;
  readonly closed: Promise<unknown>;
  readonly datagrams: {
    readonly readable: ReadableStream<Uint8Array>;
    readonly writable: WritableStream<Uint8Array>;
    readonly maxDatagramSize: number;
  };
  createBidirectionalStream(): Promise<{
    readonly readable: ReadableStream<Uint8Array>;
    readonly writable: WritableStream<Uint8Array>;
  }>;
  close(info?: { closeCode?: number; reason?: string }): void;
}
type Page_ = { WebTransport: new (url: string, options: object) => BrowserWebTransport };
const logger = createLogger('test', 'silent');
const MH = 'mh-wt-1';
let acm: AcForMh;
let controller: StandInController;
let mh: RunningMh;
let route: MhClient;

const camera = (publisher: string): Leg => ({
  publish: { publisher, kind: MediaKind.MEDIA_KIND_CAMERA, handler: MH },
});
const deliver = (publisher: string, subscriber: string): Leg => ({
  deliver: { publisher, kind: MediaKind.MEDIA_KIND_CAMERA, handler: MH, subscriber },
});
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Frames of several sizes, split into datagrams of at most 1,199 bytes. */
function frames(meeting: string, participant: string, count: number): Uint8Array[] {
  const sink = { maxDatagramBytes: 1199, sendDatagram: () => true };
  const publisher = new StreamPublisher(sink, meeting, participant, 'camera');
  const out: Uint8Array[] = [];
  for (let frame = 0; frame < count; frame++) {
    const body = Buffer.alloc(100 + ((frame * 397) % 2500), frame);
    body.writeUInt32BE(frame * 7919, 0);
    out.push(...publisher.datagrams(body, { keyframe: frame % 30 === 0 }));
  }
  return out;
}

beforeAll(async () => {
  acm = await startAcForMh(logger);
  controller = await startStandInController('mc-1');
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
  await acm?.close();
});

async function webTransportClient(token: string) {
  const [host, port] = (mh.quicAddress as string).split(':') as [string, string];
  const connected = await connectWebTransport(host, Number(port), '/v1/media', {
    serverCertificateHash: mh.quicCertificateSha256 as Uint8Array,
  });
  const link = new WebTransportClientLink(connected);
  return MediaClient.connectLink({ link, token });
}

describe('MH over WebTransport (Node client)', () => {
  it('authenticates with a connection token and forwards datagrams both ways', async () => {
    const meeting = 'meeting-wt-node';
    const token = async (participant: string) =>
      tokenFrom(controller, grant(meeting, participant, MH));
    const { client: alice, outcome } = await webTransportClient(await token('alice'));
    expect(outcome.kind).toBe('accepted');
    expect(alice?.maxDatagramBytes).toBe(1199);
    const bob = await acceptedQuicClient(mh, await token('bob'));
    const got = { alice: [] as string[], bob: [] as string[] };
    alice!.onDatagram = (_h, _p, raw) => got.alice.push(hex(raw));
    bob.onDatagram = (_h, _p, raw) => got.bob.push(hex(raw));
    await route.applyRouteCommand({
      id: 'wt-node-1',
      meeting,
      controller: 'mc-1',
      add: [camera('alice'), camera('bob'), deliver('alice', 'bob'), deliver('bob', 'alice')],
      remove: [],
    });
    const fromAlice = frames(meeting, 'alice', 60);
    const fromBob = frames(meeting, 'bob', 60);
    for (let i = 0; i < Math.max(fromAlice.length, fromBob.length); i++) {
      if (i < fromAlice.length) expect(alice!.sendDatagram(fromAlice[i]!)).toBe(true);
      if (i < fromBob.length) expect(bob.sendDatagram(fromBob[i]!)).toBe(true);
      if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await eventually(
      () => got.bob.length >= fromAlice.length && got.alice.length >= fromBob.length,
      10_000,
      'datagrams over WebTransport',
    );
    expect([...got.bob].sort()).toEqual(fromAlice.map(hex).sort());
    expect([...got.alice].sort()).toEqual(fromBob.map(hex).sort());
    expect(await metricValue(mh.metricsUrl, 'mh_connections{transport="webtransport"}')).toBe(1);
    await Promise.all([alice!.close(), bob.close()]);
  });

  it('refuses a token for another handler (Rejected: wrong-handler)', async () => {
    const wrong = await tokenFrom(controller, grant('meeting-wt-node', 'mallory', 'mh-other'));
    const { client, outcome } = await webTransportClient(wrong);
    expect(client).toBeUndefined();
    expect(outcome).toMatchObject({ kind: 'rejected', reason: 'wrong-handler' });
  });
});

describe.skipIf(!existsSync(CHROMIUM))('MH over WebTransport (native Chromium)', () => {
  let browser: Browser;
  let page: Page;
  let web: http.Server;

  beforeAll(async () => {
    web = http.createServer((_request, response) =>
      response
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><title>mh</title>'),
    );
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(web.address() as AddressInfo).port}/`);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => web?.close(resolve));
  });

  it('opens a session, says hello with its token, and sends and receives media', async () => {
    const meeting = 'meeting-wt-browser';
    const token = async (participant: string) =>
      tokenFrom(controller, grant(meeting, participant, MH));
    const hello = frameControlMessage(
      ClientControl.encode({ hello: { connectionToken: await token('alice') } }).finish(),
    );
    const opened = await page.evaluate(
      async ([url, hash, helloBytes]) => {
        const wt = new (globalThis as unknown as Page_).WebTransport(url, {
          serverCertificateHashes: [{ algorithm: 'sha-256', value: new Uint8Array(hash) }],
        });
        await wt.ready;
        const stream = await wt.createBidirectionalStream();
        const writer = stream.writable.getWriter();
        await writer.write(new Uint8Array(helloBytes));
        // The answer: a 4-byte length, then the HandlerControl message.
        const reader = stream.readable.getReader();
        let answer = new Uint8Array(0);
        for (;;) {
          if (answer.length >= 4) {
            const length = new DataView(answer.buffer).getUint32(0);
            if (answer.length >= 4 + length) break;
          }
          const { value, done } = await reader.read();
          if (done) break;
          const joined = new Uint8Array(answer.length + value.length);
          joined.set(answer);
          joined.set(value, answer.length);
          answer = joined;
        }
        const received: string[] = [];
        const datagrams = wt.datagrams.readable.getReader();
        void (async () => {
          for (;;) {
            const { value, done } = await datagrams.read();
            if (done) return;
            received.push(
              Array.from(value, (b: number) => b.toString(16).padStart(2, '0')).join(''),
            );
          }
        })();
        const state = globalThis as unknown as Record<string, unknown>;
        state.wt = wt;
        state.received = received;
        return {
          answer: Array.from(answer.subarray(4)),
          maxDatagramSize: wt.datagrams.maxDatagramSize,
        };
      },
      [
        mh.webTransportUrl as string,
        [...(mh.quicCertificateSha256 as Uint8Array)],
        [...hello],
      ] as const,
    );
    expect(opened.maxDatagramSize).toBe(1199);
    const answer = HandlerControl.decode(Uint8Array.from(opened.answer));
    expect(answer.helloAnswer?.accepted).toMatchObject({ participant: 'alice', meeting });

    const bob = await acceptedQuicClient(mh, await token('bob'));
    const gotBob: string[] = [];
    bob.onDatagram = (_h, _p, raw) => gotBob.push(hex(raw));
    await route.applyRouteCommand({
      id: 'wt-browser-1',
      meeting,
      controller: 'mc-1',
      add: [camera('alice'), camera('bob'), deliver('alice', 'bob'), deliver('bob', 'alice')],
      remove: [],
    });
    const fromAlice = frames(meeting, 'alice', 40).map(hex);
    const fromBob = frames(meeting, 'bob', 40);
    expect(Math.max(...fromBob.map((d) => d.length))).toBe(1199);
    await page.evaluate(async (datagrams) => {
      const state = globalThis as unknown as { wt: BrowserWebTransport };
      const writer = state.wt.datagrams.writable.getWriter();
      for (const [i, text] of datagrams.entries()) {
        const bytes = new Uint8Array(text.length / 2);
        for (let j = 0; j < bytes.length; j++)
          bytes[j] = parseInt(text.slice(2 * j, 2 * j + 2), 16);
        await writer.write(bytes);
        if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      writer.releaseLock();
    }, fromAlice);
    for (const [i, datagram] of fromBob.entries()) {
      expect(bob.sendDatagram(datagram)).toBe(true);
      if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await eventually(() => gotBob.length >= fromAlice.length, 10_000, 'browser datagrams').catch(
      () => {
        throw new Error(`bob received ${gotBob.length} of ${fromAlice.length} browser datagrams`);
      },
    );
    const gotAlice = await page.evaluate(async (expected) => {
      const state = globalThis as unknown as { received: string[] };
      const deadline = performance.now() + 10_000;
      while (state.received.length < expected && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return [...state.received];
    }, fromBob.length);
    // Loopback, paced: nothing lost, nothing changed, nothing twice.
    expect([...gotBob].sort()).toEqual([...fromAlice].sort());
    expect([...gotAlice].sort()).toEqual(fromBob.map(hex).sort());
    expect(await metricValue(mh.metricsUrl, 'mh_connections{transport="webtransport"}')).toBe(1);

    const closed = await page.evaluate(async () => {
      const state = globalThis as unknown as { wt: BrowserWebTransport };
      state.wt.close({ closeCode: 0, reason: 'done' });
      await state.wt.closed;
      return true;
    });
    expect(closed).toBe(true);
    await eventually(
      async () =>
        (await metricValue(mh.metricsUrl, 'mh_connections{transport="webtransport"}')) === 0,
      5_000,
      'the session gone from the handler',
    );
    await bob.close();
  }, 30_000);
});
