/**
 * A whole local platform for the browser client, in one process: AC, GC, a Meeting Controller
 * and two Media Handlers (as services/mc/join.integration.test.ts starts them) on loopback
 * ephemeral ports, over a private PostgreSQL database and Redis key prefix, plus users and the
 * web server. The Playwright suite starts it (global setup); `npm run web:local` runs it for a
 * person with a browser. It prints one line `DARK_TOWER_WEB_STACK {json}` when ready and stops
 * (dropping its database and keys) on SIGTERM or SIGINT, and when its standard input closes if
 * WEB_STACK_STOP_ON_STDIN_END=1 (the suite's global setup sets it).
 *
 *   WEB_STACK_USERS   users to create (default alice,bob,carol,dave), password `<name>-password-1`
 *   WEB_BIND_ADDRESS  the web server's host:port (default 127.0.0.1:0; web:local uses :5173)
 */
import { createLogger } from '../../../adapters/logging/logger.ts';
import { createUser } from '../../../services/ac/accounts.ts';
import {
  mcTestEnvironment,
  startControlPlane,
} from '../../../services/mc/control-plane-testing.ts';
import { startMc } from '../../../services/mc/server.ts';
import { startMh, type RunningMh } from '../../../services/mh/server.ts';
import {
  eventually,
  mhTestEnvironment,
  type StandInController,
} from '../../../services/mh/testing.ts';
import { http, pgAcStores } from '../../../services/shared/testing.ts';
import { startWebServer } from '../server.ts';

export const READY_PREFIX = 'DARK_TOWER_WEB_STACK ';
const MC_ID = 'mc-web-1';
const USER_SCOPES = ['user.read.gc', 'user.write.gc', 'user.write.mc'];

export interface WebStackInfo {
  readonly webUrl: string;
  readonly acUrl: string;
  readonly gcUrl: string;
  readonly mcSignalingUrl: string;
  readonly mcWebTransportUrl: string | undefined;
  readonly users: readonly { username: string; password: string }[];
}

const closers: (() => Promise<unknown>)[] = [];
let stopping = false;

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
  process.exit(code);
}

async function main(): Promise<void> {
  const logger = createLogger(
    'web-stack',
    process.env.LOG_LEVEL === undefined ? 'silent' : (process.env.LOG_LEVEL as 'info'),
  );
  const plane = await startControlPlane(logger);
  closers.push(() => plane.close());
  const { ac, gc, pool, backends } = plane;
  const routeAddresses = new Map<string, string>();
  // WebTransport signaling (HTTP/3 and HTTP/2) beside the WebSocket; the handlers' QUIC ports
  // carry WebTransport media.
  const mc = await startMc(
    mcTestEnvironment(plane, MC_ID, {
      MC_WEBTRANSPORT_BIND_ADDRESS: '127.0.0.1:0',
      MC_WEBTRANSPORT_H2_BIND_ADDRESS: '127.0.0.1:0',
      // The page sends Opus beside its camera.
      MC_FORWARD_AUDIO: 'true',
    }),
    {
      logger,
      routeAddress: (handler) => routeAddresses.get(handler),
    },
  );
  closers.push(() => mc.close());
  const controller = { issuer: MC_ID, jwksUrl: mc.jwksUrl } as StandInController;
  const mhs: RunningMh[] = [];
  for (const id of ['mh-1', 'mh-2']) {
    const mh = await startMh(
      mhTestEnvironment({
        id,
        acUrl: ac.url,
        controllers: [controller],
        redisPrefix: `${backends.redisPrefix}mh:`,
        extra: { MH_QUIC_BIND_ADDRESS: '127.0.0.1:0' },
      }),
      { logger },
    );
    closers.push(() => mh.close());
    routeAddresses.set(id, mh.grpcAddress);
    mhs.push(mh);
  }
  await eventually(
    async () => (await http(`${mc.url}/ready`)).body.media_handlers === '2',
    15_000,
    'both handlers known to the controller',
  );

  const names = (process.env.WEB_STACK_USERS ?? 'alice,bob,carol,dave')
    .split(',')
    .filter((n) => n !== '');
  const users = names.map((username) => ({ username, password: `${username}-password-1` }));
  await Promise.all(
    users.map(async (user) => {
      const created = await createUser(
        { ...pgAcStores(pool), bcryptCost: 12 },
        { ...user, org: 'default', scopes: USER_SCOPES },
      );
      if (!created.ok) throw new Error(`cannot create ${user.username}: ${created.error.kind}`);
    }),
  );

  const bind = /^(.+):(\d+)$/.exec(process.env.WEB_BIND_ADDRESS ?? '127.0.0.1:0');
  const web = await startWebServer({
    host: bind?.[1] ?? '127.0.0.1',
    port: Number(bind?.[2] ?? 0),
    acUrl: ac.url,
    gcUrl: gc.url,
    // Another build of the page (bench/browser-join.ts --against: another revision's client).
    ...(process.env.DARK_TOWER_WEB_ROOT ? { root: process.env.DARK_TOWER_WEB_ROOT } : {}),
  });
  closers.push(() => web.close());
  const info: WebStackInfo = {
    webUrl: web.url,
    acUrl: ac.url,
    gcUrl: gc.url,
    mcSignalingUrl: mc.signalingUrl,
    mcWebTransportUrl: mc.webTransportUrl,
    users,
  };
  process.stdout.write(`${READY_PREFIX}${JSON.stringify(info)}\n`);
  if (process.stdout.isTTY) {
    process.stdout.write(
      `\nOpen ${web.url}/ and log in as ${users.map((u) => `${u.username}/${u.password}`).join(', ')}.\n` +
        'The first creates a meeting ("Create meeting"); the others join with its code. Ctrl-C stops.\n',
    );
  }
}

process.once('SIGTERM', () => void stop(0));
process.once('SIGINT', () => void stop(0));
// A parent that dies takes the stack with it (the suite's global setup asks for this).
if (process.env.WEB_STACK_STOP_ON_STDIN_END === '1') {
  process.stdin.on('end', () => void stop(0));
  process.stdin.resume();
}
main().catch((error: unknown) => {
  console.error(error);
  void stop(1);
});
