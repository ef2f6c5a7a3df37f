import type * as grpc from '@grpc/grpc-js';
import type { Scope } from '../../core/auth/scopes.ts';
import type { BearerCheck } from '../../adapters/http/bearer.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import {
  GlobalControllerServiceService,
  McHealth,
  type GlobalControllerServiceServer,
  type McHeartbeatRequest,
  type RegisterMcRequest,
  type WebTransportEndpoint as WebTransportEndpointMessage,
} from '../generated/darktower/gc/v1/gc.ts';
import type { WebTransportEndpoint } from '../../core/placement/index.ts';
import type { Clock } from '../shared/clock.ts';
import {
  authenticatedUnary,
  InvalidArgument,
  PermissionDenied,
  startGrpcServer as startServer,
} from '../shared/grpc.ts';
import type { MeetingPlacement } from './placement.ts';
import type { VerifiedClaims } from '../../core/auth/claims.ts';
import type { EndedMeetings, McAvailability } from '../../ports/gc.ts';

const REGISTER_SCOPE: Scope = { principal: 'service', operation: 'write', component: 'gc' };
const MC_ID = /^[A-Za-z0-9._-]{1,128}$/;
const REGION = /^[a-z0-9-]{1,32}$/;

export interface GcGrpcDependencies {
  readonly availability: McAvailability;
  /** Told of registrations, so this replica places on a new controller at once. */
  readonly placement: Pick<MeetingPlacement, 'invalidate'>;
  readonly bearer: BearerCheck;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly heartbeatIntervalMs: number;
  /**
   * Development only: accept plain `http`/`ws` public URLs whose host is a loopback address
   * (`localhost`, 127.0.0.0/8, `::1`). Otherwise only `https` and `wss` are accepted.
   */
  readonly allowPlainLoopbackUrls: boolean;
  /** Called after each registration (GC places its backlog of unplaced meetings). */
  readonly onRegistered?: () => void;
  /** Meetings ended at GC, named to their controllers in the heartbeat answers. */
  readonly endedMeetings?: EndedMeetings;
}

/** Meetings ended at GC named in one heartbeat answer, at most. */
export const ENDED_MEETINGS_PER_HEARTBEAT = 256;
/** Meetings a heartbeat may say it ended, at most. */
const MAX_ENDED_ACKS = 4_096;
const MEETING = /^[A-Za-z0-9_-]{1,64}$/;

const MAX_URL_LENGTH = 2_048;
const SECURE_SCHEMES = new Set(['https:', 'wss:']);
const PLAIN_SCHEMES = new Set(['http:', 'ws:']);

/** Whether a URL's hostname names this machine: `localhost`, 127.0.0.0/8 or `[::1]`. */
function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    /^127(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(hostname)
  );
}

/**
 * Why a public URL is unacceptable, or undefined: an absolute `https` or `wss` URL without
 * credentials; plain `http`/`ws` only for a loopback host, and only when allowed (development).
 */
export function publicUrlProblem(value: string, allowPlainLoopback: boolean): string | undefined {
  if (value.length > MAX_URL_LENGTH || !URL.canParse(value)) {
    return 'public_url: expected an absolute URL';
  }
  const url = new URL(value);
  if (url.username !== '' || url.password !== '') return 'public_url: must not carry credentials';
  if (SECURE_SCHEMES.has(url.protocol)) return undefined;
  if (PLAIN_SCHEMES.has(url.protocol) && allowPlainLoopback && isLoopbackHost(url.hostname)) {
    return undefined;
  }
  return PLAIN_SCHEMES.has(url.protocol) && isLoopbackHost(url.hostname)
    ? 'public_url: plain http/ws is accepted only in development (GC_ALLOW_PLAIN_LOOPBACK_MC_URLS)'
    : 'public_url: expected an https or wss URL';
}

/** At most this many WebTransport endpoints per registration. */
const MAX_WEBTRANSPORT_ENDPOINTS = 4;
const CERT_SHA256_BYTES = 32;

/**
 * Why a registration's WebTransport endpoints are unacceptable, or undefined: at most four,
 * each an absolute `https` URL without credentials, carrier `h3` or `h2`, and a certificate
 * hash of 32 bytes or none.
 */
export function webTransportProblem(
  endpoints: readonly WebTransportEndpointMessage[],
): string | undefined {
  if (endpoints.length > MAX_WEBTRANSPORT_ENDPOINTS) {
    return `webtransport: at most ${MAX_WEBTRANSPORT_ENDPOINTS} endpoints`;
  }
  for (const [i, endpoint] of endpoints.entries()) {
    const where = `webtransport[${i}]`;
    if (endpoint.url.length > MAX_URL_LENGTH || !URL.canParse(endpoint.url)) {
      return `${where}.url: expected an absolute URL`;
    }
    const url = new URL(endpoint.url);
    if (url.protocol !== 'https:') return `${where}.url: expected an https URL`;
    if (url.username !== '' || url.password !== '') {
      return `${where}.url: must not carry credentials`;
    }
    if (endpoint.carrier !== 'h3' && endpoint.carrier !== 'h2') {
      return `${where}.carrier: expected h3 or h2`;
    }
    if (endpoint.certSha256.length !== 0 && endpoint.certSha256.length !== CERT_SHA256_BYTES) {
      return `${where}.cert_sha256: expected ${CERT_SHA256_BYTES} bytes or none`;
    }
  }
  return undefined;
}

