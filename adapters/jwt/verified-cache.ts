import type { KeyObject } from 'node:crypto';
import type { ReadClaims } from '../../core/auth/claims.ts';

/** A token whose signature verified: what was read from it, and the key it verified under. */
export interface VerifiedToken {
  readonly issuer: string;
  readonly kid: string;
  readonly key: KeyObject;
  /** The payload's claims as read, not yet judged: they are checked on every use. */
  readonly claims: ReadClaims;
}

/**
 * Remembers compact JWTs whose signature already verified, with their decoded header and
 * claims, so a token presented again skips the Ed25519 verification (the dominant cost of an
 * authenticated read), the decoding and the reading of its claims. An entry counts only while the same key object still
 * resolves for its issuer and kid (a key dropped from the JWKS, or replaced, invalidates it;
 * the caller checks) and lives at most `maxAgeMs`. Claims are still checked on every request
 * by the caller. Bounded: the oldest entries go first.
 */
export class VerifiedTokenCache {
  /**
   * Entries by the token's last characters (all of them signature: an Ed25519 signature takes
   * 86), the whole token kept to compare: a lookup then hashes a short key rather than the
   * whole token, several hundred characters, which showed in a cached read's CPU time. A token
   * that shares the key but differs anywhere else is a miss (and fails verification).
   */
  private readonly entries = new Map<
    string,
    { compact: string; token: VerifiedToken; storedAt: number }
  >();

  constructor(
    private readonly capacity = 10_000,
    private readonly maxAgeMs = 60_000,
  ) {}

  /** What was remembered of `token` at `now` (ms), unless it aged out or was never stored. */
  recall(token: string, now: number): VerifiedToken | undefined {
    const key = keyOf(token);
    const entry = this.entries.get(key);
    if (entry === undefined || entry.compact !== token) return undefined;
    if (now - entry.storedAt < this.maxAgeMs && now >= entry.storedAt) return entry.token;
    this.entries.delete(key);
    return undefined;
  }

  /** Remembers a token whose signature has just verified under `verified.key`. */
  remember(token: string, verified: VerifiedToken, now: number): void {
    const key = keyOf(token);
    this.entries.delete(key);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { compact: token, token: verified, storedAt: now });
  }
}

/** Characters of a token's end its entry is found by. */
const KEY_LENGTH = 64;

/** The end of a compact JWS (within its signature), or the whole string if shorter. */
function keyOf(token: string): string {
  return token.length <= KEY_LENGTH ? token : token.slice(-KEY_LENGTH);
}
