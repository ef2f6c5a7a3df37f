import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { jwksCachePolicy } from '../../core/keys/jwks-cache.ts';
import { Forwarder } from '../../core/mh/forwarder.ts';
import { subjectNamesHandler } from '../../core/mh/peering.ts';
import { handlerId, regionId } from '../../core/ids.ts';
import { listenMetrics } from '../../adapters/http/metrics-listener.ts';
import { createHttpServer, type ReadinessReport } from '../../adapters/http/server.ts';
import { closeAll, drainHttp } from '../../adapters/http/shutdown.ts';
import { verifyConnectionToken } from '../../adapters/jwt/connection-tokens.ts';
import { JwksClient } from '../../adapters/jwt/jwks-client.ts';
import { verifyToken } from '../../adapters/jwt/tokens.ts';
import { connectQuic } from '../../adapters/quic/client.ts';
import { QuicMediaTransport } from '../../adapters/quic/server.ts';
import { VerifiedTokenCache } from '../../adapters/jwt/verified-cache.ts';
import { createLogger, type Logger } from '../../adapters/logging/logger.ts';
import { createHttpMetrics } from '../../adapters/metrics/registry.ts';
import { connectedWithin, createRedis, redisIsReachable } from '../../adapters/redis/client.ts';
import { RedisHandlerLoadStore } from '../../adapters/redis/mh-load-reports.ts';
import { UdpMediaTransport } from '../../adapters/udp/udp-transport.ts';
import {
  MEDIA_PATH,
  WebSocketMediaTransport,
} from '../../adapters/websocket/websocket-transport.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import { stopGrpcServer } from '../shared/grpc.ts';
import type { MhEnvironment } from './config.ts';
import { MediaHandlerDriver, type PeeringOptions } from './driver.ts';
import { mhGrpcService, ROUTE_SCOPE, startMhGrpcServer } from './grpc.ts';
import { RefreshingServiceToken } from '../shared/refreshing-token.ts';
import { registerMhMetrics, routeCommandTimer } from './metrics.ts';

/** Peer reports older than this are not read (admission ignores them after 10 s anyway). */
const PEER_REPORT_MAX_AGE_MS = 10_000;
/** How long start-up waits for Redis and the issuers' keys before serving anyway. */
const STARTUP_WAIT_MS = 2_000;

/** A running Media Handler. */
export interface RunningMh {
  readonly id: string;
  /** `ws://host:port/v1/media`: the WebSocket media ingress as bound. */
  readonly wsUrl: string;
  /** `host:port` of the QUIC ingress, when enabled, and its certificate's SHA-256. */
  readonly quicAddress: string | undefined;
  /** `https://host:port/v1/media`: WebTransport (HTTP/3) on the QUIC port, when enabled. */
  readonly webTransportUrl: string | undefined;
  readonly quicCertificateSha256: Uint8Array | undefined;
  /** `host:port` of the UDP benchmark ingress, when enabled. */
  readonly udpAddress: string | undefined;
  /** `host:port` of the route API (gRPC). */
  readonly grpcAddress: string;
  /** Base URL of `/health` and `/ready`. */
  readonly url: string;
  readonly metricsUrl: string;
  readonly logger: Logger;
  readonly driver: MediaHandlerDriver;
  /** SIGTERM: stop admitting, let sessions run for the grace, then close everything. */
  drainAndClose(): Promise<void>;
  /** Closes at once (sessions are cut). */
  close(): Promise<void>;
}

export interface MhStartOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
}

const urlHost = (host: string) => {
  const named = host === '0.0.0.0' || host === '::' ? hostname() : host;
  return named.includes(':') ? `[${named}]` : named;
};

