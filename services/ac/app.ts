import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { err, ok } from '../../core/result.ts';
import { buildTokenClaims, type TokenKind } from '../../core/auth/claims.ts';
import { parseScope, parseScopeList, type Scope } from '../../core/auth/scopes.ts';
import type { BreakerState } from '../../core/ops/circuit-breaker.ts';
import {
  loginAttemptCharges,
  loginFailureCharges,
  tokenIssuanceCharges,
  type AcRateLimits,
  type RateLimitCharge,
} from '../../core/auth/rate-limits.ts';
import { requireBearer } from '../../adapters/http/bearer.ts';
import { badRequest, HttpError } from '../../adapters/http/errors.ts';
import {
  createHttpServer,
  type HttpServer,
  type ReadinessReport,
} from '../../adapters/http/server.ts';
import { parseBody } from '../../adapters/http/validation.ts';
import { signClaims } from '../../adapters/jwt/tokens.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import type { HttpMetrics } from '../../adapters/metrics/registry.ts';
import type { Clock } from '../shared/clock.ts';
import { checkScopes, registerService } from './accounts.ts';
import { clientSecretMatches, type PasswordVerifier } from './credentials.ts';
import type { AuditLog, ServiceStore, TokenBuckets, UserStore } from '../../ports/ac.ts';
import type { SigningKeyService } from './signing-keys.ts';

export interface AcAppDependencies {
  readonly users: UserStore;
  readonly services: ServiceStore;
  readonly audit: AuditLog;
  readonly buckets: TokenBuckets;
  readonly keys: SigningKeyService;
  /** Password checks, with a decoy hash of the configured bcrypt cost for unknown users. */
  readonly passwords: PasswordVerifier;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: HttpMetrics;
  readonly issuer: string;
  readonly audience: string;
  /** Lifetime of service tokens (ms); core's 2 hours when absent. */
  readonly serviceTokenLifetimeMs?: number;
  /** Login and token-issuance limits (core's rule, scaled by configuration). */
  readonly rateLimits: AcRateLimits;
  /** Proxies whose X-Forwarded-For is believed (addresses or CIDRs); empty: none. */
  readonly trustedProxies?: readonly string[];
  readonly databaseReachable: () => Promise<boolean>;
  /** Redis holds the rate limits: without it AC cannot issue tokens safely. */
  readonly redisReachable: () => Promise<boolean>;
  /** The state of the circuit breaker in front of the rate limits' Redis. */
  readonly redisBreaker: () => BreakerState['kind'];
}

const BODY_LIMIT_BYTES = 16 * 1024;

const userTokenRequest = z
  .object({
    username: z.string().min(1).max(128),
    password: z.string().min(1).max(1024),
  })
  .strict();

const serviceTokenRequest = z
  .object({
    grant_type: z.string(),
    client_id: z.string().min(1).max(128).optional(),
    client_secret: z.string().min(1).max(256).optional(),
    scope: z.string().max(1024).optional(),
  })
  .strict();

const serviceRegistration = z
  .object({
    name: z.string().min(1).max(128),
    scopes: z.array(z.string().max(64)).min(1).max(32),
    /** The new service's organisation; the registering admin's own when absent. */
    org: z.string().max(64).optional(),
  })
  .strict();

const ADMIN_SCOPE: Scope = { principal: 'service', operation: 'admin', component: 'ac' };

/** The OAuth 2.0 error response of RFC 6749 section 5.2. */
const oauthError = (status: number, code: string, message: string) =>
  new HttpError(status, code, message, { 'cache-control': 'no-store' });

/** RFC 6749 section 5.2: a client that failed to authenticate. */
const invalidClient = (message: string) =>
  new HttpError(401, 'invalid_client', message, {
    'cache-control': 'no-store',
    'www-authenticate': 'Basic realm="dark-tower"',
  });

/** Client credentials of an `Authorization: Basic` header, or why they are unusable. */
type BasicCredentials =
  | { readonly kind: 'absent' }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'present'; readonly id: string; readonly secret: string };

/** `decodeURIComponent` that answers undefined for a bad `%` escape. */
function percentDecoded(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/**
 * Reads `Authorization: Basic` client credentials (RFC 6749 section 2.3.1: each part
 * form-urlencoded). A Basic header that does not decode (no `:`, a bad `%` escape, a NUL
 * character) is malformed: the client failed to authenticate.
 */
function basicCredentials(header: string | undefined): BasicCredentials {
  if (header === undefined || !/^basic /i.test(header)) return { kind: 'absent' };
  const match = /^basic ([A-Za-z0-9+/]+=*)$/i.exec(header);
  if (!match?.[1]) return { kind: 'malformed' };
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const separator = decoded.indexOf(':');
  if (separator < 0) return { kind: 'malformed' };
  const id = percentDecoded(decoded.slice(0, separator));
  const secret = percentDecoded(decoded.slice(separator + 1));
  if (id === undefined || secret === undefined || `${id}${secret}`.includes('\0')) {
    return { kind: 'malformed' };
  }
  return { kind: 'present', id, secret };
}

/** Parses `application/x-www-form-urlencoded` into an object; repeated fields are invalid. */
function parseForm(body: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(body)) {
    if (name in fields) throw badRequest(`field ${name} is repeated`);
    fields[name] = value;
  }
  return fields;
}

