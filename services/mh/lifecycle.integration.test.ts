// A handler losing Redis, and a handler draining on SIGTERM (in-process: what main.ts's
// signal handler calls; and as a process, signal and exit).
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createRedis } from '../../adapters/redis/client.ts';
import { MediaKind } from '../generated/darktower/mh/v1/route.ts';
import { PrivateRedis, REDIS_SERVER_BINARY, sparePort } from '../shared/private-redis.ts';
import { connectMh } from './grpc-client.ts';
import { startMh, type RunningMh } from './server.ts';
import {
  acceptedClient,
  connectClient,
  eventually,
  grant,
  mhRawEnvironment,
  mhTestEnvironment,
  startAcForMh,
  startStandInController,
  tokenFrom,
  type AcForMh,
  type StandInController,
} from './testing.ts';

const logger = createLogger('test', 'silent');
let acm: AcForMh;
let controller: StandInController;

beforeAll(async () => {
  acm = await startAcForMh(logger);
  controller = await startStandInController('mc-1');
}, 30_000);

afterAll(async () => {
  await controller?.close();
  await acm?.close();
});

const readiness = async (mh: RunningMh) => {
  const response = await fetch(`${mh.url}/ready`);
  return { status: response.status, body: (await response.json()) as Record<string, string> };
};

/** Alice publishes her camera to Bob on `mh`; returns both and what Bob received. */
async function pair(mh: RunningMh, meeting: string) {
  const alice = await acceptedClient(
    mh.wsUrl,
    await tokenFrom(controller, grant(meeting, 'alice', mh.id)),
  );
  const bob = await acceptedClient(
    mh.wsUrl,
    await tokenFrom(controller, grant(meeting, 'bob', mh.id)),
  );
  const route = connectMh(mh.grpcAddress, acm.routeToken);
  await route.applyRouteCommand({
    id: `${meeting}-1`,
    meeting,
    controller: 'mc-1',
    add: [
      { publish: { publisher: 'alice', kind: MediaKind.MEDIA_KIND_CAMERA, handler: mh.id } },
      {
        deliver: {
          publisher: 'alice',
          kind: MediaKind.MEDIA_KIND_CAMERA,
          handler: mh.id,
          subscriber: 'bob',
        },
      },
    ],
    remove: [],
  });
  route.close();
  const received: number[] = [];
  bob.onDatagram = (header) => received.push(header.sequence);
  const camera = alice.publisher(meeting, 'alice', 'camera');
  return { alice, bob, received, send: () => camera.publish(Buffer.from('frame')) };
}

describe.skipIf(REDIS_SERVER_BINARY === undefined)('MH without Redis', () => {
  it('stays ready (degraded) and forwards while Redis is down; reports again when it is back', async () => {
    const redisServer = new PrivateRedis(await sparePort());
    await redisServer.start();
    const prefix = `${acm.backends.redisPrefix}mh-redis:`;
    const mh = await startMh(
      mhTestEnvironment({
        id: 'mh-redis',
        acUrl: acm.ac.url,
        controllers: [controller],
        redisPrefix: prefix,
        extra: { REDIS_URL: redisServer.url },
      }),
      { logger },
    );
    const probe = createRedis(redisServer.url, prefix);
    try {
      await eventually(async () => (await readiness(mh)).body.status === 'ready', 5_000, 'ready');
      const { alice, bob, received, send } = await pair(mh, 'meeting-redis');

      await redisServer.kill();
      expect(await readiness(mh)).toMatchObject({
        status: 200,
        body: { status: 'degraded', redis: 'unreachable', transports: 'listening' },
      });
      send();
      await eventually(() => received.length === 1, 3_000, 'media without Redis');
      // A new session is admitted without Redis too.
      const carol = await acceptedClient(
        mh.wsUrl,
        await tokenFrom(controller, grant('meeting-redis', 'carol', mh.id)),
      );
      await eventually(
        () => mh.driver.counters.loadReportFailures > 0,
        3_000,
        'a failed load report',
      );

      await redisServer.start();
      await eventually(
        async () => (await readiness(mh)).body.status === 'ready',
        10_000,
        'ready again',
      );
      await eventually(
        async () => (await probe.exists('{us-west-1}:handler:mh-redis').catch(() => 0)) === 1,
        10_000,
        'a load report after Redis came back',
      );
      await Promise.all([alice.close(), bob.close(), carol.close()]);
    } finally {
      probe.disconnect();
      await mh.close();
      await redisServer.kill();
    }
  }, 60_000);
});

