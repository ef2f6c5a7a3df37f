import { createHash, randomInt } from 'node:crypto';
import { z } from 'zod';
import type { VerifiedClaims } from '../../core/auth/claims.ts';
import type { Scope } from '../../core/auth/scopes.ts';
import type { BreakerState } from '../../core/ops/circuit-breaker.ts';
import type { ControllerRegistration } from '../../core/placement/index.ts';
import { requireBearer, type BearerCheck } from '../../adapters/http/bearer.ts';
import { badRequest, HttpError, notFound } from '../../adapters/http/errors.ts';
import {
  createHttpServer,
  type HttpServer,
  type ReadinessReport,
} from '../../adapters/http/server.ts';
import { parseBody } from '../../adapters/http/validation.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import type { HttpMetrics } from '../../adapters/metrics/registry.ts';
import type { Clock } from '../shared/clock.ts';
import { ThrottledWarning } from './fail-soft.ts';
import type { MeetingPlacement } from './placement.ts';
import type {
  EndedMeetings,
  IdempotencyTag,
  MeetingRecord,
  MeetingStore,
  PlacementBacklog,
  TenantConfig,
  TenantConfigCache,
  TenantStore,
} from '../../ports/gc.ts';

export interface GcAppDependencies {
  readonly meetings: MeetingStore;
  readonly tenants: TenantStore;
  readonly tenantCache: TenantConfigCache;
  readonly placement: MeetingPlacement;
  /**
   * Meetings ended here, for the controllers they were placed on (named in the answers to
   * their heartbeats). Absent: a controller hears of no meeting's end.
   */
  readonly endedMeetings?: EndedMeetings;
  readonly bearer: Omit<BearerCheck, 'onRejected'>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: HttpMetrics;
  readonly defaultOrg: string;
  /** Requests to `<org>.<tenantDomain>` belong to tenant `<org>`. */
  readonly tenantDomain: string | undefined;
  /** Meetings to place once a controller registers (their placement failed at creation). */
  readonly backlog: PlacementBacklog;
  readonly databaseReachable: () => Promise<boolean>;
  readonly redisReachable: () => Promise<boolean>;
  /** The state of the circuit breaker in front of Redis. */
  readonly redisBreaker: () => BreakerState['kind'];
  /** Whether GC holds usable AC signing keys (fetched, and within the cache's grace). */
  readonly keysHeld: () => boolean;
}

const BODY_LIMIT_BYTES = 8 * 1024;
const READ: readonly Scope[] = [{ principal: 'user', operation: 'read', component: 'gc' }];
const WRITE: readonly Scope[] = [{ principal: 'user', operation: 'write', component: 'gc' }];

const newMeeting = z
  .object({
    title: z.string().trim().min(1).max(200),
    max_participants: z.number().int().min(2).max(10_000).optional(),
  })
  .strict();

/** Meeting codes: 12 characters from an alphabet without look-alikes. */
const MEETING_CODE_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const MEETING_CODE = /^[a-hj-km-np-z2-9]{12}$/;

/** `Idempotency-Key`: 1-128 visible ASCII characters (a UUID is typical). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

/** The key a create was sent with, and a digest of what it asked for; undefined without one. */
function idempotencyOf(
  header: string | string[] | undefined,
  body: { title: string; max_participants?: number | undefined },
): IdempotencyTag | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !IDEMPOTENCY_KEY.test(header)) {
    throw badRequest('Idempotency-Key: 1-128 visible ASCII characters');
  }
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([body.title, body.max_participants ?? null]))
    .digest('base64url');
  return { key: header, fingerprint };
}

function newMeetingCode(): string {
  let code = '';
  for (let i = 0; i < 12; i++)
    code += MEETING_CODE_ALPHABET[randomInt(MEETING_CODE_ALPHABET.length)];
  return code;
}

