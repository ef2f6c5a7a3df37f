/**
 * JWT claim rules for Dark Tower tokens (spec 003, "1. Auth Controller"): user tokens live
 * 1 hour, service tokens 2 hours; validators check issuer, audience, expiry, not-before,
 * issued-at and scopes with a bounded clock-skew leeway.
 *
 * Units: `now` and every `...Ms` value are milliseconds since the Unix epoch (or durations in
 * milliseconds). The JWT time claims `iat`, `nbf` and `exp` are NumericDate values, that is
 * seconds since the epoch (RFC 7519 section 2).
 *
 * Signature verification is the adapter's job (`jose`); these rules run on the verified
 * payload.
 */
import { err, ok } from '../result.ts';
import type { Ok, Result } from '../result.ts';
import { formatScope, formatScopeList, missingScopes, parseScopeList } from './scopes.ts';
import type { Principal, Scope } from './scopes.ts';

/** The two token kinds; the kind is also the principal every scope in the token must carry. */
export type TokenKind = Principal;

/** Lifetime of each token kind in milliseconds: user 1 h, service 2 h. */
export const TOKEN_LIFETIME_MS: Readonly<Record<TokenKind, number>> = {
  user: 60 * 60 * 1000,
  service: 2 * 60 * 60 * 1000,
};

/** Default clock-skew leeway between issuer and validator clocks: 30 s. */
export const DEFAULT_CLOCK_SKEW_LEEWAY_MS = 30_000;

/** The payload of a Dark Tower token, as signed. Times are NumericDate (seconds). */
export interface TokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
  /** Space-separated scopes (RFC 6749 section 3.3). */
  readonly scope: string;
  readonly token_type: TokenKind;
  /**
   * The organisation (tenant) the subject belongs to; a token acts only inside it. A lower-case
   * DNS label ({@link ORG_ID}), the same as the tenant's subdomain.
   */
  readonly org: string;
}

/** An organisation id: a lower-case DNS label (1-63 letters, digits, inner dashes). */
export const ORG_ID = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Whether `value` is a well-formed organisation id ({@link ORG_ID}). */
export const isOrgId = (value: string): boolean => ORG_ID.test(value);

/** What to build a new token from. */
export interface NewTokenRequest {
  readonly subject: string;
  readonly kind: TokenKind;
  readonly scopes: readonly Scope[];
  /** The subject's organisation ({@link ORG_ID}). */
  readonly org: string;
  readonly issuer: string;
  readonly audience: string;
  /** Milliseconds since the epoch. */
  readonly now: number;
  /** A unique token id chosen by the caller. */
  readonly jti: string;
  /**
   * A lifetime shorter than the kind's (whole seconds, from 1 s up to {@link TOKEN_LIFETIME_MS});
   * the kind's lifetime when absent.
   */
  readonly lifetimeMs?: number;
}

export type TokenRequestError =
  | { readonly kind: 'empty_field'; readonly field: 'subject' | 'issuer' | 'audience' | 'jti' }
  | { readonly kind: 'no_scopes' }
  | { readonly kind: 'malformed_org'; readonly org: string }
  | { readonly kind: 'bad_lifetime'; readonly lifetimeMs: number; readonly maxMs: number }
  | {
      readonly kind: 'scope_principal_mismatch';
      readonly tokenKind: TokenKind;
      readonly scope: string;
    };

/**
 * Builds the claims of a new token: issued and valid from `now` (rounded down to the second),
 * expiring after the lifetime of its kind (or the shorter one asked for). Every scope must belong to the token's principal.
 */
export function buildTokenClaims(request: NewTokenRequest): Result<TokenClaims, TokenRequestError> {
  for (const field of ['subject', 'issuer', 'audience', 'jti'] as const) {
    if (request[field] === '') return err({ kind: 'empty_field', field });
  }
  if (request.scopes.length === 0) return err({ kind: 'no_scopes' });
  if (!isOrgId(request.org)) return err({ kind: 'malformed_org', org: request.org });
  const foreign = request.scopes.find((scope) => scope.principal !== request.kind);
  if (foreign) {
    return err({
      kind: 'scope_principal_mismatch',
      tokenKind: request.kind,
      scope: formatScope(foreign),
    });
  }
  const maxMs = TOKEN_LIFETIME_MS[request.kind];
  const lifetimeMs = request.lifetimeMs ?? maxMs;
  if (!Number.isInteger(lifetimeMs / 1000) || lifetimeMs < 1000 || lifetimeMs > maxMs) {
    return err({ kind: 'bad_lifetime', lifetimeMs, maxMs });
  }
  const issuedAt = Math.floor(request.now / 1000);
  return ok({
    iss: request.issuer,
    sub: request.subject,
    aud: request.audience,
    iat: issuedAt,
    nbf: issuedAt,
    exp: issuedAt + lifetimeMs / 1000,
    jti: request.jti,
    scope: formatScopeList(request.scopes),
    token_type: request.kind,
    org: request.org,
  });
}

