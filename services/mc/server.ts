import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Scope } from '../../core/auth/scopes.ts';
import { controllerId, meetingId, regionId, type HandlerId } from '../../core/ids.ts';
import { jwksCachePolicy } from '../../core/keys/jwks-cache.ts';
import { ControllerEndpoint } from '../../core/mc/endpoint.ts';
import type { HandlerReport } from '../../core/mc/handlers.ts';
import { DEFAULT_MEETING_TIMING } from '../../core/mc/meeting.ts';
import { DEFAULT_MLS_DELIVERY_CONFIG } from '../../core/mls/delivery.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type { RandomSource } from '../../core/random.ts';
import { listenMetrics } from '../../adapters/http/metrics-listener.ts';
import { createHttpServer, type ReadinessReport } from '../../adapters/http/server.ts';
import { closeAll, drainHttp } from '../../adapters/http/shutdown.ts';
import { signConnectionToken } from '../../adapters/jwt/connection-tokens.ts';
import { serviceTokenUrl } from '../../adapters/http/service-token.ts';
import { loadOrCreateSigningKey, publicJwks } from '../../adapters/jwt/key-file.ts';
import { JwksClient } from '../../adapters/jwt/jwks-client.ts';
import { verifyToken, type SigningKeyMaterial } from '../../adapters/jwt/tokens.ts';
import { VerifiedTokenCache } from '../../adapters/jwt/verified-cache.ts';
import { createLogger, type Logger } from '../../adapters/logging/logger.ts';
import { createHttpMetrics, registerScrapedGauge } from '../../adapters/metrics/registry.ts';
import {
  connectedWithin,
  createRedis,
  redisIsReachable,
  type Redis,
} from '../../adapters/redis/client.ts';
import { createStateConnection } from '../../adapters/redis/cluster.ts';
import {
  RedisMeetingCoordination,
  RedisMeetingStateStore,
  sessionKey,
  sessionValue,
} from '../../adapters/redis/meeting-state.ts';
import { DEFAULT_OWNERSHIP_POLICY, MeetingOwnership } from '../../core/mc/ownership.ts';
import type { McFailoverEnvironment } from './failover-config.ts';
import { MeetingStateKeeper } from './meeting-state.ts';
import { RedisMeetingStateEraser } from '../../adapters/redis/meeting-erase.ts';
import { RedisHandlerLoadStore } from '../../adapters/redis/mh-load-reports.ts';
import type { HandlerLoadRecord } from '../../ports/mh.ts';
import { McHealth } from '../generated/darktower/gc/v1/gc.ts';
import { MEDIA_PATH } from '../../adapters/websocket/websocket-transport.ts';
import { certificateSha256, selfSignedCertificate } from '../../adapters/quic/cert.ts';
import { QuicMediaTransport } from '../../adapters/quic/server.ts';
import {
  ErrorKind,
  type JoinRequest,
  type MediaHandler,
} from '../generated/darktower/mc/v1/signaling.ts';
import { connectGc } from '../gc/grpc-client.ts';
import { connectMh, type MhClient } from '../mh/grpc-client.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import {
  fixedServiceToken,
  RefreshingServiceToken,
  type ServiceTokenProvider,
} from '../shared/refreshing-token.ts';
import type { McEnvironment } from './config.ts';
import { ControllerDriver } from './driver.ts';
import { startSignalingOver } from './webtransport-signaling.ts';
import {
  participantOf,
  SIGNALING_PATH,
  startSignaling,
  type AdmittedJoin,
  type ConnectionOptions,
  type SignalingError,
} from './signaling.ts';

/** The scope a user's token needs to join a meeting (spec 003, join flow step 2). */
export const JOIN_SCOPE: Scope = { principal: 'user', operation: 'write', component: 'mc' };
/** Handlers report every second; the controller reads their reports as often. */
const LOAD_READ_INTERVAL_MS = 1_000;
/** Reports older than this are not read (core's view counts a silent handler lost sooner). */
const LOAD_REPORT_MAX_AGE_MS = 10_000;
const STARTUP_WAIT_MS = 2_000;
const GC_LOOKUP_TIMEOUT_MS = 2_000;
const RETRY_AFTER_MS = 1_000;
const MEETING_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_ACCESS_TOKEN_LENGTH = 8_192;

