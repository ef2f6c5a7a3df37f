// Signaling over WebTransport (HTTP/3): AC, GC, a Media Handler with its QUIC port and a
// Meeting Controller with WebTransport signaling, on real PostgreSQL and Redis. A Node client
// and native Chromium join over WebTransport, are told the handler's WebTransport URL and
// certificate hash, and (Chromium) open the media session with the connection token.
import { existsSync } from 'node:fs';
import nodeHttp from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { type Pool } from '../../adapters/postgres/pool.ts';
import { ControlDecoder, frameControlMessage } from '../../adapters/quic/framing.ts';
import { type RunningAc } from '../ac/server.ts';
import { type RunningGc } from '../gc/server.ts';
import { userTokenIn } from '../gc/testing.ts';
import { ClientMessage, ErrorKind, ServerMessage } from '../generated/darktower/mc/v1/signaling.ts';
import { ClientControl, HandlerControl } from '../generated/darktower/mh/v1/control.ts';
import { startMh, type RunningMh } from '../mh/server.ts';
import { eventually, mhTestEnvironment, type StandInController } from '../mh/testing.ts';
import { http, json, type IsolatedBackends } from '../shared/testing.ts';
import {
  mcTestEnvironment,
  startControlPlane,
  type ControlPlane,
} from './control-plane-testing.ts';
import { startMc, type RunningMc } from './server.ts';
import { WebTransportSignalingClient } from './testing.ts';

const CHROMIUM = '/usr/bin/chromium';
const logger = createLogger('test', 'silent');
const MC_ID = 'mc-wt-test';
const JOIN_SCOPES = ['user.read.gc', 'user.write.gc', 'user.write.mc'];

let plane: ControlPlane;
let backends: IsolatedBackends;
let pool: Pool;
let ac: RunningAc;
let gc: RunningGc;
let mc: RunningMc;
let mh: RunningMh;

beforeAll(async () => {
  plane = await startControlPlane(logger);
  ({ backends, pool, ac, gc } = plane);
  const route: { address?: string } = {};
  mc = await startMc(
    mcTestEnvironment(plane, MC_ID, {
      MC_WEBTRANSPORT_BIND_ADDRESS: '127.0.0.1:0',
      MC_WEBTRANSPORT_H2_BIND_ADDRESS: '127.0.0.1:0',
    }),
    { logger, routeAddress: () => route.address },
  );
  const controller = { issuer: MC_ID, jwksUrl: mc.jwksUrl } as StandInController;
  mh = await startMh(
    mhTestEnvironment({
      id: 'mh-wt',
      acUrl: ac.url,
      controllers: [controller],
      redisPrefix: `${backends.redisPrefix}mh:`,
      extra: { MH_QUIC_BIND_ADDRESS: '127.0.0.1:0' },
    }),
    { logger },
  );
  route.address = mh.grpcAddress;
  await eventually(
    async () => (await http(`${mc.url}/ready`)).body.media_handlers === '1',
    10_000,
    'the handler known',
  );
}, 60_000);