/** What a validator expects of a token. */
export interface ValidationPolicy {
  /** Issuers whose tokens are accepted (federation: one per cluster). */
  readonly trustedIssuers: ReadonlySet<string>;
  /** This service's audience; the token's `aud` must be or contain it. */
  readonly audience: string;
  /** Scopes the request needs; checked with admin ⊇ write ⊇ read (see scopes.ts). */
  readonly requiredScopes: readonly Scope[];
  /** Clock-skew leeway in milliseconds; defaults to DEFAULT_CLOCK_SKEW_LEEWAY_MS. */
  readonly leewayMs?: number;
}

/** Claims that passed validation, with scopes parsed. Times stay in seconds as signed. */
export interface VerifiedClaims {
  readonly issuer: string;
  readonly subject: string;
  readonly kind: TokenKind;
  readonly scopes: readonly Scope[];
  /** The organisation the token acts in (claim `org`). */
  readonly org: string;
  readonly jti: string | undefined;
  readonly issuedAt: number;
  readonly notBefore: number;
  readonly expiresAt: number;
}

export type ClaimRejection =
  | { readonly kind: 'malformed_claims'; readonly field: string; readonly detail: string }
  | { readonly kind: 'wrong_issuer'; readonly issuer: string }
  | { readonly kind: 'wrong_audience'; readonly audience: readonly string[] }
  | { readonly kind: 'expired'; readonly expiredAtMs: number }
  | { readonly kind: 'not_yet_valid'; readonly validFromMs: number }
  | { readonly kind: 'issued_in_future'; readonly issuedAtMs: number }
  | { readonly kind: 'lifetime_too_long'; readonly lifetimeMs: number; readonly maxMs: number }
  | { readonly kind: 'missing_scope'; readonly missing: readonly Scope[] };

type Payload = Readonly<Record<string, unknown>>;

const malformed = (field: string, detail: string): ClaimRejection => ({
  kind: 'malformed_claims',
  field,
  detail,
});

function readString(payload: Payload, field: string): Result<string, ClaimRejection> {
  const value = payload[field];
  if (typeof value !== 'string' || value === '') {
    return err(malformed(field, 'must be a non-empty string'));
  }
  return ok(value);
}

function readNumericDate(payload: Payload, field: string): Result<number, ClaimRejection> {
  const value = payload[field];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    return err(malformed(field, 'must be a non-negative NumericDate (seconds)'));
  }
  return ok(value);
}

function readAudience(payload: Payload): Result<readonly string[], ClaimRejection> {
  const value = payload['aud'];
  if (typeof value === 'string' && value !== '') return ok([value]);
  if (Array.isArray(value) && value.length > 0 && value.every((a) => typeof a === 'string')) {
    return ok(value as string[]);
  }
  return err(malformed('aud', 'must be a string or a non-empty array of strings'));
}

function readKind(payload: Payload): Result<TokenKind, ClaimRejection> {
  const value = payload['token_type'];
  if (value === 'user' || value === 'service') return ok(value);
  return err(malformed('token_type', 'must be "user" or "service"'));
}

function readScopes(payload: Payload, kind: TokenKind): Result<readonly Scope[], ClaimRejection> {
  const value = payload['scope'];
  if (typeof value !== 'string') return err(malformed('scope', 'must be a string'));
  const parsed = parseScopeList(value);
  if (!parsed.ok) return err(malformed('scope', `malformed scope list (${parsed.error.kind})`));
  if (parsed.value.some((scope) => scope.principal !== kind)) {
    return err(malformed('scope', `every scope must belong to principal "${kind}"`));
  }
  return ok(parsed.value);
}

function readOrg(payload: Payload): Result<string, ClaimRejection> {
  const value = payload['org'];
  if (typeof value === 'string' && isOrgId(value)) return ok(value);
  return err(malformed('org', 'must be an organisation id (a lower-case DNS label)'));
}

function readJti(payload: Payload): Result<string | undefined, ClaimRejection> {
  const value = payload['jti'];
  if (value === undefined) return ok(undefined);
  if (typeof value === 'string' && value !== '') return ok(value);
  return err(malformed('jti', 'must be a non-empty string when present'));
}

