import type { KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';

/**
 * Remembers compact JWTs whose signature already verified, so a token presented again skips
 * the Ed25519 verification (the dominant cost of an authenticated read). An entry counts only
 * while the same key object still resolves for its kid (a key dropped from the JWKS, or
 * replaced, invalidates it) and lives at most `maxAgeMs`. Claims are still checked on every
 * request by the caller. Bounded: the oldest entries go first.
 */
export class VerifiedSignatureCache {
  private readonly entries = new Map<
    string,
    { key: KeyObject; payload: Uint8Array; storedAt: number }
  >();

  constructor(
    private readonly capacity = 10_000,
    private readonly maxAgeMs = 60_000,
  ) {}

  /** The verified payload bytes of `token` under `key`, verifying (and remembering) if needed. */
  async payloadOf(
    token: string,
    key: KeyObject,
    algorithm: string,
    now: number,
  ): Promise<Uint8Array> {
    const cached = this.entries.get(token);
    if (
      cached &&
      cached.key === key &&
      now - cached.storedAt < this.maxAgeMs &&
      now >= cached.storedAt
    ) {
      return cached.payload;
    }
    const { payload } = await compactVerify(token, key, { algorithms: [algorithm] });
    this.entries.delete(token);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, { key, payload, storedAt: now });
    return payload;
  }
}
