// gRPC plumbing the services share: request decoding that never throws, service-token
// authentication of unary calls, typed errors mapped to status codes, server start and stop.
import * as grpc from '@grpc/grpc-js';
import type { VerifiedClaims } from '../../core/auth/claims.ts';
import type { Scope } from '../../core/auth/scopes.ts';
import { requireBearer, type BearerCheck } from '../../adapters/http/bearer.ts';
import { HttpError } from '../../adapters/http/errors.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import { isDependencyUnavailable } from '../../adapters/resilience/dependency-errors.ts';
import type { Clock } from './clock.ts';

/** A gRPC error with a status code, as grpc-js hands it to the caller. */
export const grpcError = (code: grpc.status, details: string): Partial<grpc.StatusObject> => ({
  code,
  details,
});

/** A request message that did not decode; the handler answers it INVALID_ARGUMENT. */
export class MalformedMessage {
  constructor(readonly detail: string) {}
}

/** Thrown by a handler: answered INVALID_ARGUMENT with the message. */
export class InvalidArgument extends Error {}
/** Thrown by a handler: answered PERMISSION_DENIED with the message. */
export class PermissionDenied extends Error {}
/** Thrown by a handler: answered UNAVAILABLE with the message (the caller retries). */
export class Unavailable extends Error {}

/**
 * A service definition with request decoding that never throws: grpc-js answers a message
 * its deserializer throws on with INTERNAL, but a malformed message is the caller's fault, so
 * it is handed to the handler as a {@link MalformedMessage} and answered INVALID_ARGUMENT.
 */
export function tolerantServiceDefinition(
  definition: grpc.ServiceDefinition,
): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer): unknown => {
          try {
            return method.requestDeserialize(bytes);
          } catch (error) {
            return new MalformedMessage(error instanceof Error ? error.message : 'undecodable');
          }
        },
      },
    ]),
  );
}

/** What an authenticated unary call needs. */
export interface UnaryAuthentication {
  readonly bearer: BearerCheck;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Scopes the caller's service token must hold. */
  readonly scopes: readonly Scope[];
}

/**
 * Runs a handler after checking the caller's service token (`authorization: Bearer` metadata,
 * `auth.scopes`); maps a rejected token to UNAUTHENTICATED or PERMISSION_DENIED, the typed
 * errors above to their codes, an unreachable dependency to UNAVAILABLE, anything else to
 * INTERNAL (logged).
 */
export function authenticatedUnary<Req, Res>(
  auth: UnaryAuthentication,
  handle: (request: Req, caller: VerifiedClaims) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const request: unknown = call.request;
    if (request instanceof MalformedMessage) {
      callback(grpcError(grpc.status.INVALID_ARGUMENT, 'malformed request message'));
      return;
    }
    const header = call.metadata.get('authorization')[0];
    requireBearer(
      typeof header === 'string' ? header : undefined,
      auth.bearer,
      auth.scopes,
      auth.clock.now(),
    )
      .then((caller) => handle(call.request, caller))
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
          } else if (error instanceof PermissionDenied) {
            callback(grpcError(grpc.status.PERMISSION_DENIED, error.message));
          } else if (error instanceof Unavailable) {
            callback(grpcError(grpc.status.UNAVAILABLE, error.message));
          } else if (isDependencyUnavailable(error)) {
            auth.logger.warn({ err: error }, 'gRPC call failed: dependency unavailable');
            callback(grpcError(grpc.status.UNAVAILABLE, 'temporarily unavailable; retry'));
          } else {
            auth.logger.error({ err: error }, 'gRPC handler failed');
            callback(grpcError(grpc.status.INTERNAL, 'internal error'));
          }
        },
      );
  };
}

/** Starts a gRPC server for one service on `host:port`; resolves with the bound port. */
export async function startGrpcServer(
  definition: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
  address: { host: string; port: number },
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(tolerantServiceDefinition(definition), implementation);
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