/** Starts a Media Handler: transports, route API, health and metrics listeners. */
export async function startMh(
  env: MhEnvironment,
  options: MhStartOptions = {},
): Promise<RunningMh> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger('mh-service', env.LOG_LEVEL);
  const now = () => clock.now();
  // Redis carries load reports only: commands fail at once while it is unreachable.
  const redis = createRedis(env.REDIS_URL, env.MH_REDIS_KEY_PREFIX, { logger, cache: true });
  const loads = new RedisHandlerLoadStore(redis);
  const metrics = createHttpMetrics('mh');

  // Connection tokens: signed by Meeting Controllers, keys from each trusted one's JWKS.
  const controllerKeys = new JwksClient({
    policy: jwksCachePolicy(env.MH_TRUSTED_ISSUERS.keys()),
    jwksUrls: env.MH_TRUSTED_ISSUERS,
    now,
    logger,
  });
  // Service tokens on the route API: AC's keys.
  const acKeys = new JwksClient({
    policy: jwksCachePolicy([env.MH_SERVICE_TOKEN_ISSUER]),
    jwksUrls: new Map([[env.MH_SERVICE_TOKEN_ISSUER, env.acJwksUrl]]),
    now,
    logger,
  });
  // Keys are fetched until held, retrying quickly while an issuer does not answer.
  const stopKeyFetch = new AbortController();
  const keysFetched = Promise.all([
    controllerKeys.fetchUntilHeld(stopKeyFetch.signal),
    acKeys.fetchUntilHeld(stopKeyFetch.signal),
  ]);

  const forwarder = new Forwarder({
    handler: handlerId(env.MH_ID),
    region: regionId(env.MH_REGION),
    capacityBps: env.MH_CAPACITY_BPS,
    startMs: clock.now(),
  });
  let publicWsUrl = env.MH_PUBLIC_WS_URL ?? '';
  let quicRecord: { address: string; certificateSha256: string } | undefined;
  // Peer links: a dialing handler proves its id with an AC service token of scope
  // service.write.mh whose subject is its service account (core's rule names the account).
  const peerPolicy = {
    trustedIssuers: new Set([env.MH_SERVICE_TOKEN_ISSUER]),
    audience: env.MH_TOKEN_AUDIENCE,
    requiredScopes: [ROUTE_SCOPE],
  };
  // The handler's own service token for the links it dials, refreshed by core's policy.
  const tokens =
    env.MH_AC_CLIENT_ID !== undefined && env.MH_AC_CLIENT_SECRET !== undefined
      ? new RefreshingServiceToken({
          credentials: {
            url: `${(env.AC_INTERNAL_URL as string).replace(/\/$/, '')}/v1/auth/service/token`,
            clientId: env.MH_AC_CLIENT_ID,
            clientSecret: env.MH_AC_CLIENT_SECRET,
          },
          clock,
          logger,
        }).start()
      : undefined;
  const peering: PeeringOptions = {
    token: async () => {
      if (tokens === undefined)
        throw new Error('no service account (MH_AC_CLIENT_ID) to dial peers');
      const token = (await tokens.ready(5_000)) ? tokens.current() : undefined;
      if (token === undefined) throw new Error('no service token from AC yet');
      return token;
    },
    dial: async (target) => {
      const connection = await connectQuic(target.host, target.port, {
        serverCertificateHash: target.certificateSha256,
        onError: (error) => logger.error({ err: error }, 'peer link event handler failed'),
      });
      return {
        connection,
        setEvents: (events) => {
          connection.events = events;
        },
      };
    },
    verify: async (token, handler, at) => {
      const verified = await verifyToken(token, acKeys, peerPolicy, at);
      if (!verified.ok) {
        metrics.authFailures.inc({ reason: verified.error.kind });
        return { ok: false, reason: verified.error.kind };
      }
      if (!subjectNamesHandler(verified.value.subject, handler)) {
        metrics.authFailures.inc({ reason: 'peer_not_named' });
        return { ok: false, reason: 'peer_not_named' };
      }
      return { ok: true };
    },
  };
  const driver = new MediaHandlerDriver({
    forwarder,
    verify: (token, at) => verifyConnectionToken(token, controllerKeys, at),
    clock,
    logger,
    helloTimeoutMs: env.MH_HELLO_TIMEOUT_MS,
    publishLoad: (record) => loads.publish(record),
    readPeers: () => loads.list(env.MH_REGION, now(), PEER_REPORT_MAX_AGE_MS),
    address: () => publicWsUrl,
    quic: () => quicRecord,
    peering,
  });

  const transportDrops = new Map<string, number>();
  const countDrop = (reason: string) =>
    transportDrops.set(reason, (transportDrops.get(reason) ?? 0) + 1);
  const ws = new WebSocketMediaTransport({
    host: env.MH_WS_BIND_ADDRESS.host,
    port: env.MH_WS_BIND_ADDRESS.port,
    maxDatagramBytes: env.MH_MAX_DATAGRAM_BYTES,
    onDrop: countDrop,
  });
  const wsBound = await driver.attach(ws);
  const wsUrl = `ws://${urlHost(wsBound.host)}:${wsBound.port}${MEDIA_PATH}`;
  if (publicWsUrl === '') publicWsUrl = wsUrl;
  let quicAddress: string | undefined;
  let webTransportUrl: string | undefined;
  let quicCertificateSha256: Uint8Array | undefined;
  if (env.MH_QUIC_BIND_ADDRESS !== undefined) {
    const pair =
      env.MH_QUIC_CERT_FILE !== undefined && env.MH_QUIC_KEY_FILE !== undefined
        ? {
            certPem: await readFile(env.MH_QUIC_CERT_FILE, 'utf8'),
            keyPem: await readFile(env.MH_QUIC_KEY_FILE, 'utf8'),
          }
        : {};
    const quic = new QuicMediaTransport({
      host: env.MH_QUIC_BIND_ADDRESS.host,
      port: env.MH_QUIC_BIND_ADDRESS.port,
      ...pair,
      // Browsers reach the same port with WebTransport over HTTP/3 (ALPN h3).
      webTransport: { paths: [MEDIA_PATH] },
      onError: (error) => logger.error({ err: error }, 'QUIC event handler failed'),
    });
    const bound = await driver.attach(quic);
    quicAddress = `${urlHost(bound.host)}:${bound.port}`;
    webTransportUrl = `https://${quicAddress}${MEDIA_PATH}`;
    quicCertificateSha256 = quic.certificateSha256;
    quicRecord = {
      address: env.MH_PUBLIC_QUIC_ADDRESS ?? quicAddress,
      certificateSha256: Buffer.from(quicCertificateSha256).toString('hex'),
    };
  }
  let udpAddress: string | undefined;
  if (env.MH_UDP_BIND_ADDRESS !== undefined) {
    const udp = new UdpMediaTransport({
      host: env.MH_UDP_BIND_ADDRESS.host,
      port: env.MH_UDP_BIND_ADDRESS.port,
      maxDatagramBytes: env.MH_MAX_DATAGRAM_BYTES,
      onDrop: countDrop,
    });
    const bound = await driver.attach(udp);
    udpAddress = `${urlHost(bound.host)}:${bound.port}`;
    logger.warn({ udp: udpAddress }, 'plain UDP ingress enabled: benchmark mode only');
  }
  let listening = true;
  driver.start();

  // Start-up waits a little for Redis and the keys, then serves anyway (degraded until held).
  const [connected] = await Promise.all([
    connectedWithin(redis, STARTUP_WAIT_MS),
    Promise.race([keysFetched, sleep(STARTUP_WAIT_MS, undefined, { ref: false })]),
  ]);
  if (!connected) logger.warn('redis unreachable: load reports are not published (degraded)');

  registerMhMetrics(metrics.registry, driver, () => transportDrops);
  const readiness = async (): Promise<ReadinessReport> => {
    const redisUp = await redisIsReachable(redis);
    const tokenKeys = controllerKeys.holdsUsableKeys(now());
    const serviceKeys = acKeys.holdsUsableKeys(now());
    return {
      // Media flows without Redis and without keys for new tokens; a draining handler or one
      // whose transports are closed takes no one.
      ready: listening && !forwarder.draining,
      degraded: !redisUp || !tokenKeys || !serviceKeys,
      components: {
        transports: listening ? 'listening' : 'stopped',
        admission: forwarder.draining ? 'draining' : 'open',
        redis: redisUp ? 'ok' : 'unreachable',
        connection_token_keys: tokenKeys ? 'ok' : 'missing',
        service_token_keys: serviceKeys ? 'ok' : 'missing',
      },
    };
  };
  const app = createHttpServer({ logger, metrics, readiness, bodyLimit: 1_024 });
  const url = await app.listen({ host: env.BIND_ADDRESS.host, port: env.BIND_ADDRESS.port });
  const grpc = await startMhGrpcServer(
    mhGrpcService({
      target: driver,
      bearer: {
        keys: acKeys,
        verifiedTokens: new VerifiedTokenCache(),
        policy: {
          trustedIssuers: new Set([env.MH_SERVICE_TOKEN_ISSUER]),
          audience: env.MH_TOKEN_AUDIENCE,
        },
        onRejected: (reason) => metrics.authFailures.inc({ reason }),
      },
      clock,
      logger,
      onRouteCommandServed: routeCommandTimer(metrics.registry),
    }),
    env.MH_GRPC_BIND_ADDRESS,
  );
  const grpcAddress = `${env.MH_GRPC_BIND_ADDRESS.host}:${grpc.port}`;
  const metricsListener = await listenMetrics(metrics.registry, env.METRICS_BIND_ADDRESS);
  logger.info(
    {
      mh_id: env.MH_ID,
      region: env.MH_REGION,
      ws: wsUrl,
      quic: quicAddress,
      webtransport: webTransportUrl,
      udp: udpAddress,
      grpc: grpcAddress,
      url,
      metrics_url: metricsListener.url,
    },
    'mh-service listening',
  );

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= closeAll(
      [
        { name: 'route api', close: () => stopGrpcServer(grpc.server) },
        {
          name: 'transports',
          close: async () => {
            listening = false;
            await driver.stop();
          },
        },
        { name: 'http', close: () => drainHttp(app) },
        { name: 'metrics', close: () => metricsListener.close() },
        { name: 'key fetch', close: async () => stopKeyFetch.abort() },
        { name: 'service token', close: async () => tokens?.stop() },
        { name: 'redis', close: async () => void (await redis.quit()) },
      ],
      logger,
    ));
  return {
    id: env.MH_ID,
    wsUrl,
    quicAddress,
    webTransportUrl,
    quicCertificateSha256,
    udpAddress,
    grpcAddress,
    url,
    metricsUrl: metricsListener.url,
    logger,
    driver,
    async drainAndClose() {
      logger.info(
        { sessions: forwarder.sessionCount, grace_ms: env.MH_DRAIN_GRACE_MS },
        'draining: no new sessions',
      );
      await driver.drain(env.MH_DRAIN_GRACE_MS);
      logger.info('drained');
      await close();
    },
    close,
  };
}
