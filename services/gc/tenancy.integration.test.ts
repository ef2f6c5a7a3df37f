// Tenant isolation against running services: AC issues the tokens of two users of two
// organisations (claim `org`), and GC answers every meeting endpoint only inside the token's
// organisation. A meeting of another organisation is answered exactly as a meeting that does
// not exist (404), for readers, writers and GC admins alike, through both ways GC learns the
// organisation: the token alone (no tenant domain), and the token checked against the Host
// (`<org>.<tenant domain>`).
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../adapters/config/env.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import type { RunningAc } from '../ac/server.ts';
import { ManualClock } from '../shared/clock.ts';
import { isolatedBackends, parsedEnvironment, type IsolatedBackends } from '../shared/testing.ts';
import { gcEnvironment } from './config.ts';
import { startGc, type RunningGc } from './server.ts';
import { connectGc } from './grpc-client.ts';
import { mcRegistration, startAcForGc, userTokenIn } from './testing.ts';

const TENANT_DOMAIN = 'dark-tower.test';
const NO_SUCH_MEETING = { error: 'not_found', error_description: 'no such meeting' };
const logger = createLogger('test', 'silent');

let backends: IsolatedBackends;
let pool: Pool;
let ac: RunningAc;
/** GC that takes the organisation from the token alone. */
let byToken: RunningGc;
/** GC that serves tenant subdomains: the Host's organisation must be the token's. */
let bySubdomain: RunningGc;
/** alice: user of acme; bob: user of globex; globexAdmin: GC admin of globex. */
let alice: string;
let bob: string;
let globexAdmin: string;

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** A request to `gc` with `token`, and a Host header when given (fetch cannot set one). */
function call(
  gc: RunningGc,
  method: string,
  path: string,
  token: string,
  options: { host?: string; body?: object } = {},
): Promise<Reply> {
  const target = new URL(path, gc.url);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        method,
        hostname: target.hostname,
        port: target.port,
        path: target.pathname,
        headers: {
          ...(options.host === undefined ? {} : { host: options.host }),
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          authorization: `Bearer ${token}`,
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body === undefined ? undefined : JSON.stringify(options.body));
  });
}

const hostOf = (org: string) => `${org}.${TENANT_DOMAIN}`;
const meetingsIn = async (org: string) =>
  Number(
    (
      await pool.query<{ n: string }>('SELECT count(*) AS n FROM gc.meetings WHERE org_id = $1', [
        org,
      ])
    ).rows[0]?.n,
  );
const statusOf = async (id: string) =>
  (
    await pool.query<{ status: string }>('SELECT status FROM gc.meetings WHERE meeting_id = $1', [
      id,
    ])
  ).rows[0]?.status;

beforeAll(async () => {
  backends = await isolatedBackends();
  pool = createPool(backends.databaseUrl, 2);
  await pool.query(
    `INSERT INTO gc.orgs (org_id, display_name, max_participants)
     VALUES ('acme', 'Acme', 50), ('globex', 'Globex', 40)`,
  );
  const clock = new ManualClock(Date.parse('2026-11-22T04:00:00Z'));
  const started = await startAcForGc({
    backends,
    pool,
    clock,
    logger,
    user: { username: 'alice', password: 'alice-password', org: 'acme' },
  });
  ac = started.ac;
  alice = started.userToken;
  const rw = ['user.read.gc', 'user.write.gc'];
  bob = await userTokenIn(ac, pool, {
    username: 'bob',
    password: 'bob-password',
    org: 'globex',
    scopes: rw,
  });
  globexAdmin = await userTokenIn(ac, pool, {
    username: 'globex-admin',
    password: 'globex-admin-password',
    org: 'globex',
    scopes: ['user.admin.gc'],
  });
  byToken = await startGc(started.gcEnv, { clock, logger });
  const subdomainEnv = parsedEnvironment(
    parseEnvironment(gcEnvironment, {
      DATABASE_URL: backends.databaseUrl,
      REDIS_URL: started.gcEnv.REDIS_URL,
      BIND_ADDRESS: '127.0.0.1:0',
      GC_GRPC_BIND_ADDRESS: '127.0.0.1:0',
      GC_REGION: 'us-west-1',
      GC_TENANT_DOMAIN: TENANT_DOMAIN,
      AC_INTERNAL_URL: ac.url,
      GC_REDIS_KEY_PREFIX: started.gcEnv.GC_REDIS_KEY_PREFIX,
    }),
  );
  bySubdomain = await startGc(subdomainEnv, { clock, logger });
  // A controller to place meetings on, so a repeated read is served from memory.
  const mc = connectGc(byToken.grpcAddress, started.mcToken);
  await mc.registerMc(mcRegistration('mc-tenancy', 'us-west-1'));
  mc.close();
});

afterAll(async () => {
  await bySubdomain.close();
  await byToken.close();
  await ac.close();
  await pool.end();
  await backends.cleanUp();
});

