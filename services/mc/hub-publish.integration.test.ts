// The hub's second publish end to end: AC, GC, a Meeting Controller and two Media Handlers in
// process, on real PostgreSQL and Redis and loopback ports; three users join through the client
// library (client/meeting). Each handler holds two participants' streams, not three, so the
// meeting spans both handlers: the plan has the member homed away from the hub publish to its
// home and to the hub, which cascades the hub side's streams to it. The controller names the
// hub in a `PublishAlso`; the client opens a second connection there and sends each datagram on
// both. Checked: the away member was told to publish to the hub, and the members on the hub
// receive its frames (which reach the hub only through that second publish).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createMeeting, login, MeetingSession } from '../../client/meeting/index.ts';
import { userTokenIn } from '../gc/testing.ts';
import { startMh, type RunningMh } from '../mh/server.ts';
import { eventually, mhTestEnvironment, type StandInController } from '../mh/testing.ts';
import { registerService } from '../ac/accounts.ts';
import { http, pgAcStores } from '../shared/testing.ts';
import {
  JOIN_SCOPES,
  mcTestEnvironment,
  startControlPlane,
  type ControlPlane,
} from './control-plane-testing.ts';
import { startMc, type RunningMc } from './server.ts';

const logger = createLogger('test', 'silent');
const MC_ID = 'mc-hub-test';
/** Two participants' streams fit on a handler below its hard limit, three do not. */
const HANDLER_CAPACITY_BPS = 15_000_000;

let plane: ControlPlane;
let mc: RunningMc;
const mhs: RunningMh[] = [];
const sessions: MeetingSession[] = [];
const routeAddresses = new Map<string, string>();

beforeAll(async () => {
  plane = await startControlPlane(logger);
  mc = await startMc(mcTestEnvironment(plane, MC_ID), {
    logger,
    routeAddress: (handler) => routeAddresses.get(handler),
  });
  const controller = { issuer: MC_ID, jwksUrl: mc.jwksUrl } as StandInController;
  for (const id of ['mh-1', 'mh-2']) {
    // QUIC peer links for the cascade, dialled with the handler's own AC service account.
    const account = await registerService(pgAcStores(plane.pool), {
      name: id,
      scopes: ['service.write.mh'],
      org: 'default',
    });
    if (!account.ok) throw new Error(`cannot register ${id}`);
    const mh = await startMh(
      mhTestEnvironment({
        id,
        acUrl: plane.ac.url,
        controllers: [controller],
        redisPrefix: `${plane.backends.redisPrefix}mh:`,
        extra: {
          MH_QUIC_BIND_ADDRESS: '127.0.0.1:0',
          MH_AC_CLIENT_ID: account.value.clientId,
          MH_AC_CLIENT_SECRET: account.value.clientSecret,
          MH_CAPACITY_BPS: String(HANDLER_CAPACITY_BPS),
        },
      }),
      { logger },
    );
    routeAddresses.set(id, mh.grpcAddress);
    mhs.push(mh);
  }
  await eventually(
    async () => (await http(`${mc.url}/ready`)).body.media_handlers === '2',
    10_000,
    'both handlers known',
  );
}, 30_000);

afterAll(async () => {
  for (const session of sessions) await session.leave().catch(() => undefined);
  await mc?.close();
  for (const mh of mhs) await mh.close();
  await plane?.close();
});

describe('the hub publish', () => {
  it('a member homed away from the hub is told to publish to it too; the hub side receives its frames', async () => {
    const names = ['ann', 'bob', 'cat'];
    const tokens: string[] = [];
    for (const name of names) {
      const password = `${name}-password-1`;
      await userTokenIn(plane.ac, plane.pool, {
        username: name,
        password,
        org: 'default',
        scopes: JOIN_SCOPES,
      });
      tokens.push((await login(plane.ac.url, { username: name, password })).accessToken);
    }
    const meeting = await createMeeting(plane.gc.url, tokens[0] as string, 'Hub');
    const options = {
      gcUrl: plane.gc.url,
      meetingId: meeting.meetingId,
      WebSocket: WebSocket as never,
    };
    const got = new Map<string, Set<string>>();
    for (const token of tokens) {
      const session = await MeetingSession.join({ ...options, token });
      sessions.push(session);
      const from = new Set<string>();
      got.set(session.participantId, from);
      session.onFrame = (publisher) => publisher !== undefined && from.add(publisher);
    }
    const cameras = sessions.map((s) => s.publisher('camera'));
    const sender = setInterval(() => {
      for (const camera of cameras) camera.publish(new Uint8Array(100));
    }, 20);
    try {
      // The meeting spans both handlers, and one member publishes to the hub besides its home.
      await eventually(
        () => new Set(sessions.map((s) => s.handler.id)).size === 2,
        10_000,
        'the meeting on both handlers',
      );
      const plan = mc.driver.endpoint.meeting(meeting.meetingId as never)?.plan;
      const hub = plan?.hub ?? '';
      await eventually(
        () =>
          sessions.some((s) => s.handler.id !== hub) &&
          sessions.every((s) => s.handler.id === hub || s.hubHandler?.id === hub),
        10_000,
        'the members away from the hub told to publish to it',
      );
      const away = sessions.filter((s) => s.handler.id !== hub);
      const onHub = sessions.filter((s) => s.handler.id === hub);
      expect(away.length).toBeGreaterThan(0);
      expect(onHub.length).toBeGreaterThan(0);
      for (const s of away) expect(s.hubHandler?.id).toBe(hub);
      for (const s of onHub) expect(s.hubHandler).toBeUndefined();
      // Every member receives every other member's frames: those of a member away from the
      // hub reach the hub side only through its second publish.
      await eventually(
        () =>
          sessions.every((s) =>
            sessions.every((o) => o === s || got.get(s.participantId)?.has(o.participantId)),
          ),
        10_000,
        `frames between all: ${JSON.stringify([...got].map(([k, v]) => [k, [...v]]))}`,
      );
    } finally {
      clearInterval(sender);
    }
  });
});