describe('MH drain', () => {
  it('stops admitting, lets sessions run for the grace, then closes them and stops', async () => {
    const mh = await startMh(
      mhTestEnvironment({
        id: 'mh-drain',
        acUrl: acm.ac.url,
        controllers: [controller],
        redisPrefix: `${acm.backends.redisPrefix}mh-drain:`,
        extra: { MH_DRAIN_GRACE_MS: '1500' },
      }),
      { logger },
    );
    const { alice, bob, received, send } = await pair(mh, 'meeting-drain');
    const notices: string[] = [];
    alice.onSessionClosed = (reason) => notices.push(reason);
    const started = performance.now();
    const drained = mh.drainAndClose();

    // No new session: refused with a retry (no other handler in the region to redirect to).
    const late = await connectClient(
      mh.wsUrl,
      await tokenFrom(controller, grant('meeting-drain', 'dave', mh.id)),
    );
    expect(late.outcome).toEqual({ kind: 'rejected', reason: 'draining', retryAfterMs: 5_000 });
    expect(await readiness(mh)).toMatchObject({
      status: 503,
      body: { status: 'not_ready', admission: 'draining' },
    });
    // Open sessions still forward during the grace.
    send();
    await eventually(() => received.length === 1, 1_000, 'media while draining');

    const [aliceClosed, bobClosed] = await Promise.all([alice.closed, bob.closed]);
    expect([aliceClosed.code, bobClosed.code]).toEqual([4000, 4000]);
    expect(notices).toEqual(['draining']);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_400);
    await drained;
    expect(performance.now() - started).toBeLessThan(5_000);
    await expect(fetch(`${mh.url}/health`)).rejects.toThrow();
  }, 30_000);

  it('drains on SIGTERM as a process and exits 0', async () => {
    const env = {
      ...process.env,
      ...mhRawEnvironment({
        id: 'mh-sigterm',
        acUrl: acm.ac.url,
        controllers: [controller],
        redisPrefix: `${acm.backends.redisPrefix}mh-sigterm:`,
        extra: { MH_DRAIN_GRACE_MS: '500', LOG_LEVEL: 'info' },
      }),
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/mh/main.ts'], { env });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await eventually(() => output.includes('mh-service listening'), 20_000, 'the handler up');
    const listening = JSON.parse(
      output.split('\n').find((line) => line.includes('mh-service listening')) as string,
    ) as { ws: string };
    const client = await acceptedClient(
      listening.ws,
      await tokenFrom(controller, grant('meeting-sig', 'erin', 'mh-sigterm')),
    );
    child.kill('SIGTERM');
    const closed = await client.closed;
    expect(closed.code).toBe(4000);
    expect(await exited).toBe(0);
    expect(output).toContain('draining: no new sessions');
    expect(output).toContain('"reason":"draining"');
    expect(output).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./); // no token in any log line
  }, 40_000);
});

describe('MH redirects', () => {
  it('sends a client to the least-loaded handler of the region, with its address, when full or draining', async () => {
    const prefix = `${acm.backends.redisPrefix}mh-pair:`;
    const start = (id: string, extra: Record<string, string> = {}) =>
      startMh(
        mhTestEnvironment({
          id,
          acUrl: acm.ac.url,
          controllers: [controller],
          redisPrefix: prefix,
          extra,
        }),
        { logger },
      );
    // A handler of 2 kbit/s is over its hard limit with a few datagrams a second.
    const full = await start('mh-full', { MH_CAPACITY_BPS: '2000' });
    const roomy = await start('mh-roomy');
    try {
      const { alice, bob, received, send } = await pair(full, 'meeting-full');
      for (let i = 0; i < 10; i++) send();
      await eventually(() => received.length === 10, 3_000, 'media on the small handler');
      // Traffic throughout, or the next quiet second takes the band back down.
      const traffic = setInterval(send, 50);
      await eventually(
        () => full.driver.forwarder.band === 'hard-limit',
        5_000,
        'the small handler at its hard limit',
      );
      const hello = async (mh: RunningMh, participant: string) =>
        (
          await connectClient(
            mh.wsUrl,
            await tokenFrom(controller, grant('meeting-full', participant, mh.id)),
          )
        ).outcome;
      await eventually(
        async () => (await hello(full, `carol-${Math.random()}`)).kind === 'redirected',
        5_000,
        "a redirect (once the other handler's report is read)",
      );
      expect(await hello(full, 'dave')).toEqual({
        kind: 'redirected',
        handler: 'mh-roomy',
        address: roomy.wsUrl,
      });
      // A draining handler is never a target: its draining report is written before it closes.
      await roomy.drainAndClose();
      await eventually(
        async () => (await hello(full, `erin-${Math.random()}`)).kind === 'rejected',
        5_000,
        'no target once the other handler drains',
      );
      expect(await hello(full, 'frank')).toEqual({
        kind: 'rejected',
        reason: 'capacity',
        retryAfterMs: 5_000,
      });
      clearInterval(traffic);
      await Promise.all([alice.close(), bob.close()]);
    } finally {
      await full.close();
      await roomy.close();
    }
  }, 40_000);
});
