import type { KeyObject } from 'node:crypto';
import { compactVerify, decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import {
  checkClaims,
  readTokenClaims,
  type ClaimRejection,
  type TokenClaims,
  type ValidationPolicy,
  type VerifiedClaims,
} from '../../core/auth/claims.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type { VerifiedTokenCache } from './verified-cache.ts';

/** The only algorithm Dark Tower signs and accepts. */
export const SIGNING_ALGORITHM = 'EdDSA';

/** A private signing key and the id JWKS publishes its public half under. */
export interface SigningKeyMaterial {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

/** Signs token claims as a compact JWS with header `{alg: EdDSA, kid, typ: JWT}`. */
export function signClaims(claims: TokenClaims, key: SigningKeyMaterial): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

/** Why no public key was found for a token. */
export type KeyLookupRejection =
  | { readonly kind: 'untrusted_issuer'; readonly issuer: string }
  | { readonly kind: 'unknown_kid'; readonly kid: string }
  | { readonly kind: 'keys_unavailable' };

/** Finds the public key for an issuer's `kid`, refreshing key sets as its cache policy allows. */
export interface PublicKeyLookup {
  find(issuer: string, kid: string, now: number): Promise<Result<KeyObject, KeyLookupRejection>>;
  /** The key {@link find} would answer, when it can without waiting (no fetch); else undefined. */
  findNow?(issuer: string, kid: string, now: number): KeyObject | undefined;
}

/** Why a token was rejected before or instead of its claims being checked. */
export type TokenRejection =
  | ClaimRejection
  | KeyLookupRejection
  | { readonly kind: 'malformed_token' }
  | { readonly kind: 'unsupported_algorithm'; readonly algorithm: string }
  | { readonly kind: 'missing_kid' }
  | { readonly kind: 'bad_signature' };

const malformedIssuer: TokenRejection = {
  kind: 'malformed_claims',
  field: 'iss',
  detail: 'must be a non-empty string',
};

/** Reads the unverified header and issuer: enough to pick the key, trusted for nothing else. */
function readHeader(token: string): Result<{ kid: string; issuer: string }, TokenRejection> {
  let header: { alg?: unknown; kid?: unknown };
  let issuer: unknown;
  try {
    header = decodeProtectedHeader(token);
    issuer = decodeJwt(token).iss;
  } catch {
    return err({ kind: 'malformed_token' });
  }
  if (typeof issuer !== 'string') return err(malformedIssuer);
  if (header.alg !== SIGNING_ALGORITHM) {
    return err({ kind: 'unsupported_algorithm', algorithm: String(header.alg) });
  }
  if (typeof header.kid !== 'string' || header.kid === '') return err({ kind: 'missing_kid' });
  return ok({ kid: header.kid, issuer });
}

/**
 * The verdict of {@link verifyToken} on a token `verified` remembers, when it can be given at
 * once: the issuer and kid still resolve, without a fetch, to the key it verified under. Its
 * claims are judged at `now` as always. Undefined otherwise: call {@link verifyToken}.
 */
export function verifyRememberedToken(
  token: string,
  keys: PublicKeyLookup,
  policy: ValidationPolicy,
  now: number,
  verified?: VerifiedTokenCache,
): Result<VerifiedClaims, TokenRejection> | undefined {
  const remembered = verified?.recall(token, now);
  if (remembered === undefined || keys.findNow === undefined) return undefined;
  const key = keys.findNow(remembered.issuer, remembered.kid, now);
  return key === remembered.key ? checkClaims(remembered.claims, policy, now) : undefined;
}

/**
 * Verifies a compact JWT at `now` (ms since the epoch): the header must name EdDSA and a
 * known `kid`, the Ed25519 signature must hold, and the payload must pass core's claim
 * rules (`validateClaims`) under `policy`. jose checks only the signature; every time
 * claim is judged by core against the caller's clock. With `verified`, a token that verified
 * recently under the key its issuer and kid still resolve to is neither decoded nor verified
 * again; its claims are.
 */
export async function verifyToken(
  token: string,
  keys: PublicKeyLookup,
  policy: ValidationPolicy,
  now: number,
  verified?: VerifiedTokenCache,
): Promise<Result<VerifiedClaims, TokenRejection>> {
  const quick = verifyRememberedToken(token, keys, policy, now, verified);
  if (quick !== undefined) return quick;
  const remembered = verified?.recall(token, now);
  if (remembered !== undefined) {
    const key = await keys.find(remembered.issuer, remembered.kid, now);
    if (key.ok && key.value === remembered.key) {
      return checkClaims(remembered.claims, policy, now);
    }
  }
  const header = readHeader(token);
  if (!header.ok) return header;
  const { issuer, kid } = header.value;
  const publicKey = await keys.find(issuer, kid, now);
  if (!publicKey.ok) return publicKey;
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, publicKey.value, {
      algorithms: [SIGNING_ALGORITHM],
    }));
  } catch {
    return err({ kind: 'bad_signature' });
  }
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder().decode(payloadBytes));
  } catch {
    return err({ kind: 'malformed_token' });
  }
  const claims = readTokenClaims(payload);
  verified?.remember(token, { issuer, kid, key: publicKey.value, claims }, now);
  return checkClaims(claims, policy, now);
}