/** Reads the shape of the payload; semantic checks come afterwards. */
function readClaims(
  payload: unknown,
): Result<VerifiedClaims & { audience: readonly string[] }, ClaimRejection> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return err(malformed('payload', 'must be a JSON object'));
  }
  const claims = payload as Payload;
  const issuer = readString(claims, 'iss');
  if (!issuer.ok) return issuer;
  const subject = readString(claims, 'sub');
  if (!subject.ok) return subject;
  const audience = readAudience(claims);
  if (!audience.ok) return audience;
  const issuedAt = readNumericDate(claims, 'iat');
  if (!issuedAt.ok) return issuedAt;
  const notBefore = readNumericDate(claims, 'nbf');
  if (!notBefore.ok) return notBefore;
  const expiresAt = readNumericDate(claims, 'exp');
  if (!expiresAt.ok) return expiresAt;
  if (expiresAt.value <= issuedAt.value) return err(malformed('exp', 'must be after iat'));
  const kind = readKind(claims);
  if (!kind.ok) return kind;
  const scopes = readScopes(claims, kind.value);
  if (!scopes.ok) return scopes;
  const org = readOrg(claims);
  if (!org.ok) return org;
  const jti = readJti(claims);
  if (!jti.ok) return jti;
  return ok({
    issuer: issuer.value,
    subject: subject.value,
    audience: audience.value,
    kind: kind.value,
    scopes: scopes.value,
    org: org.value,
    jti: jti.value,
    issuedAt: issuedAt.value,
    notBefore: notBefore.value,
    expiresAt: expiresAt.value,
  });
}

/**
 * Checks the time claims at `now` (ms) with a leeway of `leewayMs`:
 * - valid while `now < exp + leeway` (RFC 7519: the current time must be before exp);
 * - valid from `now >= nbf - leeway`;
 * - rejected when `iat > now + leeway` (issued in the future beyond the leeway);
 * - rejected when `exp - iat` exceeds the lifetime of the token's kind.
 */
function checkTimes(
  claims: VerifiedClaims,
  now: number,
  leewayMs: number,
): Result<void, ClaimRejection> {
  const expiredAtMs = claims.expiresAt * 1000;
  const validFromMs = claims.notBefore * 1000;
  const issuedAtMs = claims.issuedAt * 1000;
  if (now >= expiredAtMs + leewayMs) return err({ kind: 'expired', expiredAtMs });
  if (now < validFromMs - leewayMs) return err({ kind: 'not_yet_valid', validFromMs });
  if (issuedAtMs > now + leewayMs) return err({ kind: 'issued_in_future', issuedAtMs });
  const lifetimeMs = expiredAtMs - issuedAtMs;
  const maxMs = TOKEN_LIFETIME_MS[claims.kind];
  if (lifetimeMs > maxMs) return err({ kind: 'lifetime_too_long', lifetimeMs, maxMs });
  return ok(undefined);
}

/**
 * A payload's claims as read once: either why its shape is wrong, or the claims (as
 * validation answers them) and the audience. {@link checkClaims} judges it against a policy at
 * a time; a validator that sees the same token again can keep this and skip reading it again.
 */
export type ReadClaims =
  | { readonly ok: false; readonly error: ClaimRejection }
  | {
      readonly ok: true;
      readonly audience: readonly string[];
      /** The answer of a successful check, the same object every time. */
      readonly accepted: Ok<VerifiedClaims>;
    };

/** Reads the shape of a payload (already signature-verified), without judging it. */
export function readTokenClaims(payload: unknown): ReadClaims {
  const read = readClaims(payload);
  if (!read.ok) return read;
  const { audience, ...claims } = read.value;
  return { ok: true, audience, accepted: ok(claims) };
}

/**
 * Checks claims read by {@link readTokenClaims} at `now` (ms since the epoch) under `policy`.
 * Checks run in this order and the first failure is returned: shape (`malformed_claims`),
 * issuer, audience, times (`expired`, `not_yet_valid`, `issued_in_future`,
 * `lifetime_too_long`), then required scopes (`missing_scope`).
 */
export function checkClaims(
  read: ReadClaims,
  policy: ValidationPolicy,
  now: number,
): Result<VerifiedClaims, ClaimRejection> {
  if (!read.ok) return read;
  const { audience, accepted } = read;
  const claims = accepted.value;
  if (!policy.trustedIssuers.has(claims.issuer)) {
    return err({ kind: 'wrong_issuer', issuer: claims.issuer });
  }
  if (!audience.includes(policy.audience)) return err({ kind: 'wrong_audience', audience });
  const times = checkTimes(claims, now, policy.leewayMs ?? DEFAULT_CLOCK_SKEW_LEEWAY_MS);
  if (!times.ok) return times;
  const missing = missingScopes(claims.scopes, policy.requiredScopes);
  if (missing.length > 0) return err({ kind: 'missing_scope', missing });
  return accepted;
}

/**
 * Validates a token payload (already signature-verified) at `now` (ms since the epoch):
 * {@link readTokenClaims}, then {@link checkClaims}.
 */
export function validateClaims(
  payload: unknown,
  policy: ValidationPolicy,
  now: number,
): Result<VerifiedClaims, ClaimRejection> {
  return checkClaims(readTokenClaims(payload), policy, now);
}