export interface RunningMc {
  readonly id: string;
  /** `ws://host:port/v1/signaling` as bound. */
  readonly signalingUrl: string;
  /**
   * `https://host:port/v1/signaling` over WebTransport: HTTP/3 (UDP) and HTTP/2 (TCP), when
   * enabled, and the certificate hash both present.
   */
  readonly webTransportUrl: string | undefined;
  readonly webTransportH2Url: string | undefined;
  readonly webTransportCertificateSha256: Uint8Array | undefined;
  /** Base URL of `/health`, `/ready` and `/.well-known/jwks.json`. */
  readonly url: string;
  readonly jwksUrl: string;
  readonly metricsUrl: string;
  readonly logger: Logger;
  readonly driver: ControllerDriver;
  close(): Promise<void>;
}

export interface McStartOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** A handler's route API address, before the configured ones (tests on ephemeral ports). */
  readonly routeAddress?: (handler: HandlerId) => string | undefined;
  /** Shared meeting state: a Redis Cluster and the controller lease (defaults: REDIS_URL, 3 s lease). */
  readonly failover?: Partial<McFailoverEnvironment>;
}

const urlHost = (host: string) => {
  const named = host === '0.0.0.0' || host === '::' ? hostname() : host;
  return named.includes(':') ? `[${named}]` : named;
};

/**
 * Where clients reach a handler, from its load record: the WebSocket URL, and when it runs a
 * QUIC port, that address, its certificate's hash and the WebTransport URL on it.
 */
export function mediaHandlerAddress(
  handler: string,
  record: HandlerLoadRecord | undefined,
): MediaHandler {
  const quicAddress = record?.quicAddress ?? '';
  const hash = record?.quicCertificateSha256 ?? '';
  const usable = quicAddress !== '' && /^[0-9a-f]{64}$/.test(hash);
  return {
    id: handler,
    websocketUrl: record?.address ?? '',
    quicAddress: usable ? quicAddress : '',
    certHash: usable ? Buffer.from(hash, 'hex') : Buffer.alloc(0),
    webtransportUrl: usable ? `https://${quicAddress}${MEDIA_PATH}` : '',
  };
}

/** A load record as core's controller reads it. */
function handlerReport(record: HandlerLoadRecord): HandlerReport {
  return {
    handlerId: record.handlerId,
    region: record.region,
    utilisation: record.utilisation,
    state: record.state,
    reportedAt: record.reportedAt,
    draining: record.draining,
    // Records name no datacenter yet: the region stands for it.
    site: record.region,
    capacityBps: record.capacityBps,
  };
}

/** node:crypto as the random source of the lease backoff's jitter. */
const cryptoRandom: RandomSource = {
  next: () => randomBytes(4).readUInt32BE(0) / 0x1_0000_0000,
  bytes: (length) => new Uint8Array(randomBytes(length)),
};