afterAll(async () => {
  await mc?.close();
  await mh?.close();
  await plane?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function userAndMeeting(name: string): Promise<{ token: string; meeting: string }> {
  const token = await userTokenIn(ac, pool, {
    username: name,
    password: `${name}-password-1`,
    org: 'default',
    scopes: JOIN_SCOPES,
  });
  const created = await http(`${gc.url}/v1/meetings`, json({ title: 'WT' }, bearer(token)));
  expect(created.status).toBe(201);
  return { token, meeting: created.body.meeting_id as string };
}

describe('MC WebTransport endpoints at GC', () => {
  it('registers both endpoints and its certificate hash, and GC names them in the meeting answer', async () => {
    const { token, meeting } = await userAndMeeting('wt-lookup');
    const found = await http(`${gc.url}/v1/meetings/${meeting}`, { headers: bearer(token) });
    expect(found.status).toBe(200);
    const hash = Buffer.from(mc.webTransportCertificateSha256 as Uint8Array).toString('hex');
    expect(found.body.meeting_controller).toEqual({
      id: MC_ID,
      region: expect.any(String) as string,
      url: mc.signalingUrl,
      webtransport: [
        { url: mc.webTransportUrl, carrier: 'h3', cert_sha256: hash },
        { url: mc.webTransportH2Url, carrier: 'h2', cert_sha256: hash },
      ],
    });
  });
});

describe('MC signaling over WebTransport (Node client)', () => {
  it('joins, and the answer names the handler’s WebTransport URL and certificate hash', async () => {
    expect(mc.webTransportUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\/signaling$/);
    const { token, meeting } = await userAndMeeting('wt-alice');
    const client = await WebTransportSignalingClient.open(
      mc.webTransportUrl as string,
      mc.webTransportCertificateSha256 as Uint8Array,
    );
    client.send({
      join: {
        accessToken: token,
        meetingId: meeting,
        layout: 'grid',
        region: '',
        keyPackage: Buffer.alloc(0),
      },
    });
    const response = await client.next((m) => m.joinResponse);
    expect(response.participantId).not.toBe('');
    expect(response.mediaHandler).toMatchObject({
      id: 'mh-wt',
      quicAddress: mh.quicAddress,
      webtransportUrl: mh.webTransportUrl,
    });
    expect(Buffer.from(response.mediaHandler?.certHash ?? []).toString('hex')).toBe(
      Buffer.from(mh.quicCertificateSha256 as Uint8Array).toString('hex'),
    );
    await client.next((m) => (m.participants?.participants.length === 1 ? true : undefined));
    client.send({ leave: {} });
    expect((await client.closed).code).toBe(1000);
  });

  it('answers a message that does not decode with MALFORMED and closes the session (4400)', async () => {
    const client = await WebTransportSignalingClient.open(
      mc.webTransportUrl as string,
      mc.webTransportCertificateSha256 as Uint8Array,
    );
    client.sendRaw(Uint8Array.of(0xff, 0xff, 0xff));
    const error = await client.next((m) => m.error);
    expect(error.kind).toBe(ErrorKind.ERROR_KIND_MALFORMED);
    expect((await client.closed).code).toBe(4400);
  });

  it('refuses a join without a token (INVALID_TOKEN, 4401), the same rules as WebSocket', async () => {
    const client = await WebTransportSignalingClient.open(
      mc.webTransportUrl as string,
      mc.webTransportCertificateSha256 as Uint8Array,
    );
    client.send({
      join: {
        accessToken: '',
        meetingId: 'm-1',
        layout: 'grid',
        region: '',
        keyPackage: Buffer.alloc(0),
      },
    });
    expect((await client.next((m) => m.error)).kind).toBe(ErrorKind.ERROR_KIND_INVALID_TOKEN);
    expect((await client.closed).code).toBe(4401);
  });
});

describe('MC signaling over WebTransport on HTTP/2 (@fails-components/webtransport)', () => {
  it('joins with the same messages and framing, and refuses the same way', async () => {
    const { WebTransport } = await import('@fails-components/webtransport');
    expect(mc.webTransportH2Url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\/signaling$/);
    const open = async () => {
      const wt = new WebTransport(
        mc.webTransportH2Url as string,
        {
          forceReliable: true,
          serverCertificateHashes: [
            { algorithm: 'sha-256', value: mc.webTransportCertificateSha256 as Uint8Array },
          ],
        } as unknown as ConstructorParameters<typeof WebTransport>[1],
      );
      await wt.ready;
      const stream = await wt.createBidirectionalStream();
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      const decoder = new ControlDecoder();
      const pending: Uint8Array[] = [];
      return {
        wt,
        send: (message: ClientMessage) =>
          writer.write(frameControlMessage(ClientMessage.encode(message).finish())),
        next: async (): Promise<ServerMessage> => {
          while (pending.length === 0) {
            const { value, done } = await reader.read();
            if (done) throw new Error('stream ended');
            const messages = decoder.push(value as Uint8Array);
            if (Array.isArray(messages)) pending.push(...messages);
          }
          return ServerMessage.decode(pending.shift()!);
        },
      };
    };
    const { token, meeting } = await userAndMeeting('wt-h2-alice');
    const client = await open();
    await client.send({
      join: {
        accessToken: token,
        meetingId: meeting,
        layout: 'grid',
        region: '',
        keyPackage: Buffer.alloc(0),
      },
    });
    const response = (await client.next()).joinResponse;
    expect(response?.mediaHandler?.webtransportUrl).toBe(mh.webTransportUrl);
    client.wt.close();

    const refused = await open();
    await refused.send({
      join: {
        accessToken: '',
        meetingId: 'm-1',
        layout: 'grid',
        region: '',
        keyPackage: Buffer.alloc(0),
      },
    });
    expect((await refused.next()).error?.kind).toBe(ErrorKind.ERROR_KIND_INVALID_TOKEN);
    const info = (await refused.wt.closed) as { closeCode?: number };
    expect(info.closeCode).toBe(4401);
  });
});

/** The browser's WebTransport, as much of it as the page script uses. */
interface BrowserWebTransport {
  readonly ready: Promise<void>;
  createBidirectionalStream(): Promise<{
    readonly readable: ReadableStream<Uint8Array>;
    readonly writable: WritableStream<Uint8Array>;
  }>;
  close(): void;
}
type PageGlobals = { WebTransport: new (url: string, options: object) => BrowserWebTransport };

/** In the page: opens a session, sends one framed message, returns the first framed answer. */
async function exchange(page: Page, url: string, hash: Uint8Array, message: Uint8Array) {
  const answer = await page.evaluate(
    async ([target, pin, bytes]) => {
      const wt = new (globalThis as unknown as PageGlobals).WebTransport(target, {
        serverCertificateHashes: [{ algorithm: 'sha-256', value: new Uint8Array(pin) }],
      });
      await wt.ready;
      const stream = await wt.createBidirectionalStream();
      await stream.writable.getWriter().write(new Uint8Array(bytes));
      const reader = stream.readable.getReader();
      let got = new Uint8Array(0);
      for (;;) {
        if (got.length >= 4) {
          const length = new DataView(got.buffer).getUint32(0);
          if (got.length >= 4 + length) return Array.from(got.subarray(4, 4 + length));
        }
        const { value, done } = await reader.read();
        if (done) return Array.from(got);
        const joined = new Uint8Array(got.length + value.length);
        joined.set(got);
        joined.set(value, got.length);
        got = joined;
      }
    },
    [url, [...hash], [...frameControlMessage(message)]] as const,
  );
  return Uint8Array.from(answer);
}

describe.skipIf(!existsSync(CHROMIUM))('MC signaling over WebTransport (native Chromium)', () => {
  let browser: Browser;
  let web: nodeHttp.Server;

  beforeAll(async () => {
    web = nodeHttp.createServer((_request, response) =>
      response
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><title>mc</title>'),
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
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => web?.close(resolve));
  });

  it('joins over WebTransport, then opens its media session with the token it was given', async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(web.address() as AddressInfo).port}/`);
    const { token, meeting } = await userAndMeeting('wt-browser');
    const join = ClientMessage.encode({
      join: {
        accessToken: token,
        meetingId: meeting,
        layout: 'grid',
        region: '',
        keyPackage: Buffer.alloc(0),
      },
    }).finish();
    const answer = ServerMessage.decode(
      await exchange(
        page,
        mc.webTransportUrl as string,
        mc.webTransportCertificateSha256 as Uint8Array,
        join,
      ),
    );
    const response = answer.joinResponse;
    expect(response?.participantId).toMatch(/./);
    const handler = response?.mediaHandler;
    expect(handler?.webtransportUrl).toBe(mh.webTransportUrl);

    // The media session, with what the controller said: URL, certificate hash, token.
    const hello = ClientControl.encode({
      hello: { connectionToken: response?.connectionToken ?? '' },
    }).finish();
    const helloAnswer = HandlerControl.decode(
      await exchange(
        page,
        handler?.webtransportUrl ?? '',
        handler?.certHash ?? new Uint8Array(),
        hello,
      ),
    );
    expect(helloAnswer.helloAnswer?.accepted).toMatchObject({
      participant: response?.participantId,
      meeting,
    });
    await page.close();
  }, 30_000);
});
