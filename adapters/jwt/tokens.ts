import type { KeyObject } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, SignJWT } from 'jose';
import {
  validateClaims,
  type ClaimRejection,
  type TokenClaims,
  type ValidationPolicy,
  type VerifiedClaims,
} from '../../core/auth/claims.ts';
import { err, ok, type Result } from '../../core/result.ts';

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

/** Finds the public key for a `kid`, refreshing its key set as its cache policy allows. */
export interface PublicKeyLookup {
  find(kid: string, now: number): Promise<KeyObject | undefined>;
}

/** Why a token was rejected before or instead of its claims being checked. */
export type TokenRejection =
  | ClaimRejection
  | { readonly kind: 'malformed_token' }
  | { readonly kind: 'unsupported_algorithm'; readonly algorithm: string }
  | { readonly kind: 'missing_kid' }
  | { readonly kind: 'unknown_kid'; readonly kid: string }
  | { readonly kind: 'bad_signature' };

function readHeader(token: string): Result<{ kid: string }, TokenRejection> {
  let header: { alg?: unknown; kid?: unknown };
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return err({ kind: 'malformed_token' });
  }
  if (header.alg !== SIGNING_ALGORITHM) {
    return err({ kind: 'unsupported_algorithm', algorithm: String(header.alg) });
  }
  if (typeof header.kid !== 'string' || header.kid === '') return err({ kind: 'missing_kid' });
  return ok({ kid: header.kid });
}

/**
 * Verifies a compact JWT at `now` (ms since the epoch): the header must name EdDSA and a
 * known `kid`, the Ed25519 signature must hold, and the payload must pass core's claim
 * rules (`validateClaims`) under `policy`. jose checks only the signature; every time
 * claim is judged by core against the caller's clock.
 */
export async function verifyToken(
  token: string,
  keys: PublicKeyLookup,
  policy: ValidationPolicy,
  now: number,
): Promise<Result<VerifiedClaims, TokenRejection>> {
  const header = readHeader(token);
  if (!header.ok) return header;
  const publicKey = await keys.find(header.value.kid, now);
  if (!publicKey) return err({ kind: 'unknown_kid', kid: header.value.kid });
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, publicKey, {
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
  return validateClaims(payload, policy, now);
}