/** Starts a Meeting Controller: signaling, its JWKS, health, metrics, GC registration. */
export async function startMc(
  env: McEnvironment,
  options: McStartOptions = {},
): Promise<RunningMc> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger('mc-service', env.LOG_LEVEL);
  const now = () => clock.now();
  const region = regionId(env.MC_REGION);

  // Meeting state and sessions: REDIS_URL, or a Redis Cluster when its nodes are given.
  const stateRedis = createStateConnection(
    env.REDIS_URL,
    options.failover?.MC_REDIS_CLUSTER_NODES,
    env.MC_REDIS_KEY_PREFIX,
    { logger },
  );
  const redis = stateRedis as Redis;
  const mhRedis = createRedis(env.REDIS_URL, env.MC_MH_REDIS_KEY_PREFIX, { logger, cache: true });
  const loads = new RedisHandlerLoadStore(mhRedis);

  // Users' tokens: AC's keys, with core's cache policy.
  const acKeys = new JwksClient({
    policy: jwksCachePolicy([env.MC_TRUSTED_ISSUER]),
    jwksUrls: new Map([[env.MC_TRUSTED_ISSUER, env.acJwksUrl]]),
    now,
    logger,
  });
  const stopKeyFetch = new AbortController();
  const keysFetched = acKeys.fetchUntilHeld(stopKeyFetch.signal);
  const verifiedTokens = new VerifiedTokenCache();
  const tokenPolicy = {
    trustedIssuers: new Set([env.MC_TRUSTED_ISSUER]),
    audience: env.MC_TOKEN_AUDIENCE,
    requiredScopes: [JOIN_SCOPE],
  };

  // Connection tokens: this controller's Ed25519 key (kept in MC_SIGNING_KEY_FILE, else new
  // each start), published at /.well-known/jwks.json.
  const signingKey: SigningKeyMaterial =
    env.MC_SIGNING_KEY_FILE !== undefined
      ? await loadOrCreateSigningKey(env.MC_SIGNING_KEY_FILE, env.MC_ID)
      : {
          kid: `${env.MC_ID}-${randomUUID()}`,
          privateKey: generateKeyPairSync('ed25519').privateKey,
        };
  const jwks = JSON.stringify(publicJwks([signingKey]));

  // This controller's service token (GC registration, handlers' route API): fixed, or fetched
  // from AC with its client credentials and refreshed before it expires.
  const serviceToken: ServiceTokenProvider =
    env.MC_AC_CLIENT_ID !== undefined &&
    env.MC_AC_CLIENT_SECRET !== undefined &&
    env.AC_INTERNAL_URL !== undefined
      ? new RefreshingServiceToken({
          credentials: {
            url: serviceTokenUrl(env.AC_INTERNAL_URL),
            clientId: env.MC_AC_CLIENT_ID,
            clientSecret: env.MC_AC_CLIENT_SECRET,
          },
          clock,
          logger,
        }).start()
      : fixedServiceToken(env.MC_SERVICE_TOKEN ?? '');
  const currentServiceToken = () => serviceToken.current();

  // Handlers: their latest records, and one route-API client per address.
  const records = new Map<string, HandlerLoadRecord>();
  const mhClients = new Map<string, MhClient>();
  const routeAddress = (handler: HandlerId): string | undefined => {
    const chosen = options.routeAddress?.(handler) ?? env.MC_MH_ROUTE_ADDRESSES.get(handler);
    if (chosen !== undefined) return chosen;
    const address = records.get(handler)?.address;
    if (address === undefined || !URL.canParse(address)) return undefined;
    return `${new URL(address).hostname}:${env.MC_MH_ROUTE_PORT}`;
  };
  const mhClient = (handler: HandlerId): MhClient => {
    const address = routeAddress(handler);
    if (address === undefined) throw new Error(`no route API address for ${handler}`);
    let client = mhClients.get(address);
    if (client === undefined) {
      client = connectMh(address, currentServiceToken);
      mhClients.set(address, client);
    }
    return client;
  };

  // GC: registration, then heartbeats at the interval it asks for.
  const gc = connectGc(env.GC_GRPC_ADDRESS, currentServiceToken);
  let registered = false;
  let heartbeatIntervalMs = 2_000;
  let publicUrl = env.MC_PUBLIC_URL ?? '';
  // The WebTransport signaling endpoints (HTTP/3 first), once bound.
  let webTransportEndpoints: { url: string; carrier: string; certSha256: Buffer }[] = [];
  const register = async (): Promise<void> => {
    const answer = await gc.registerMc({
      mcId: env.MC_ID,
      region: env.MC_REGION,
      publicUrl,
      webtransport: webTransportEndpoints,
      grpcUrl: '',
      maxMeetings: env.MC_MAX_MEETINGS,
      maxParticipants: env.MC_MAX_PARTICIPANTS,
    });
    registered = answer.accepted;
    if (!answer.accepted) logger.error({ reason: answer.reason }, 'GC refused the registration');
    else if (answer.heartbeatIntervalMs > 0) heartbeatIntervalMs = answer.heartbeatIntervalMs;
  };

  const endpointOf = () =>
    new ControllerEndpoint(
      {
        controller: controllerId(env.MC_ID),
        region,
        heartbeatIntervalMs,
        meetings: {
          ...DEFAULT_MEETING_TIMING,
          // Everyone hears everyone: each member's audio goes to every other member.
          forwardAudio: env.MC_FORWARD_AUDIO,
          latencyMs: { [region]: { [region]: 1 } },
          streamBitrateBps: env.MC_STREAM_BITRATE_BPS,
          keyPolicy: { rotationIntervalMs: 3_600_000, deletionGraceMs: 30_000 },
          // End-to-end keys through MLS: the controller is the group's delivery service.
          mls: DEFAULT_MLS_DELIVERY_CONFIG,
        },
      },
      now(),
    );

  const signalingBound = { host: env.MC_SIGNALING_BIND_ADDRESS.host, port: 0 };
  // Signaling is bound before the driver exists (GC is told its URL first); no join reaches the
  // driver before it is set.
  const started: { driver?: ControllerDriver } = {};
  const driverRef = (): ControllerDriver => {
    if (started.driver === undefined) throw new Error('driver not started');
    return started.driver;
  };

  const metrics = createHttpMetrics('mc');
  const refusals = new Counter({
    name: 'mc_signaling_refusals_total',
    help: 'Joins and messages refused with a typed error, by kind',
    labelNames: ['kind'],
    registers: [metrics.registry],
  });
  const joinTime = new Histogram({
    name: 'mc_join_seconds',
    help: "An accepted join's time in the controller, from the decoded JoinRequest to its answer handed to the connection",
    buckets: [
      0.000_5, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.012, 0.015,
      0.02, 0.025, 0.05, 0.1, 0.25, 1,
    ],
    registers: [metrics.registry],
  });
  const onJoinAnswered = (seconds: number) => joinTime.observe(seconds);
  const lookupTime = new Histogram({
    name: 'mc_meeting_lookup_seconds',
    help: "A join's meeting lookup at GC during its admission, from the request sent to its body read (answered or not)",
    buckets: [
      0.000_5, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25,
      1,
    ],
    registers: [metrics.registry],
  });

  const admit = async (join: JoinRequest): Promise<Result<AdmittedJoin, SignalingError>> => {
    const invalid = (message: string): Result<AdmittedJoin, SignalingError> =>
      err({ kind: ErrorKind.ERROR_KIND_INVALID_TOKEN, message });
    if (started.driver === undefined) {
      return err({
        kind: ErrorKind.ERROR_KIND_UNAVAILABLE,
        message: 'starting',
        retryAfterMs: RETRY_AFTER_MS,
      });
    }
    if (join.accessToken === '' || join.accessToken.length > MAX_ACCESS_TOKEN_LENGTH) {
      return invalid('an access token is required');
    }
    if (!MEETING_ID.test(join.meetingId)) {
      return err({ kind: ErrorKind.ERROR_KIND_MALFORMED, message: 'meeting_id is malformed' });
    }
    const verified = await verifyToken(
      join.accessToken,
      acKeys,
      tokenPolicy,
      now(),
      verifiedTokens,
    );
    if (!verified.ok) {
      const kind = verified.error.kind;
      if (kind === 'missing_scope') {
        return err({
          kind: ErrorKind.ERROR_KIND_INSUFFICIENT_SCOPE,
          message: 'token lacks scope user.write.mc',
        });
      }
      if (kind === 'keys_unavailable') {
        return err({
          kind: ErrorKind.ERROR_KIND_UNAVAILABLE,
          message: 'signing keys unavailable',
          retryAfterMs: RETRY_AFTER_MS,
        });
      }
      return invalid(`token rejected: ${kind.replaceAll('_', ' ')}`);
    }
    const participant = participantOf(verified.value.subject);
    if (verified.value.kind !== 'user' || participant === undefined) {
      return invalid('not a user token');
    }
    // The meeting, as GC answers it to this user (its organisation's meetings only).
    let response: Response;
    const lookupStarted = performance.now();
    const lookedUp = () => lookupTime.observe((performance.now() - lookupStarted) / 1000);
    try {
      response = await fetch(`${env.GC_URL.replace(/\/$/, '')}/v1/meetings/${join.meetingId}`, {
        headers: { authorization: `Bearer ${join.accessToken}` },
        signal: AbortSignal.timeout(GC_LOOKUP_TIMEOUT_MS),
      });
    } catch {
      lookedUp();
      return err({
        kind: ErrorKind.ERROR_KIND_UNAVAILABLE,
        message: 'meeting lookup unavailable',
        retryAfterMs: RETRY_AFTER_MS,
      });
    }
    const body = (await response.json().catch(() => ({}))) as {
      meeting_id?: unknown;
      status?: unknown;
      meeting_controller?: { id?: unknown; url?: unknown } | null;
    };
    lookedUp();
    if (response.status === 404 || (response.ok && body.status !== 'active')) {
      return err({ kind: ErrorKind.ERROR_KIND_UNKNOWN_MEETING, message: 'no such active meeting' });
    }
    if (response.status === 401) return invalid('token refused by the meeting lookup');
    if (response.status === 403) {
      return err({
        kind: ErrorKind.ERROR_KIND_INSUFFICIENT_SCOPE,
        message: 'token lacks scope user.read.gc',
      });
    }
    if (!response.ok) {
      return err({
        kind: ErrorKind.ERROR_KIND_UNAVAILABLE,
        message: 'meeting lookup failed',
        retryAfterMs: RETRY_AFTER_MS,
      });
    }
    if (body.meeting_controller?.id !== env.MC_ID) {
      return err({
        kind: ErrorKind.ERROR_KIND_WRONG_CONTROLLER,
        message: `the meeting is run by ${String(body.meeting_controller?.url ?? 'no controller')}`,
        retryAfterMs: RETRY_AFTER_MS,
      });
    }
    return ok({ meeting: join.meetingId as AdmittedJoin['meeting'], participant });
  };

  const signaling = await startSignaling({
    host: signalingBound.host,
    port: env.MC_SIGNALING_BIND_ADDRESS.port,
    maxMessageBytes: env.MC_MAX_MESSAGE_BYTES,
    joinTimeoutMs: env.MC_JOIN_TIMEOUT_MS,
    region,
    admit,
    get driver() {
      return driverRef();
    },
    logger,
    onRefused: (kind) => refusals.inc({ kind: ErrorKind[kind] ?? 'unknown' }),
    onJoinAnswered,
  });
  const signalingUrl = `ws://${urlHost(signaling.host)}:${signaling.port}${SIGNALING_PATH}`;
  if (publicUrl === '') publicUrl = signalingUrl;
  // WebTransport signaling, over HTTP/3 (UDP) and HTTP/2 (TCP) when enabled: one self-signed
  // certificate (13 days, so browsers can pin its hash) for both.
  const wtPair =
    env.MC_WEBTRANSPORT_BIND_ADDRESS !== undefined ||
    env.MC_WEBTRANSPORT_H2_BIND_ADDRESS !== undefined
      ? await selfSignedCertificate()
      : undefined;
  const connectionOptions: ConnectionOptions = {
    maxMessageBytes: env.MC_MAX_MESSAGE_BYTES,
    joinTimeoutMs: env.MC_JOIN_TIMEOUT_MS,
    region,
    admit,
    get driver() {
      return driverRef();
    },
    logger,
    onRefused: (kind) => refusals.inc({ kind: ErrorKind[kind] ?? 'unknown' }),
    onJoinAnswered,
  };
  const webTransport =
    env.MC_WEBTRANSPORT_BIND_ADDRESS === undefined || wtPair === undefined
      ? undefined
      : await startSignalingOver(
          new QuicMediaTransport({
            host: env.MC_WEBTRANSPORT_BIND_ADDRESS.host,
            port: env.MC_WEBTRANSPORT_BIND_ADDRESS.port,
            ...wtPair,
            media: false,
            webTransport: { paths: [SIGNALING_PATH] },
            stopGraceMs: 500,
            onError: (error) => logger.error({ err: error }, 'WebTransport signaling failed'),
          }),
          connectionOptions,
        );
  // The HTTP/2 library is loaded only when used (it reports its missing HTTP/3 part at load).
  const webTransportH2 =
    env.MC_WEBTRANSPORT_H2_BIND_ADDRESS === undefined || wtPair === undefined
      ? undefined
      : await startSignalingOver(
          new (
            await import('../../adapters/webtransport/h2-transport.ts')
          ).Http2WebTransportTransport({
            host: env.MC_WEBTRANSPORT_H2_BIND_ADDRESS.host,
            port: env.MC_WEBTRANSPORT_H2_BIND_ADDRESS.port,
            paths: [SIGNALING_PATH],
            ...wtPair,
            onError: (error) =>
              logger.error({ err: error }, 'WebTransport (HTTP/2) signaling failed'),
          }),
          connectionOptions,
        );
  const webTransportCertificateSha256 =
    wtPair === undefined ? undefined : certificateSha256(wtPair.certPem);
  const webTransportUrl =
    webTransport === undefined
      ? undefined
      : `https://${urlHost(webTransport.host)}:${webTransport.port}${SIGNALING_PATH}`;
  const webTransportH2Url =
    webTransportH2 === undefined
      ? undefined
      : `https://${urlHost(webTransportH2.host)}:${webTransportH2.port}${SIGNALING_PATH}`;
  if (webTransportCertificateSha256 !== undefined) {
    webTransportEndpoints = [
      ...(webTransportUrl === undefined ? [] : [{ url: webTransportUrl, carrier: 'h3' }]),
      ...(webTransportH2Url === undefined ? [] : [{ url: webTransportH2Url, carrier: 'h2' }]),
    ].map((e) => ({ ...e, certSha256: Buffer.from(webTransportCertificateSha256) }));
  }

  const [, redisConnected] = await Promise.all([
    serviceToken
      .ready(STARTUP_WAIT_MS)
      .then(register)
      .catch((error: unknown) =>
        logger.warn({ err: error }, 'GC registration failed; retried with the heartbeats'),
      ),
    connectedWithin(redis, STARTUP_WAIT_MS),
    Promise.race([keysFetched, sleep(STARTUP_WAIT_MS, undefined, { ref: false })]),
  ]);
  if (!redisConnected) logger.warn('redis unreachable: sessions and load reports unavailable');

  const endpoint = endpointOf();
  const keeper = new MeetingStateKeeper(
    new MeetingOwnership(
      { controller: controllerId(env.MC_ID), token: randomUUID() },
      cryptoRandom,
      {
        ...DEFAULT_OWNERSHIP_POLICY,
        leaseMs: options.failover?.MC_MEETING_LEASE_MS ?? DEFAULT_OWNERSHIP_POLICY.leaseMs,
        renewEveryMs:
          options.failover?.MC_MEETING_LEASE_RENEW_MS ?? DEFAULT_OWNERSHIP_POLICY.renewEveryMs,
      },
    ),
    new RedisMeetingStateStore(stateRedis),
    new RedisMeetingCoordination(stateRedis),
    endpoint,
    region,
    clock,
    logger,
    new RedisMeetingStateEraser(stateRedis),
  );
  const running = new ControllerDriver(
    endpoint,
    region,
    {
      signGrant: (grant) => signConnectionToken(grant, env.MC_ID, signingKey),
      handlerAddress: (handler) => mediaHandlerAddress(handler, records.get(handler)),
      applyRouteCommand: async (handler, request) => {
        await mhClient(handler).applyRouteCommand(request);
      },
      endMeeting: async (handler, meeting) => {
        await mhClient(handler).endMeeting({ meeting, controller: env.MC_ID });
      },
      writeSession: async (meeting, participant, ttlMs) => {
        const value = sessionValue(env.MC_ID, meeting, participant, now());
        await redis.set(sessionKey(meeting, participant), value, 'PX', ttlMs);
      },
      deleteSession: async (meeting, participant) => {
        await redis.del(sessionKey(meeting, participant));
      },
      heartbeat: async (meetings, participants, ended) => {
        if (!registered) {
          await register();
          return [];
        }
        const answer = await gc.mcHeartbeat({
          mcId: env.MC_ID,
          currentMeetings: meetings,
          currentParticipants: participants,
          health: McHealth.MC_HEALTH_HEALTHY,
          endedMeetings: [...ended],
        });
        if (!answer.acknowledged) await register();
        // Meetings ended at GC: well-formed ids only.
        return answer.endedMeetings.filter((id) => MEETING_ID.test(id)).map(meetingId);
      },
    },
    clock,
    logger,
    keeper,
  );
  await keeper
    .start(running)
    .catch((error: unknown) => logger.warn({ err: error }, 'coordination channel unavailable'));
  started.driver = running;

  // Load reports: read every second and fed to core as they are.
  let readingLoads = false;
  const readLoads = async () => {
    if (readingLoads) return;
    readingLoads = true;
    try {
      const fresh = await loads.list(env.MC_REGION, now(), LOAD_REPORT_MAX_AGE_MS);
      for (const record of fresh) records.set(record.handlerId, record);
      running.loadReports(fresh.map(handlerReport));
    } catch (error) {
      logger.warn({ err: error }, 'load reports unreadable');
    } finally {
      readingLoads = false;
    }
  };
  await readLoads();
  running.start();
  const loadTimer = setInterval(() => void readLoads(), LOAD_READ_INTERVAL_MS);

  registerMcMetrics(
    metrics.registry,
    running,
    () =>
      signaling.connections() +
      (webTransport?.connections() ?? 0) +
      (webTransportH2?.connections() ?? 0),
    () => records.size,
  );
  registerMeetingStateMetrics(metrics.registry, keeper);
  const readiness = async (): Promise<ReadinessReport> => {
    const redisUp = await redisIsReachable(redis);
    const keys = acKeys.holdsUsableKeys(now());
    const token = serviceToken.current() !== undefined;
    return {
      ready: registered && keys && token,
      degraded: !redisUp || records.size === 0,
      components: {
        gc_registration: registered ? 'ok' : 'unregistered',
        service_token: token ? 'ok' : 'missing',
        user_token_keys: keys ? 'ok' : 'missing',
        redis: redisUp ? 'ok' : 'unreachable',
        media_handlers: String(records.size),
      },
    };
  };
  const app = createHttpServer({ logger, metrics, readiness, bodyLimit: 1_024 });
  app.get('/.well-known/jwks.json', async (_request, reply) =>
    reply.type('application/json').header('cache-control', 'max-age=300').send(jwks),
  );
  const url = await app.listen({ host: env.BIND_ADDRESS.host, port: env.BIND_ADDRESS.port });
  const jwksUrl = env.MC_PUBLIC_JWKS_URL ?? `${url}/.well-known/jwks.json`;
  const metricsListener = await listenMetrics(metrics.registry, env.METRICS_BIND_ADDRESS);
  logger.info(
    {
      mc_id: env.MC_ID,
      region: env.MC_REGION,
      signaling: signalingUrl,
      webtransport: webTransportUrl,
      webtransport_h2: webTransportH2Url,
      webtransport_cert_sha256:
        webTransportCertificateSha256 === undefined
          ? undefined
          : Buffer.from(webTransportCertificateSha256).toString('hex'),
      url,
      jwks: jwksUrl,
      metrics_url: metricsListener.url,
    },
    'mc-service listening',
  );

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= closeAll(
      [
        { name: 'load reports', close: async () => clearInterval(loadTimer) },
        { name: 'controller', close: async () => running.stop() },
        { name: 'meeting state', close: () => keeper.stop() },
        { name: 'signaling', close: () => signaling.close() },
        { name: 'webtransport signaling', close: async () => webTransport?.close() },
        { name: 'webtransport h2 signaling', close: async () => webTransportH2?.close() },
        { name: 'http', close: () => drainHttp(app) },
        { name: 'metrics', close: () => metricsListener.close() },
        { name: 'key fetch', close: async () => stopKeyFetch.abort() },
        { name: 'service token', close: async () => serviceToken.stop() },
        {
          name: 'grpc clients',
          close: async () => {
            gc.close();
            for (const client of mhClients.values()) client.close();
          },
        },
        { name: 'redis', close: async () => void (await redis.quit()) },
        { name: 'mh redis', close: async () => void (await mhRedis.quit()) },
      ],
      logger,
    ));
  return {
    id: env.MC_ID,
    signalingUrl,
    webTransportUrl,
    webTransportH2Url,
    webTransportCertificateSha256,
    url,
    jwksUrl,
    metricsUrl: metricsListener.url,
    logger,
    driver: running,
    close,
  };
}