function toWebTransport(
  endpoints: readonly WebTransportEndpointMessage[],
): readonly WebTransportEndpoint[] {
  return endpoints.map((e) => ({
    url: e.url,
    carrier: e.carrier as WebTransportEndpoint['carrier'],
    certSha256: Buffer.from(e.certSha256).toString('hex'),
  }));
}

/** Why a registration is malformed, or undefined when it is acceptable. */
function registrationProblem(
  request: RegisterMcRequest,
  allowPlainLoopback: boolean,
): string | undefined {
  if (!MC_ID.test(request.mcId)) return 'mc_id: 1-128 letters, digits, dot, dash or underscore';
  if (!REGION.test(request.region)) return 'region: 1-32 lowercase letters, digits or dashes';
  const urlProblem = publicUrlProblem(request.publicUrl, allowPlainLoopback);
  if (urlProblem) return urlProblem;
  const webTransport = webTransportProblem(request.webtransport);
  if (webTransport) return webTransport;
  if (request.maxMeetings === 0) return 'max_meetings: must be positive';
  return undefined;
}

/** Runs a handler after checking the caller's service token (scope service.write.gc). */
function authenticated<Req, Res>(
  deps: GcGrpcDependencies,
  handle: (request: Req, caller: VerifiedClaims) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return authenticatedUnary({ ...deps, scopes: [REGISTER_SCOPE] }, handle);
}

const NOT_OWNER =
  'mc_id is registered by another service; only the service that registered it may use it';

/** The GlobalControllerService implementation: MC registration and heartbeats. */
export function gcGrpcService(deps: GcGrpcDependencies): GlobalControllerServiceServer {
  return {
    registerMc: authenticated(deps, async (request: RegisterMcRequest, caller) => {
      const problem = registrationProblem(request, deps.allowPlainLoopbackUrls);
      if (problem) throw new InvalidArgument(problem);
      const registered = await deps.availability.register(
        {
          id: request.mcId,
          region: request.region,
          endpoint: request.publicUrl,
          webTransport: toWebTransport(request.webtransport),
          owner: caller.subject,
        },
        deps.clock.now(),
      );
      if (!registered.ok) {
        deps.logger.warn(
          { mc_id: request.mcId, service: caller.subject },
          'meeting controller registration refused: registered by another service',
        );
        throw new PermissionDenied(NOT_OWNER);
      }
      deps.placement.invalidate();
      deps.onRegistered?.();
      deps.logger.info(
        { mc_id: request.mcId, region: request.region },
        'meeting controller registered',
      );
      return { accepted: true, heartbeatIntervalMs: deps.heartbeatIntervalMs, reason: '' };
    }),
    mcHeartbeat: authenticated(deps, async (request: McHeartbeatRequest, caller) => {
      if (!MC_ID.test(request.mcId)) throw new InvalidArgument('mc_id: malformed');
      if (
        request.endedMeetings.length > MAX_ENDED_ACKS ||
        !request.endedMeetings.every((meeting) => MEETING.test(meeting))
      )
        throw new InvalidArgument(`ended_meetings: at most ${MAX_ENDED_ACKS} meeting ids`);
      const healthy = request.health === McHealth.MC_HEALTH_HEALTHY;
      const outcome = await deps.availability.heartbeat(
        request.mcId,
        caller.subject,
        request.currentMeetings,
        healthy,
        deps.clock.now(),
      );
      if (outcome === 'owned_by_other') throw new PermissionDenied(NOT_OWNER);
      // The meetings ended here that were placed on it, less those it says it ended.
      let endedMeetings: string[] = [];
      if (outcome === 'recorded' && deps.endedMeetings !== undefined) {
        try {
          await deps.endedMeetings.remove(request.mcId, request.endedMeetings);
          endedMeetings = await deps.endedMeetings.list(
            request.mcId,
            ENDED_MEETINGS_PER_HEARTBEAT,
            deps.clock.now(),
          );
        } catch (error) {
          deps.logger.warn({ err: error, mc_id: request.mcId }, 'ended meetings unavailable');
        }
      }
      return {
        acknowledged: outcome === 'recorded',
        heartbeatIntervalMs: deps.heartbeatIntervalMs,
        endedMeetings,
      };
    }),
  };
}

/** Starts the gRPC server on `host:port`; resolves with the bound port. */
export function startGrpcServer(
  service: GlobalControllerServiceServer,
  address: { host: string; port: number },
): Promise<{ server: grpc.Server; port: number }> {
  return startServer(GlobalControllerServiceService, service, address);
}

export { stopGrpcServer } from '../shared/grpc.ts';