function meetingView(meeting: MeetingRecord, controller: ControllerRegistration | undefined) {
  return {
    meeting_id: meeting.meetingId,
    org_id: meeting.orgId,
    title: meeting.title,
    status: meeting.status,
    max_participants: meeting.maxParticipants,
    created_at: new Date(meeting.createdAtMs).toISOString(),
    ended_at: meeting.endedAtMs === undefined ? null : new Date(meeting.endedAtMs).toISOString(),
    meeting_controller:
      controller === undefined
        ? null
        : {
            id: controller.id,
            url: controller.endpoint,
            region: controller.region,
            webtransport: (controller.webTransport ?? []).map((e) => ({
              url: e.url,
              carrier: e.carrier,
              cert_sha256: e.certSha256,
            })),
          },
  };
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * The JSON of each meeting record's view, with the controller it was made for. Records and
 * controllers read from the in-process caches are the same objects from one read to the
 * next, so a repeated read of a meeting sends the JSON made the first time instead of
 * building and serialising its view again. Weakly held: it goes with the record.
 */
const viewJson = new WeakMap<
  MeetingRecord,
  { readonly controller: ControllerRegistration | undefined; readonly json: string }
>();

function meetingJson(meeting: MeetingRecord, controller: ControllerRegistration | undefined) {
  const known = viewJson.get(meeting);
  if (known !== undefined && known.controller === controller) return known.json;
  const json = JSON.stringify(meetingView(meeting, controller));
  viewJson.set(meeting, { controller, json });
  return json;
}

/** Builds the Global Controller's HTTP API. */
export function buildGcApp(deps: GcAppDependencies): HttpServer {
  const app = createHttpServer({
    logger: deps.logger,
    metrics: deps.metrics,
    bodyLimit: BODY_LIMIT_BYTES,
    readiness: () => readiness(deps),
  });
  const bearer: BearerCheck = {
    ...deps.bearer,
    onRejected: (reason) => deps.metrics.authFailures.inc({ reason }),
  };
  const authorize = (authorization: string | undefined, scopes: readonly Scope[]) =>
    requireBearer(authorization, bearer, scopes, deps.clock.now());

  const placementFailure = new ThrottledWarning(deps.logger, 'meeting placement unavailable');
  const tenantSuffix = deps.tenantDomain === undefined ? undefined : `.${deps.tenantDomain}`;

  /**
   * The organisation a request acts in: the token's (claim `org`). When GC serves tenant
   * subdomains, the Host names an organisation too (`<org>.<tenant domain>`, else the default
   * org) and it must be the token's: a request of one organisation sent to another's address
   * is answered as if nothing were there (404), so it learns nothing of the other tenant.
   */
  function requestOrg(claims: VerifiedClaims, host: string | undefined, missing: string): string {
    if (tenantSuffix === undefined) return claims.org;
    const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
    const hostOrg = hostname.endsWith(tenantSuffix)
      ? hostname.slice(0, -tenantSuffix.length)
      : deps.defaultOrg;
    if (hostOrg !== claims.org) throw notFound(missing);
    return claims.org;
  }

  /** The configuration of tenant `orgId`, or a 404. */
  async function tenantOf(orgId: string): Promise<TenantConfig> {
    const cached = await deps.tenantCache.get(orgId);
    if (cached) return cached;
    const tenant = await deps.tenants.getTenant(orgId);
    if (!tenant) throw notFound('unknown tenant');
    await deps.tenantCache.put(tenant);
    return tenant;
  }

  /**
   * The meeting with this code in organisation `orgId`, or a 404: a meeting of another
   * organisation is answered exactly as one that does not exist.
   */
  async function findMeeting(id: string, orgId: string): Promise<MeetingRecord> {
    if (!MEETING_CODE.test(id)) throw notFound('no such meeting');
    const meeting = await deps.meetings.get(id);
    if (!meeting || meeting.orgId !== orgId) throw notFound('no such meeting');
    return meeting;
  }

  /**
   * The meeting, as {@link findMeeting}, and the healthy controller it is already assigned to,
   * read together so a meeting read costs one round of Redis commands (auto-pipelined).
   */
  async function findMeetingAndController(
    id: string,
    orgId: string,
  ): Promise<[MeetingRecord, ControllerRegistration | undefined]> {
    if (!MEETING_CODE.test(id)) throw notFound('no such meeting');
    const [meeting, current] = await Promise.all([
      findMeeting(id, orgId),
      deps.placement.currentController(id, deps.clock.now()).catch((error: unknown) => {
        placementFailure.report(error);
        return undefined;
      }),
    ]);
    if (meeting.status !== 'active') return [meeting, undefined];
    return [meeting, current ?? (await controllerFor(meeting))];
  }

  /**
   * What {@link findMeetingAndController} answers, when this replica holds everything it needs
   * in memory (the meeting, and for an active meeting a healthy controller it is placed on);
   * otherwise undefined, and the caller asks {@link findMeetingAndController}. Saves a cached
   * read the promises of the general path. A meeting of another organisation is left to the
   * general path, which answers 404.
   */
  function peekMeetingAndController(
    id: string,
    orgId: string,
  ): [MeetingRecord, ControllerRegistration | undefined] | undefined {
    const meeting = deps.meetings.peek?.(id);
    if (meeting === undefined || meeting.orgId !== orgId) return undefined;
    if (meeting.status !== 'active') return [meeting, undefined];
    const current = deps.placement.peekCurrentController(id, deps.clock.now());
    return current === undefined ? undefined : [meeting, current];
  }

  /**
   * The controller serving an active meeting, placing it if needed; undefined when it cannot
   * be placed now (no controller available, or Redis unreachable): the meeting is then
   * answered without a controller, never failed, and a new one is left in the backlog to be
   * placed when a controller registers.
   */
  async function controllerFor(
    meeting: MeetingRecord,
    options: { readonly backlogIfUnplaced?: boolean } = {},
  ): Promise<ControllerRegistration | undefined> {
    if (meeting.status !== 'active') return undefined;
    const placed = await deps.placement
      .controllerFor(meeting.meetingId, deps.clock.now())
      .catch((error: unknown) => {
        placementFailure.report(error);
        return undefined;
      });
    if (placed?.ok) return placed.value;
    if (placed !== undefined) {
      deps.logger.warn({ meeting_id: meeting.meetingId, ...placed.error }, 'no meeting controller');
    }
    if (options.backlogIfUnplaced) {
      await deps.backlog.addPendingPlacement(meeting.meetingId).catch((error: unknown) => {
        deps.logger.warn({ err: error, meeting_id: meeting.meetingId }, 'placement backlog failed');
      });
    }
    return undefined;
  }

  app.post('/v1/meetings', async (request, reply) => {
    const claims = await authorize(request.headers.authorization, WRITE);
    const body = parseBody(newMeeting, request.body);
    const idempotency = idempotencyOf(request.headers['idempotency-key'], body);
    const tenant = await tenantOf(requestOrg(claims, request.headers.host, 'unknown tenant'));
    const maxParticipants = body.max_participants ?? tenant.maxParticipants;
    if (maxParticipants > tenant.maxParticipants) {
      throw badRequest(`max_participants: at most ${tenant.maxParticipants} in this organisation`);
    }
    const meeting: MeetingRecord = {
      meetingId: newMeetingCode(),
      orgId: tenant.orgId,
      title: body.title,
      createdBy: claims.subject,
      maxParticipants,
      status: 'active',
      createdAtMs: deps.clock.now(),
      endedAtMs: undefined,
    };
    const created = await deps.meetings.create(meeting, idempotency);
    if (!created.ok && created.error.kind === 'idempotency_key_used') {
      const { existing, fingerprint } = created.error;
      if (fingerprint !== idempotency?.fingerprint) {
        throw new HttpError(
          422,
          'idempotency_key_reused',
          'this Idempotency-Key was used for a different request',
        );
      }
      // A retry of a create that was committed: the original meeting, as first answered.
      return reply
        .code(201)
        .header('idempotent-replayed', 'true')
        .send(meetingView(existing, await controllerFor(existing)));
    }
    if (!created.ok) throw new HttpError(409, 'conflict', 'meeting code collision; retry');
    request.log.info({ meeting_id: meeting.meetingId }, 'meeting created');
    // Committed: nothing after this may fail the request.
    const controller = await controllerFor(meeting, { backlogIfUnplaced: true });
    return reply.code(201).send(meetingView(meeting, controller));
  });

  app.get<{ Params: { id: string } }>('/v1/meetings/:id', async (request, reply) => {
    const claims = await authorize(request.headers.authorization, READ);
    const { id } = request.params;
    const org = requestOrg(claims, request.headers.host, 'no such meeting');
    const [meeting, controller] =
      peekMeetingAndController(id, org) ?? (await findMeetingAndController(id, org));
    return reply.type(JSON_CONTENT_TYPE).send(meetingJson(meeting, controller));
  });

  app.delete<{ Params: { id: string } }>('/v1/meetings/:id', async (request) => {
    const claims = await authorize(request.headers.authorization, WRITE);
    const org = requestOrg(claims, request.headers.host, 'no such meeting');
    // A GC admin's rights reach only the meetings of the token's organisation: any other
    // organisation's meeting is a 404 here, before the admin scope is looked at.
    const meeting = await findMeeting(request.params.id, org);
    const isAdmin = claims.scopes.some(
      (scope) => scope.component === 'gc' && scope.operation === 'admin',
    );
    if (meeting.createdBy !== claims.subject && !isAdmin) {
      throw new HttpError(403, 'forbidden', 'only the creator or a GC admin can end this meeting');
    }
    const ended = await deps.meetings.end(meeting.meetingId, deps.clock.now());
    if (!ended) throw notFound('no such meeting');
    request.log.info({ meeting_id: meeting.meetingId }, 'meeting ended');
    // Committed: the controller it was placed on is told with its next heartbeat's answer. If
    // Redis fails here it is not told: its members stay until they leave (the meeting is ended
    // for every lookup and join).
    try {
      const controller = await deps.placement.assignedController(meeting.meetingId);
      if (controller !== undefined)
        await deps.endedMeetings?.add(
          controller,
          meeting.meetingId,
          ended.endedAtMs ?? deps.clock.now(),
        );
    } catch (error) {
      request.log.warn(
        { err: error, meeting_id: meeting.meetingId },
        'meeting end not passed on to its controller',
      );
    }
    return meetingView(ended, undefined);
  });

  refuseOtherMethods(app, '/v1/meetings', ['GET', 'PUT', 'PATCH', 'DELETE'], 'POST');
  refuseOtherMethods(app, '/v1/meetings/:id', ['PUT', 'PATCH', 'POST'], 'GET, HEAD, DELETE');

  return app;
}

/**
 * Answers `methods` on `url` with 405 and `Allow: allowed` (RFC 9110 section 15.5.6), before
 * the body is read or the token checked: the method is wrong whatever the request carries.
 */
function refuseOtherMethods(
  app: HttpServer,
  url: string,
  methods: ('GET' | 'PUT' | 'PATCH' | 'POST' | 'DELETE')[],
  allowed: string,
): void {
  app.route({
    method: methods,
    url,
    onRequest: async (request) => {
      throw new HttpError(
        405,
        'method_not_allowed',
        `${request.method} is not supported here; use ${allowed}`,
        { allow: allowed },
      );
    },
    handler: async () => undefined,
  });
}

/**
 * Ready when PostgreSQL answers and GC holds usable AC signing keys (an AC restart does not
 * make GC unready while the cached keys last). Redis unreachable, or its breaker open, is
 * `degraded`, still 200: meetings are read and created from PostgreSQL, new ones are placed
 * on a controller once controllers register again. A breaker whose open time is over reads
 * half-open (the next calls are probes) and is not counted as degraded.
 */
async function readiness(deps: GcAppDependencies): Promise<ReadinessReport> {
  const [database, redis] = await Promise.all([deps.databaseReachable(), deps.redisReachable()]);
  const keys = deps.keysHeld();
  const breaker = deps.redisBreaker();
  return {
    ready: database && keys,
    degraded: !redis || breaker === 'open',
    components: {
      database: database ? 'healthy' : 'unreachable',
      redis: redis ? 'healthy' : 'unreachable',
      redis_breaker: breaker,
      ac_jwks: keys ? 'cached' : 'missing',
    },
  };
}