/** A short, non-reversible label for a username in rate-limit keys. */
const fingerprint = (value: string) =>
  createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 24);

/** Builds the Auth Controller's HTTP API over its stores and signing keys. */
export function buildAcApp(deps: AcAppDependencies): HttpServer {
  const app = createHttpServer({
    logger: deps.logger,
    metrics: deps.metrics,
    bodyLimit: BODY_LIMIT_BYTES,
    readiness: () => readiness(deps),
    trustedProxies: deps.trustedProxies,
  });
  const authFailure = (reason: string) => deps.metrics.authFailures.inc({ reason });

  /** Charges core's rate-limit buckets (shared in Redis under one hash tag). */
  const charge = (charges: readonly RateLimitCharge[]) =>
    deps.buckets.takeFromAll(
      charges.map((c) => ({ ...c, key: `{rl}:${c.key}` })),
      deps.clock.now(),
    );
  const rateLimited = (retryAfterMs: number, message: string) =>
    new HttpError(429, 'rate_limited', message, {
      'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
      'cache-control': 'no-store',
    });

  async function issue(subject: string, kind: TokenKind, scopes: readonly Scope[], org: string) {
    const key = deps.keys.signingKey();
    if (!key) throw new HttpError(503, 'temporarily_unavailable', 'no signing key is active');
    const claims = buildTokenClaims({
      subject,
      kind,
      scopes,
      org,
      issuer: deps.issuer,
      audience: deps.audience,
      now: deps.clock.now(),
      jti: randomUUID(),
      ...(kind === 'service' && deps.serviceTokenLifetimeMs !== undefined
        ? { lifetimeMs: deps.serviceTokenLifetimeMs }
        : {}),
    });
    if (!claims.ok)
      throw oauthError(400, 'invalid_scope', `cannot issue token: ${claims.error.kind}`);
    return {
      access_token: await signClaims(claims.value, key),
      token_type: 'Bearer',
      expires_in: claims.value.exp - claims.value.iat,
      scope: claims.value.scope,
    };
  }

  app.post('/v1/auth/user/token', async (request, reply) => {
    const body = parseBody(userTokenRequest, request.body);
    const sourceIp = request.ip;
    const userLabel = fingerprint(body.username);
    const limit = await charge(
      loginAttemptCharges(deps.rateLimits, userLabel, fingerprint(sourceIp)),
    );
    if (!limit.allowed) {
      authFailure('rate_limited');
      await deps.audit.record({
        type: 'login_rate_limited',
        outcome: 'failure',
        reason: 'rate_limited',
        sourceIp,
      });
      throw rateLimited(limit.retryAfterMs, 'too many login attempts; retry later');
    }
    const user = await deps.users.findByUsername(body.username);
    if (!(await deps.passwords.verify(body.password, user?.passwordHash)) || !user) {
      authFailure('invalid_credentials');
      await charge(loginFailureCharges(deps.rateLimits, userLabel));
      await deps.audit.record({
        type: 'user_login_failed',
        outcome: 'failure',
        reason: user ? 'wrong_password' : 'unknown_user',
        sourceIp,
      });
      throw oauthError(401, 'invalid_grant', 'invalid username or password');
    }
    const scopes = parseScopeList(user.scopes.join(' '));
    if (!scopes.ok) throw oauthError(400, 'invalid_scope', 'the user has no valid scopes');
    const token = await issue(user.userId, 'user', scopes.value, user.orgId);
    await deps.audit.record({
      type: 'user_token_issued',
      outcome: 'success',
      subject: user.userId,
      sourceIp,
    });
    return reply.header('cache-control', 'no-store').send(token);
  });

  app.register(async (scope) => {
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_request, body, done) => {
        try {
          done(null, parseForm(body as string));
        } catch (error) {
          done(error as Error, undefined);
        }
      },
    );
    scope.post('/v1/auth/service/token', async (request, reply) => {
      const body = parseBody(serviceTokenRequest, request.body);
      if (body.grant_type !== 'client_credentials') {
        authFailure('unsupported_grant_type');
        throw oauthError(400, 'unsupported_grant_type', 'only client_credentials is supported');
      }
      const basic = basicCredentials(request.headers.authorization);
      if (basic.kind === 'malformed') {
        authFailure('invalid_client');
        throw invalidClient('the Basic credentials are malformed');
      }
      const fromBasic = basic.kind === 'present' ? basic : undefined;
      if (fromBasic && (body.client_id !== undefined || body.client_secret !== undefined)) {
        throw oauthError(400, 'invalid_request', 'client credentials were sent twice');
      }
      const clientId = fromBasic?.id ?? body.client_id;
      const secret = fromBasic?.secret ?? body.client_secret;
      if (clientId === undefined || secret === undefined) {
        throw oauthError(400, 'invalid_request', 'client_id and client_secret are required');
      }
      const service = await deps.services.findByClientId(clientId);
      if (!clientSecretMatches(secret, service?.secretHash) || !service) {
        authFailure('invalid_client');
        await deps.audit.record({
          type: 'service_auth_failed',
          outcome: 'failure',
          subject: clientId.slice(0, 128),
          reason: service ? 'wrong_secret' : 'unknown_client',
          sourceIp: request.ip,
        });
        throw invalidClient('client authentication failed');
      }
      const limit = await charge(tokenIssuanceCharges(deps.rateLimits, service.clientId));
      if (!limit.allowed) {
        authFailure('rate_limited');
        throw rateLimited(limit.retryAfterMs, 'too many token requests; reuse issued tokens');
      }
      const granted = grantedScopes(service.scopes, body.scope);
      const token = await issue(service.clientId, 'service', granted, service.orgId);
      await deps.audit.record({
        type: 'service_token_issued',
        outcome: 'success',
        subject: service.clientId,
        sourceIp: request.ip,
      });
      return reply.header('cache-control', 'no-store').send(token);
    });
  });

  app.post('/v1/admin/services/register', async (request, reply) => {
    const admin = await requireBearer(
      request.headers.authorization,
      {
        keys: { find: async (issuer, kid) => ownKey(deps, issuer, kid) },
        policy: { trustedIssuers: new Set([deps.issuer]), audience: deps.audience },
        onRejected: authFailure,
      },
      [ADMIN_SCOPE],
      deps.clock.now(),
    );
    const body = parseBody(serviceRegistration, request.body);
    const scopes = checkScopes(body.scopes, 'service');
    if (!scopes.ok) throw badRequest(`scope ${scopes.error.scope}: ${scopes.error.detail}`);
    const org = body.org ?? admin.org;
    const registered = await registerService(deps, { name: body.name, scopes: scopes.value, org });
    if (!registered.ok && registered.error.kind === 'invalid_org') {
      throw badRequest('org: expected a lower-case DNS label');
    }
    if (!registered.ok) throw new HttpError(409, 'conflict', 'client id collision; retry');
    return reply.code(201).header('cache-control', 'no-store').send({
      client_id: registered.value.clientId,
      client_secret: registered.value.clientSecret,
      scopes: scopes.value,
      org,
    });
  });

  app.get('/.well-known/jwks.json', async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=3600').send(deps.keys.jwks()),
  );

  return app;
}