describe('GC tenant isolation, organisation from the token', () => {
  it('POST /v1/meetings creates in the token organisation, never another', async () => {
    const [acmeBefore, globexBefore] = [await meetingsIn('acme'), await meetingsIn('globex')];
    const mine = await call(byToken, 'POST', '/v1/meetings', alice, { body: { title: 'Acme' } });
    expect(mine).toMatchObject({ status: 201, body: { org_id: 'acme', max_participants: 50 } });
    const theirs = await call(byToken, 'POST', '/v1/meetings', bob, { body: { title: 'Globex' } });
    expect(theirs).toMatchObject({ status: 201, body: { org_id: 'globex', max_participants: 40 } });
    // The tenant limit is the token organisation's: 50 is over Globex's 40.
    expect(
      await call(byToken, 'POST', '/v1/meetings', bob, {
        body: { title: 'Big', max_participants: 50 },
      }),
    ).toMatchObject({ status: 400 });
    expect([await meetingsIn('acme'), await meetingsIn('globex')]).toEqual([
      acmeBefore + 1,
      globexBefore + 1,
    ]);
  });

  it('GET /v1/meetings/:id of another organisation is a 404 like an unknown code', async () => {
    const id = (await call(byToken, 'POST', '/v1/meetings', alice, { body: { title: 'Acme' } }))
      .body.meeting_id as string;
    // Read twice by its owner first, so this replica holds it in memory (the fast path).
    expect(await call(byToken, 'GET', `/v1/meetings/${id}`, alice)).toMatchObject({
      status: 200,
      body: { meeting_controller: { id: 'mc-tenancy' } },
    });
    expect((await call(byToken, 'GET', `/v1/meetings/${id}`, alice)).status).toBe(200);
    const unknown = await call(byToken, 'GET', '/v1/meetings/abcdefghjkmn', bob);
    expect(unknown).toEqual({ status: 404, body: NO_SUCH_MEETING });
    for (const token of [bob, globexAdmin]) {
      expect(await call(byToken, 'GET', `/v1/meetings/${id}`, token)).toEqual(unknown);
    }
  });

  it('DELETE /v1/meetings/:id of another organisation is a 404, even for its GC admin', async () => {
    const id = (await call(byToken, 'POST', '/v1/meetings', alice, { body: { title: 'Acme' } }))
      .body.meeting_id as string;
    for (const token of [bob, globexAdmin]) {
      expect(await call(byToken, 'DELETE', `/v1/meetings/${id}`, token)).toEqual({
        status: 404,
        body: NO_SUCH_MEETING,
      });
    }
    expect(await statusOf(id)).toBe('active');
    // The admin's rights hold in its own organisation.
    const globexMeeting = (
      await call(byToken, 'POST', '/v1/meetings', bob, { body: { title: 'Globex' } })
    ).body.meeting_id as string;
    expect(
      await call(byToken, 'DELETE', `/v1/meetings/${globexMeeting}`, globexAdmin),
    ).toMatchObject({ status: 200, body: { status: 'ended', org_id: 'globex' } });
    expect(await call(byToken, 'DELETE', `/v1/meetings/${id}`, alice)).toMatchObject({
      status: 200,
      body: { status: 'ended' },
    });
  });
});

describe('GC tenant isolation, organisation from the token and the Host', () => {
  it('POST /v1/meetings at another organisation address is a 404 and stores nothing', async () => {
    const before = [await meetingsIn('acme'), await meetingsIn('globex')];
    expect(
      await call(bySubdomain, 'POST', '/v1/meetings', bob, {
        host: hostOf('acme'),
        body: { title: 'Intruder' },
      }),
    ).toEqual({ status: 404, body: { error: 'not_found', error_description: 'unknown tenant' } });
    expect(
      await call(bySubdomain, 'POST', '/v1/meetings', bob, {
        host: TENANT_DOMAIN,
        body: { title: 'Default org' },
      }),
    ).toMatchObject({ status: 404 });
    expect([await meetingsIn('acme'), await meetingsIn('globex')]).toEqual(before);
    expect(
      await call(bySubdomain, 'POST', '/v1/meetings', bob, {
        host: hostOf('globex'),
        body: { title: 'Own' },
      }),
    ).toMatchObject({ status: 201, body: { org_id: 'globex' } });
  });

  it('GET and DELETE /v1/meetings/:id answer 404 at any address but the meeting organisation', async () => {
    const created = await call(bySubdomain, 'POST', '/v1/meetings', alice, {
      host: hostOf('acme'),
      body: { title: 'Acme' },
    });
    expect(created).toMatchObject({ status: 201, body: { org_id: 'acme' } });
    const path = `/v1/meetings/${created.body.meeting_id as string}`;
    expect((await call(bySubdomain, 'GET', path, alice, { host: hostOf('acme') })).status).toBe(
      200,
    );
    const notFound = { status: 404, body: NO_SUCH_MEETING };
    for (const [token, host] of [
      [bob, hostOf('acme')],
      [bob, hostOf('globex')],
      [globexAdmin, hostOf('acme')],
      [globexAdmin, hostOf('globex')],
      // Alice's own token at another organisation's address is refused as well.
      [alice, hostOf('globex')],
    ] as const) {
      expect(await call(bySubdomain, 'GET', path, token, { host })).toEqual(notFound);
      expect(await call(bySubdomain, 'DELETE', path, token, { host })).toEqual(notFound);
    }
    expect(await statusOf(created.body.meeting_id as string)).toBe('active');
  });
});
