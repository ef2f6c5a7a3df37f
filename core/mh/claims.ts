/**
 * The connection token a Meeting Controller hands a joining client for one Media Handler
 * (spec 003, join flow step 4-5), and the handler's check of its claims. Verifying the
 * signature is the driver's job (an adapter); this module checks what the claims say.
 * Times are milliseconds since the Unix epoch.
 */
import type { HandlerId, MeetingId, ParticipantId } from '../ids.ts';
import { err, ok, type Result } from '../result.ts';

/** What a connection token asserts (docs/protocol.md, "Connection-token claims"). */
export interface ConnectionTokenClaims {
  readonly meeting: MeetingId;
  readonly participant: ParticipantId;
  /** The only handler that may accept the token. */
  readonly handler: HandlerId;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  /** Single use: a handler accepts a nonce once until the token expires. */
  readonly nonce: string;
}

/**
 * What a Meeting Controller grants a member for one handler: a connection token's claims less
 * the nonce, which the driver that signs the token adds.
 */
export type ConnectionGrant = Omit<ConnectionTokenClaims, 'nonce'>;

export interface ClaimsPolicy {
  /** Clock difference (ms) tolerated between the issuing controller and the handler. */
  readonly clockSkewMs: number;
  /** Longest lifetime (ms) a token may claim; bounds how long a nonce must be remembered. */
  readonly maxLifetimeMs: number;
}

export const DEFAULT_CLAIMS_POLICY: ClaimsPolicy = { clockSkewMs: 5_000, maxLifetimeMs: 600_000 };

/** Why a token's claims are refused. */
export type ClaimsRefusal =
  | 'invalid-claims'
  | 'wrong-handler'
  | 'lifetime-too-long'
  | 'not-yet-valid'
  | 'expired'
  | 'nonce-replayed';

const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value !== '';
const finite = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value);

/**
 * Checks `claims` for handler `me` at `now`, in this order: well-formed (non-empty strings,
 * finite times, expiry after issue), addressed to `me`, lifetime within the policy, issued no
 * later than now + skew, not expired by now - skew, nonce not seen (`seenNonce`).
 */
export function checkConnectionClaims(
  claims: ConnectionTokenClaims,
  me: HandlerId,
  now: number,
  seenNonce: (nonce: string) => boolean,
  policy: ClaimsPolicy = DEFAULT_CLAIMS_POLICY,
): Result<ConnectionTokenClaims, ClaimsRefusal> {
  if (
    !nonEmpty(claims.meeting) ||
    !nonEmpty(claims.participant) ||
    !nonEmpty(claims.handler) ||
    !nonEmpty(claims.nonce) ||
    !finite(claims.issuedAtMs) ||
    !finite(claims.expiresAtMs) ||
    claims.expiresAtMs <= claims.issuedAtMs
  ) {
    return err('invalid-claims');
  }
  if (claims.handler !== me) return err('wrong-handler');
  if (claims.expiresAtMs - claims.issuedAtMs > policy.maxLifetimeMs) {
    return err('lifetime-too-long');
  }
  if (claims.issuedAtMs > now + policy.clockSkewMs) return err('not-yet-valid');
  if (claims.expiresAtMs <= now - policy.clockSkewMs) return err('expired');
  if (seenNonce(claims.nonce)) return err('nonce-replayed');
  return ok(claims);
}
