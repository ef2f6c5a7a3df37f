/**
 * Connection tokens: what a Meeting Controller hands a client for one Media Handler (spec 003,
 * join flow steps 4-5; docs/protocol.md, "Connection tokens"). A compact JWS signed with the
 * controller's Ed25519 key, header `{alg: EdDSA, kid, typ: dt-connection+jwt}`, payload core's
 * `ConnectionTokenClaims` plus `iss` (the issuing controller). The distinct `typ` keeps an
 * access token from passing as a connection token and the other way round.
 *
 * This module checks the signature and the shape of the claims only; whether a handler accepts
 * them (addressed to it, lifetime, expiry with skew, single-use nonce) is core's decision
 * (`checkConnectionClaims`, through the forwarder's `session-open`).
 */
import { randomBytes } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { compactVerify, decodeProtectedHeader } from 'jose';
import type { ConnectionGrant, ConnectionTokenClaims } from '../../core/mh/claims.ts';
import { err, ok, type Result } from '../../core/result.ts';
import {
  SIGNING_ALGORITHM,
  type KeyLookupRejection,
  type PublicKeyLookup,
  type SigningKeyMaterial,
} from './tokens.ts';

/** The JOSE `typ` of a connection token. */
export const CONNECTION_TOKEN_TYPE = 'dt-connection+jwt';

/** Longest token accepted before any decoding (a hello carrying more is refused at once). */
export const MAX_CONNECTION_TOKEN_LENGTH = 4_096;

/** A fresh single-use nonce: 128 random bits, base64url. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** One synchronous signer per controller key (its PEM exported once). */
const signers = new WeakMap<SigningKeyMaterial, (payload: Record<string, unknown>) => string>();

function signerFor(key: SigningKeyMaterial): (payload: Record<string, unknown>) => string {
  let signer = signers.get(key);
  if (signer === undefined) {
    signer = createSigner({
      key: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      algorithm: SIGNING_ALGORITHM,
      kid: key.kid,
      header: { alg: SIGNING_ALGORITHM, typ: CONNECTION_TOKEN_TYPE },
      noTimestamp: true,
    });
    signers.set(key, signer);
  }
  return signer;
}

/**
 * Signs a connection token for `grant` as controller `issuer` with `key`, adding a fresh nonce
 * (or `nonce`, for tests that replay one), in the caller's turn: node:crypto's Ed25519 through
 * fast-jwt, where jose signs on WebCrypto and answers a turn of the event loop later (a
 * controller's join answer waited on that turn behind the loop's other work; measured here,
 * 0.06 ms a token against 0.24 ms and the turn).
 */
export function signConnectionTokenNow(
  grant: ConnectionGrant,
  issuer: string,
  key: SigningKeyMaterial,
  nonce: string = newNonce(),
): string {
  const claims: ConnectionTokenClaims = { ...grant, nonce };
  return signerFor(key)({ ...claims, iss: issuer });
}

/** `signConnectionTokenNow` as a promise (signed before it returns). */
export function signConnectionToken(
  grant: ConnectionGrant,
  issuer: string,
  key: SigningKeyMaterial,
  nonce: string = newNonce(),
): Promise<string> {
  return new Promise((resolve) => resolve(signConnectionTokenNow(grant, issuer, key, nonce)));
}

/** Why a connection token was refused before its claims reached the forwarder. */
export type ConnectionTokenRejection =
  | KeyLookupRejection
  | { readonly kind: 'malformed_token' }
  | { readonly kind: 'wrong_token_type' }
  | { readonly kind: 'unsupported_algorithm' }
  | { readonly kind: 'missing_kid' }
  | { readonly kind: 'bad_signature' }
  | { readonly kind: 'malformed_claims' };

/** A verified token: who signed it and what it claims. */
export interface VerifiedConnectionToken {
  readonly issuer: string;
  readonly claims: ConnectionTokenClaims;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isNumber = (value: unknown): value is number => typeof value === 'number';

function readJson(segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Verifies a connection token: EdDSA only, the connection-token `typ`, a `kid` that the
 * (unverified) issuer's key set holds, a valid signature, then claims of the right types. The
 * issuer must be trusted by `keys` (its JWKS policy); an untrusted one is `untrusted_issuer`.
 */
export async function verifyConnectionToken(
  token: string,
  keys: PublicKeyLookup,
  now: number,
): Promise<Result<VerifiedConnectionToken, ConnectionTokenRejection>> {
  if (token.length > MAX_CONNECTION_TOKEN_LENGTH) return err({ kind: 'malformed_token' });
  const parts = token.split('.');
  if (parts.length !== 3) return err({ kind: 'malformed_token' });
  let header: { alg?: unknown; kid?: unknown; typ?: unknown };
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return err({ kind: 'malformed_token' });
  }
  const unverified = readJson(parts[1] as string);
  if (typeof unverified !== 'object' || unverified === null) {
    return err({ kind: 'malformed_token' });
  }
  if (header.alg !== SIGNING_ALGORITHM) return err({ kind: 'unsupported_algorithm' });
  if (header.typ !== CONNECTION_TOKEN_TYPE) return err({ kind: 'wrong_token_type' });
  if (!isString(header.kid) || header.kid === '') return err({ kind: 'missing_kid' });
  const issuer = (unverified as { iss?: unknown }).iss;
  if (!isString(issuer) || issuer === '') return err({ kind: 'malformed_claims' });
  const key = await keys.find(issuer, header.kid, now);
  if (!key.ok) return key;
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, key.value, {
      algorithms: [SIGNING_ALGORITHM],
    }));
  } catch {
    return err({ kind: 'bad_signature' });
  }
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(new TextDecoder().decode(payloadBytes)) as Record<string, unknown>;
  } catch {
    return err({ kind: 'malformed_token' });
  }
  const { meeting, participant, handler, issuedAtMs, expiresAtMs, nonce } = payload;
  if (
    !isString(meeting) ||
    !isString(participant) ||
    !isString(handler) ||
    !isString(nonce) ||
    !isNumber(issuedAtMs) ||
    !isNumber(expiresAtMs) ||
    payload.iss !== issuer
  ) {
    return err({ kind: 'malformed_claims' });
  }
  return ok({
    issuer,
    claims: {
      meeting: meeting as ConnectionTokenClaims['meeting'],
      participant: participant as ConnectionTokenClaims['participant'],
      handler: handler as ConnectionTokenClaims['handler'],
      issuedAtMs,
      expiresAtMs,
      nonce,
    },
  });
}
