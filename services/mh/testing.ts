// Test support for the Media Handler's integration tests: a stand-in controller's signing key
// and JWKS endpoint (the issuer of connection tokens), AC with a route-API service account, the
// handler's environment, and media clients over the `ws` package.
import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import type { ConnectionGrant } from '../../core/mh/claims.ts';
import { handlerId, meetingId, participantId } from '../../core/ids.ts';
import { parseEnvironment } from '../../adapters/config/env.ts';
import { signConnectionToken } from '../../adapters/jwt/connection-tokens.ts';
import type { SigningKeyMaterial } from '../../adapters/jwt/tokens.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import { createPool } from '../../adapters/postgres/pool.ts';
import { connectQuic } from '../../adapters/quic/client.ts';
import { registerService } from '../ac/accounts.ts';
import {
  MediaClient,
  type ConnectOutcome,
  type WebSocketConstructor,
} from '../../client/media/index.ts';
import { startAc, type RunningAc } from '../ac/server.ts';
import { serviceTokenFor } from '../gc/testing.ts';
import {
  acTestEnvironment,
  isolatedBackends,
  parsedEnvironment,
  pgAcStores,
  TEST_REDIS_URL,
  type IsolatedBackends,
} from '../shared/testing.ts';
import { mhEnvironment, type MhEnvironment } from './config.ts';

/** A controller's Ed25519 key published at a JWKS URL of its own. */
export interface StandInController {
  readonly issuer: string;
  readonly key: SigningKeyMaterial;
  readonly jwksUrl: string;
  close(): Promise<void>;
}

/** A key pair and a loopback JWKS server publishing its public half. */
export async function startStandInController(issuer: string): Promise<StandInController> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const kid = `${issuer}-${randomUUID()}`;
  const jwk = { ...createPublicKey(privateKey).export({ format: 'jwk' }), kid, alg: 'EdDSA' };
  const body = JSON.stringify({ keys: [jwk] });
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    issuer,
    key: { kid, privateKey },
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** AC on isolated backends, and a token of a service allowed to call the route API. */
export interface AcForMh {
  readonly backends: IsolatedBackends;
  readonly ac: RunningAc;
  /** Scope service.write.mh. */
  readonly routeToken: string;
  /** Scope service.write.gc only: refused by the route API. */
  readonly otherToken: string;
  /** Registers a service account (client credentials) under `name` with `scopes`. */
  registerService(
    name: string,
    scopes: readonly string[],
  ): Promise<{ clientId: string; clientSecret: string }>;
  close(): Promise<void>;
}

export async function startAcForMh(logger: Logger): Promise<AcForMh> {
  const backends = await isolatedBackends();
  const pool = createPool(backends.databaseUrl, 2);
  const ac = await startAc(
    acTestEnvironment(backends, { AC_REDIS_KEY_PREFIX: `${backends.redisPrefix}ac:` }),
    { logger, scheduleRotation: false },
  );
  const route = await serviceTokenFor(ac, pool, {
    name: 'meeting-controller',
    scopes: ['service.write.mh'],
  });
  const other = await serviceTokenFor(ac, pool, { name: 'gc-only', scopes: ['service.write.gc'] });
  return {
    backends,
    ac,
    routeToken: route.token,
    otherToken: other.token,
    async registerService(name, scopes) {
      const registered = await registerService(pgAcStores(pool), { name, scopes, org: 'default' });
      if (!registered.ok) throw new Error(`cannot register ${name}`);
      return registered.value;
    },
    async close() {
      await ac.close();
      await pool.end();
      await backends.cleanUp();
    },
  };
}

/** A handler's environment on loopback, ephemeral ports (`extra` adds or overrides). */
/** What a test handler is started with. */
export interface MhTestOptions {
  readonly id: string;
  readonly acUrl: string;
  readonly controllers: readonly Pick<StandInController, 'issuer' | 'jwksUrl'>[];
  readonly redisPrefix: string;
  readonly extra?: Readonly<Record<string, string>>;
}

