import type * as grpc from '@grpc/grpc-js';
import type { Scope } from '../../core/auth/scopes.ts';
import {
  controllerId,
  handlerId,
  meetingId,
  participantId,
  type MediaKind as CoreMediaKind,
} from '../../core/ids.ts';
import type { RouteCommand } from '../../core/mh/types.ts';
import type { Route } from '../../core/routing/types.ts';
import type { BearerCheck } from '../../adapters/http/bearer.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import {
  MediaHandlerServiceService,
  MediaKind,
  type ApplyRouteCommandRequest,
  type EndMeetingRequest,
  type Leg,
  type MediaHandlerServiceServer,
} from '../generated/darktower/mh/v1/route.ts';
import type { Clock } from '../shared/clock.ts';
import { authenticatedUnary, InvalidArgument, startGrpcServer } from '../shared/grpc.ts';

/** The scope a Meeting Controller's service token needs for the route API. */
export const ROUTE_SCOPE: Scope = { principal: 'service', operation: 'write', component: 'mh' };

const NAME = /^[A-Za-z0-9._:@-]{1,128}$/;
/** More legs than any meeting's plan has on one handler (a bound on one message's work). */
const MAX_LEGS = 10_000;

const KINDS: Partial<Record<MediaKind, CoreMediaKind>> = {
  [MediaKind.MEDIA_KIND_CAMERA]: 'camera',
  [MediaKind.MEDIA_KIND_SCREEN]: 'screen',
  [MediaKind.MEDIA_KIND_AUDIO]: 'audio',
};

function name(field: string, value: string): string {
  if (!NAME.test(value)) throw new InvalidArgument(`${field}: 1-128 letters, digits or ._:@-`);
  return value;
}

function kind(field: string, value: MediaKind): CoreMediaKind {
  const known = KINDS[value];
  if (known === undefined) throw new InvalidArgument(`${field}: unknown media kind`);
  return known;
}

/** A protobuf leg as core's Route; a malformed one is INVALID_ARGUMENT (nothing is applied). */
export function legToRoute(leg: Leg, at: string): Route {
  if (leg.publish !== undefined) {
    const p = leg.publish;
    return {
      type: 'publish',
      publisher: participantId(name(`${at}.publisher`, p.publisher)),
      kind: kind(`${at}.kind`, p.kind),
      handler: handlerId(name(`${at}.handler`, p.handler)),
    };
  }
  if (leg.cascade !== undefined) {
    const c = leg.cascade;
    return {
      type: 'cascade',
      publisher: participantId(name(`${at}.publisher`, c.publisher)),
      kind: kind(`${at}.kind`, c.kind),
      from: handlerId(name(`${at}.from_handler`, c.fromHandler)),
      to: handlerId(name(`${at}.to_handler`, c.toHandler)),
    };
  }
  if (leg.deliver !== undefined) {
    const d = leg.deliver;
    return {
      type: 'deliver',
      publisher: participantId(name(`${at}.publisher`, d.publisher)),
      kind: kind(`${at}.kind`, d.kind),
      handler: handlerId(name(`${at}.handler`, d.handler)),
      subscriber: participantId(name(`${at}.subscriber`, d.subscriber)),
    };
  }
  throw new InvalidArgument(`${at}: no leg`);
}

/** A request as core's RouteCommand, or INVALID_ARGUMENT. */
export function toRouteCommand(request: ApplyRouteCommandRequest): RouteCommand {
  if (request.add.length + request.remove.length > MAX_LEGS) {
    throw new InvalidArgument(`at most ${MAX_LEGS} legs per command`);
  }
  return {
    id: name('id', request.id),
    meeting: meetingId(name('meeting', request.meeting)),
    controller: controllerId(name('controller', request.controller)),
    add: request.add.map((leg, i) => legToRoute(leg, `add[${i}]`)),
    remove: request.remove.map((leg, i) => legToRoute(leg, `remove[${i}]`)),
  };
}

/** What the route API drives: the handler's driver. */
export interface RouteTarget {
  applyRouteCommand(command: RouteCommand): {
    id: string;
    duplicate: boolean;
    changed: number;
    ignored: number;
  };
  endMeeting(meeting: string, controller: string): number;
}

export interface MhGrpcDependencies {
  readonly target: RouteTarget;
  readonly bearer: BearerCheck;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Told, for each route command answered, the handler's time on it in seconds: from the
   * decoded call (its bearer token still to check) to the answer handed back to gRPC.
   */
  readonly onRouteCommandServed?: (seconds: number) => void;
}

/** The MediaHandlerService implementation: route commands and meeting ends into the driver. */
export function mhGrpcService(deps: MhGrpcDependencies): MediaHandlerServiceServer {
  const auth = { ...deps, scopes: [ROUTE_SCOPE] };
  const applyRouteCommand = authenticatedUnary(auth, async (request: ApplyRouteCommandRequest) => {
    const ack = deps.target.applyRouteCommand(toRouteCommand(request));
    return {
      id: ack.id,
      duplicate: ack.duplicate,
      changed: ack.changed,
      ignored: ack.ignored,
    };
  });
  const served = deps.onRouteCommandServed;
  return {
    applyRouteCommand:
      served === undefined
        ? applyRouteCommand
        : (call, callback) => {
            const started = performance.now();
            applyRouteCommand(call, (error, response) => {
              if (error === null) served((performance.now() - started) / 1000);
              callback(error, response);
            });
          },
    endMeeting: authenticatedUnary(auth, async (request: EndMeetingRequest) => {
      const closed = deps.target.endMeeting(
        name('meeting', request.meeting),
        name('controller', request.controller),
      );
      deps.logger.info({ meeting_id: request.meeting }, 'meeting ended');
      return { sessionsClosed: closed };
    }),
  };
}

/** Starts the route API on `host:port`; resolves with the bound port. */
export function startMhGrpcServer(
  service: MediaHandlerServiceServer,
  address: { host: string; port: number },
): Promise<{ server: grpc.Server; port: number }> {
  return startGrpcServer(MediaHandlerServiceService, service, address);
}