/**
 * The scopes a service token carries: all the service's scopes, or the requested subset
 * (RFC 6749 section 3.3); asking for a scope the service does not hold is `invalid_scope`.
 */
function grantedScopes(held: readonly string[], requested: string | undefined): Scope[] {
  const heldScopes = held.flatMap((scope) => {
    const parsed = parseScope(scope);
    return parsed.ok ? [parsed.value] : [];
  });
  if (requested === undefined) return heldScopes;
  const asked = parseScopeList(requested);
  if (!asked.ok) throw oauthError(400, 'invalid_scope', 'scope is malformed');
  const unheld = asked.value.filter(
    (scope) => !held.includes(`${scope.principal}.${scope.operation}.${scope.component}`),
  );
  if (unheld.length > 0)
    throw oauthError(400, 'invalid_scope', 'scope exceeds what the client holds');
  return [...asked.value];
}

/** AC verifies its own tokens (admin calls) against the keys it publishes. */
function ownKey(deps: AcAppDependencies, issuer: string, kid: string) {
  if (issuer !== deps.issuer) return err({ kind: 'untrusted_issuer' as const, issuer });
  const key = deps.keys.publicKey(kid);
  return key ? ok(key) : err({ kind: 'unknown_kid' as const, kid });
}

/**
 * Ready when PostgreSQL and Redis answer, a signing key is active and the breaker in front of
 * Redis is not open: every token request is charged to the rate limits in Redis, and while
 * that breaker is open it is answered 503. Once its open time is over the breaker reads
 * half-open and AC ready again, so traffic returns and its probes can close the breaker.
 */
async function readiness(deps: AcAppDependencies): Promise<ReadinessReport> {
  const [database, redis] = await Promise.all([deps.databaseReachable(), deps.redisReachable()]);
  const signingKey = deps.keys.signingKey() !== undefined;
  const breaker = deps.redisBreaker();
  return {
    ready: database && redis && signingKey && breaker !== 'open',
    components: {
      database: database ? 'healthy' : 'unreachable',
      redis: redis ? 'healthy' : 'unreachable',
      redis_breaker: breaker,
      signing_key: signingKey ? 'available' : 'missing',
    },
  };
}