/**
 * The raw environment of a test handler (loopback, ephemeral ports, trusting `controllers`):
 * for a handler run as a process.
 */
export function mhRawEnvironment(options: MhTestOptions): Record<string, string> {
  return {
    MH_ID: options.id,
    MH_REGION: 'us-west-1',
    MH_WS_BIND_ADDRESS: '127.0.0.1:0',
    BIND_ADDRESS: '127.0.0.1:0',
    METRICS_BIND_ADDRESS: '127.0.0.1:0',
    MH_GRPC_BIND_ADDRESS: '127.0.0.1:0',
    MH_TRUSTED_ISSUERS: options.controllers.map((c) => `${c.issuer}=${c.jwksUrl}`).join(','),
    AC_INTERNAL_URL: options.acUrl,
    REDIS_URL: TEST_REDIS_URL,
    MH_REDIS_KEY_PREFIX: options.redisPrefix,
    LOG_LEVEL: 'silent',
    ...options.extra,
  };
}

/** The same, parsed: for a handler started in process with `startMh`. */
export function mhTestEnvironment(options: MhTestOptions): MhEnvironment {
  return parsedEnvironment(parseEnvironment(mhEnvironment, mhRawEnvironment(options)));
}

/** A 60 s grant for `participant` of `meeting` on `handler`, issued at `now`. */
export function grant(
  meeting: string,
  participant: string,
  handler: string,
  now: number = Date.now(),
  lifetimeMs = 60_000,
): ConnectionGrant {
  return {
    meeting: meetingId(meeting),
    participant: participantId(participant),
    handler: handlerId(handler),
    issuedAtMs: now,
    expiresAtMs: now + lifetimeMs,
  };
}

/** A signed connection token from `controller`. */
export const tokenFrom = (controller: StandInController, claims: ConnectionGrant, nonce?: string) =>
  signConnectionToken(claims, controller.issuer, controller.key, nonce);

/** Connects a media client with `ws` and returns it with the handler's answer. */
export function connectClient(
  url: string,
  token: string,
): Promise<{ client: MediaClient | undefined; outcome: ConnectOutcome }> {
  return MediaClient.connect({
    url,
    token,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
}

/** A client whose hello was accepted; throws otherwise. */
export async function acceptedClient(url: string, token: string): Promise<MediaClient> {
  const { client, outcome } = await connectClient(url, token);
  if (client === undefined || outcome.kind !== 'accepted') {
    throw new Error(`not accepted: ${JSON.stringify(outcome)}`);
  }
  return client;
}

/** The value of one metric line (`name{labels}`) in a Prometheus text answer, or 0. */
export async function metricValue(metricsUrl: string, series: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return 0;
}

/** Every `mh_datagram_drops_total` series by reason. */
export async function dropsByReason(metricsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const drops: Record<string, number> = {};
  for (const match of text.matchAll(/^mh_datagram_drops_total\{reason="([^"]+)"\} (\S+)$/gm)) {
    drops[match[1] as string] = Number(match[2]);
  }
  return drops;
}

/** Waits until `check` holds (polling every 20 ms), failing after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A media client over QUIC (adapters/quic's Node connection) whose hello was accepted. */
export async function acceptedQuicClient(
  mh: { quicAddress: string | undefined; quicCertificateSha256: Uint8Array | undefined },
  token: string,
): Promise<MediaClient> {
  const [host, port] = (mh.quicAddress as string).split(':') as [string, string];
  const link = await connectQuic(host, Number(port), {
    serverCertificateHash: mh.quicCertificateSha256 as Uint8Array,
  });
  const { client, outcome } = await MediaClient.connectLink({ link, token });
  if (client === undefined || outcome.kind !== 'accepted') {
    throw new Error(`not accepted over QUIC: ${JSON.stringify(outcome)}`);
  }
  return client;
}
