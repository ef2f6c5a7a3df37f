// A service's token kept fresh against a real AC (PostgreSQL, Redis) issuing 2-second service
// tokens: every token handed out is unexpired, refreshes come before expiry, failures back off,
// and an AC that comes back is used again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceTokenUrl } from '../../adapters/http/service-token.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { registerService } from '../ac/accounts.ts';
import { startAc, type RunningAc } from '../ac/server.ts';
import { systemClock } from './clock.ts';
import { RefreshingServiceToken } from './refreshing-token.ts';
import {
  acTestEnvironment,
  isolatedBackends,
  pgAcStores,
  testMasterKey,
  type IsolatedBackends,
} from './testing.ts';

const logger = createLogger('test', 'silent');
const LIFETIME_SECONDS = 2;

let backends: IsolatedBackends;
let pool: Pool;
let ac: RunningAc | undefined;
const masterKey = testMasterKey();
let credentials: { clientId: string; clientSecret: string };
const sources: RefreshingServiceToken[] = [];

const startTestAc = (bind = '127.0.0.1:0') =>
  startAc(
    acTestEnvironment(backends, {
      AC_MASTER_KEY: masterKey,
      AC_SERVICE_TOKEN_LIFETIME_SECONDS: String(LIFETIME_SECONDS),
      BIND_ADDRESS: bind,
    }),
    { logger, scheduleRotation: false },
  );

beforeAll(async () => {
  backends = await isolatedBackends();
  pool = createPool(backends.databaseUrl, 1);
  ac = await startTestAc();
  const registered = await registerService(pgAcStores(pool), {
    name: 'meeting-controller',
    scopes: ['service.write.gc', 'service.write.mh'],
    org: 'default',
  });
  if (!registered.ok) throw new Error('cannot register the service');
  credentials = registered.value;
});

afterAll(async () => {
  for (const source of sources) source.stop();
  await ac?.close();
  await pool?.end();
  await backends?.cleanUp();
});

const source = (url: string, clientSecret = credentials.clientSecret) => {
  const made = new RefreshingServiceToken({
    credentials: { url: serviceTokenUrl(url), clientId: credentials.clientId, clientSecret },
    clock: systemClock,
    logger,
  });
  sources.push(made);
  return made.start();
};

/** A token's `exp` in milliseconds (its payload, not verified: AC signed it). */
const expiryOf = (token: string): number =>
  (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp: number })
    .exp * 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('service token refresh against AC', () => {
  it('hands out only unexpired tokens and refreshes each before it expires', async () => {
    if (ac === undefined) throw new Error('no AC');
    const tokens = source(ac.url);
    expect(await tokens.ready(5_000)).toBe(true);
    const seen = new Set<string>();
    const started = Date.now();
    while (Date.now() - started < 3 * LIFETIME_SECONDS * 1000) {
      const token = tokens.current();
      expect(token).toBeDefined();
      // AC's exp is whole seconds, rounded down from the issue time: a token is never handed out
      // in its last tenth of life.
      expect(expiryOf(token ?? '')).toBeGreaterThan(Date.now());
      seen.add(token ?? '');
      await sleep(100);
    }
    // Refreshed at half its life: about two tokens a lifetime.
    expect(seen.size).toBeGreaterThanOrEqual(4);
    expect(seen.size).toBeLessThanOrEqual(8);
    expect(tokens.counts.failed).toBe(0);
  });

  it('backs off while AC refuses, instead of asking in a loop', async () => {
    if (ac === undefined) throw new Error('no AC');
    const refused = source(ac.url, 'not-the-secret');
    await sleep(2_500);
    expect(refused.current()).toBeUndefined();
    expect(refused.counts.issued).toBe(0);
    // Attempts at 0 s, then after 0.25-0.5 s, 0.5-1 s, 1-2 s: three or four by 2.5 s.
    expect(refused.counts.failed).toBeGreaterThanOrEqual(3);
    expect(refused.counts.failed).toBeLessThanOrEqual(4);
    refused.stop();
  });

  it('stops handing out a token that expired while AC was away, and recovers when it is back', async () => {
    if (ac === undefined) throw new Error('no AC');
    const address = new URL(ac.url).host;
    const tokens = source(ac.url);
    expect(await tokens.ready(5_000)).toBe(true);
    await ac.close();
    ac = undefined;
    await sleep(LIFETIME_SECONDS * 1000 + 200);
    expect(tokens.current()).toBeUndefined();
    expect(tokens.counts.failed).toBeGreaterThan(0);
    ac = await startTestAc(address);
    // The next retry is at most the backoff ceiling reached so far (2-4 s) away.
    expect(await tokens.ready(6_000)).toBe(true);
    expect(expiryOf(tokens.current() ?? '')).toBeGreaterThan(Date.now());
  }, 20_000);
});
