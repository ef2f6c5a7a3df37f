import * as grpc from '@grpc/grpc-js';
import type { Scope } from '../../core/auth/scopes.ts';
import { requireBearer, type BearerCheck } from '../../adapters/http/bearer.ts';
import { HttpError } from '../../adapters/http/errors.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import { isDependencyUnavailable } from '../../adapters/resilience/dependency-errors.ts';
import {
  GlobalControllerServiceService,
  McHealth,
  type GlobalControllerServiceServer,
  type McHeartbeatRequest,
  type RegisterMcRequest,
} from '../generated/darktower/gc/v1/gc.ts';
import type { Clock } from '../shared/clock.ts';
import type { MeetingPlacement } from './placement.ts';
import type { McAvailability } from './ports.ts';

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
  /** Called after each registration (GC places its backlog of unplaced meetings). */
  readonly onRegistered?: () => void;
}

/** A gRPC error with a status code, as grpc-js hands it to the caller. */
const grpcError = (code: grpc.status, details: string): Partial<grpc.StatusObject> => ({
  code,
  details,
});

/** Why a registration is malformed, or undefined when it is acceptable. */
function registrationProblem(request: RegisterMcRequest): string | undefined {
  if (!MC_ID.test(request.mcId)) return 'mc_id: 1-128 letters, digits, dot, dash or underscore';
  if (!REGION.test(request.region)) return 'region: 1-32 lowercase letters, digits or dashes';
  if (!URL.canParse(request.publicUrl)) return 'public_url: expected an absolute URL';
  if (request.maxMeetings === 0) return 'max_meetings: must be positive';
  return undefined;
}

/**
 * Runs a handler after checking the caller's service token (`authorization: Bearer` metadata,
 * scope service.write.gc); maps a rejected token to UNAUTHENTICATED or PERMISSION_DENIED.
 */
function authenticated<Req, Res>(
  deps: GcGrpcDependencies,
  handle: (request: Req) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const header = call.metadata.get('authorization')[0];
    requireBearer(
      typeof header === 'string' ? header : undefined,
      deps.bearer,
      [REGISTER_SCOPE],
      deps.clock.now(),
    )
      .then(() => handle(call.request))
      .then(
        (response) => callback(null, response),
        (error: unknown) => {
          if (error instanceof HttpError) {
            const code =
              error.statusCode === 403
                ? grpc.status.PERMISSION_DENIED
                : grpc.status.UNAUTHENTICATED;
            callback(grpcError(code, error.message));
          } else if (error instanceof InvalidArgument) {
            callback(grpcError(grpc.status.INVALID_ARGUMENT, error.message));
          } else if (isDependencyUnavailable(error)) {
            // Redis unreachable: the controller retries (after registering again if GC
            // answers its next heartbeat as unknown).
            deps.logger.warn({ err: error }, 'gRPC call failed: dependency unavailable');
            callback(grpcError(grpc.status.UNAVAILABLE, 'temporarily unavailable; retry'));
          } else {
            deps.logger.error({ err: error }, 'gRPC handler failed');
            callback(grpcError(grpc.status.INTERNAL, 'internal error'));
          }
        },
      );
  };
}

class InvalidArgument extends Error {}

/** The GlobalControllerService implementation: MC registration and heartbeats. */
export function gcGrpcService(deps: GcGrpcDependencies): GlobalControllerServiceServer {
  return {
    registerMc: authenticated(deps, async (request: RegisterMcRequest) => {
      const problem = registrationProblem(request);
      if (problem) throw new InvalidArgument(problem);
      await deps.availability.register(
        { id: request.mcId, region: request.region, endpoint: request.publicUrl },
        deps.clock.now(),
      );
      deps.placement.invalidate();
      deps.onRegistered?.();
      deps.logger.info(
        { mc_id: request.mcId, region: request.region },
        'meeting controller registered',
      );
      return { accepted: true, heartbeatIntervalMs: deps.heartbeatIntervalMs, reason: '' };
    }),
    mcHeartbeat: authenticated(deps, async (request: McHeartbeatRequest) => {
      if (!MC_ID.test(request.mcId)) throw new InvalidArgument('mc_id: malformed');
      const healthy = request.health === McHealth.MC_HEALTH_HEALTHY;
      const known = await deps.availability.heartbeat(
        request.mcId,
        request.currentMeetings,
        healthy,
        deps.clock.now(),
      );
      return { acknowledged: known, heartbeatIntervalMs: deps.heartbeatIntervalMs };
    }),
  };
}

/** Starts the gRPC server on `host:port`; resolves with the bound port. */
export async function startGrpcServer(
  service: GlobalControllerServiceServer,
  address: { host: string; port: number },
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(GlobalControllerServiceService, service);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${address.host}:${address.port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    ),
  );
  return { server, port };
}

/** Stops accepting calls and waits for running ones (forcing after `graceMs`). */
export function stopGrpcServer(server: grpc.Server, graceMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
