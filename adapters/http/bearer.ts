import type { Scope } from '../../core/auth/scopes.ts';
import type { ValidationPolicy, VerifiedClaims } from '../../core/auth/claims.ts';
import { formatScopeList } from '../../core/auth/scopes.ts';
import {
  verifyRememberedToken,
  verifyToken,
  type PublicKeyLookup,
  type TokenRejection,
} from '../jwt/tokens.ts';
import { HttpError } from './errors.ts';
import type { VerifiedTokenCache } from '../jwt/verified-cache.ts';

/**
 * Reads the token of an `Authorization: Bearer <token>` header (RFC 6750). The scheme name
 * is case-insensitive (RFC 9110 section 11.1): `bearer` works too.
 */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
  return match?.[1];
}

/** What a request must prove, and how to check it. */
export interface BearerCheck {
  readonly keys: PublicKeyLookup;
  readonly policy: Omit<ValidationPolicy, 'requiredScopes'>;
  readonly onRejected: (reason: string) => void;
  /** Skips decoding and re-verifying recently verified tokens (claims are still checked). */
  readonly verifiedTokens?: VerifiedTokenCache;
}

function rejection(reason: string, status: 401 | 403, message: string): HttpError {
  const code = status === 403 ? 'insufficient_scope' : 'invalid_token';
  return new HttpError(status, code, message, {
    'www-authenticate': `Bearer error="${code}", error_description="${message}"`,
  });
}

function describe(reason: TokenRejection): string {
  switch (reason.kind) {
    case 'missing_scope':
      return `token lacks scope ${formatScopeList(reason.missing)}`;
    case 'malformed_claims':
      return `token claim ${reason.field} is invalid`;
    case 'unsupported_algorithm':
      return 'token algorithm is not accepted';
    default:
      return `token rejected: ${reason.kind.replaceAll('_', ' ')}`;
  }
}

/** The validation policy of each check and scope list, made once rather than per request. */
const policies = new WeakMap<BearerCheck, WeakMap<readonly Scope[], ValidationPolicy>>();

function policyFor(check: BearerCheck, scopes: readonly Scope[]): ValidationPolicy {
  let byScopes = policies.get(check);
  if (byScopes === undefined) {
    byScopes = new WeakMap();
    policies.set(check, byScopes);
  }
  let policy = byScopes.get(scopes);
  if (policy === undefined) {
    policy = { ...check.policy, requiredScopes: scopes };
    byScopes.set(scopes, policy);
  }
  return policy;
}

/**
 * Verifies the request's bearer token at `now` (ms) and requires `scopes`. Throws a 401
 * (`invalid_token`, with a WWW-Authenticate header) for a missing or invalid token, or a
 * 403 (`insufficient_scope`) for a valid token without the scopes; reports the reason.
 */
export async function requireBearer(
  authorization: string | undefined,
  check: BearerCheck,
  scopes: readonly Scope[],
  now: number,
): Promise<VerifiedClaims> {
  const token = bearerToken(authorization);
  if (token === undefined) {
    check.onRejected('missing_token');
    throw rejection('missing_token', 401, 'a Bearer token is required');
  }
  const policy = policyFor(check, scopes);
  const verified =
    verifyRememberedToken(token, check.keys, policy, now, check.verifiedTokens) ??
    (await verifyToken(token, check.keys, policy, now, check.verifiedTokens));
  if (verified.ok) return verified.value;
  check.onRejected(verified.error.kind);
  const status = verified.error.kind === 'missing_scope' ? 403 : 401;
  throw rejection(verified.error.kind, status, describe(verified.error));
}