/** Gauges and counters read from the driver when `/metrics` is scraped; no ids in labels. */
function registerMcMetrics(
  registry: Registry,
  driver: ControllerDriver,
  connections: () => number,
  handlers: () => number,
): void {
  const gauge = (name: string, help: string, read: () => number) =>
    registerScrapedGauge(registry, name, help, read);
  gauge('mc_meetings', 'Meetings this controller runs', () => driver.endpoint.meetingCount);
  gauge(
    'mc_participants',
    'Participants with a signaling connection',
    () => driver.participantCount,
  );
  gauge('mc_signaling_connections', 'Open signaling connections', connections);
  gauge('mc_media_handlers', 'Media handlers with a recent load report', handlers);
  const counter = (name: string, help: string, labels: Record<string, () => number>) =>
    new Counter({
      name,
      help,
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [outcome, read] of Object.entries(labels)) this.inc({ outcome }, read());
      },
    });
  counter('mc_joins_total', 'Joins the meetings answered', {
    accepted: () => driver.joins.accepted,
    rejected: () => driver.joins.rejected,
  });
  counter('mc_route_commands_total', 'Route commands sent to handlers', {
    sent: () => driver.routeCalls.sent,
    acked: () => driver.routeCalls.acked,
    failed: () => driver.routeCalls.failed,
  });
  counter('mc_mls_epochs_total', 'MLS epochs started in the meetings (commits accepted)', {
    started: () => driver.mlsEpochs,
  });
  const routeCall = new Histogram({
    name: 'mc_route_command_seconds',
    help: "A route command's call to its handler, from sending to the handler's answer",
    buckets: [
      0.000_1, 0.000_25, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05,
      0.1, 0.25, 1,
    ],
    registers: [registry],
  });
  driver.onRouteCallAnswered = (seconds) => routeCall.observe(seconds);
}

/** The meeting-state counters: restores, fresh starts, refused records, writes, hand-overs. */
function registerMeetingStateMetrics(registry: Registry, keeper: MeetingStateKeeper): void {
  registerScrapedGauge(
    registry,
    'mc_meetings_owned',
    'Meetings whose record names this controller',
    () => keeper.runningCount,
  );
  new Counter({
    name: 'mc_meeting_state_total',
    help: 'Meeting state in the shared store, by event',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = keeper.counts;
      this.inc({ event: 'restored' }, counts.restored);
      this.inc({ event: 'started' }, counts.started);
      this.inc({ event: 'written' }, counts.writes);
      this.inc({ event: 'write_failed' }, counts.writeFailures);
      this.inc({ event: 'released' }, counts.released);
      for (const [kind, count] of Object.entries(counts.refused))
        this.inc({ event: `refused_${kind.replaceAll('-', '_')}` }, count);
    },
  });
}
