import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcrypt';

/** bcrypt cost for stored passwords: the spec asks for 12 or more. */
export const MIN_BCRYPT_COST = 12;

/** Hashes a password with bcrypt at `cost` (at least 12). */
export function hashPassword(password: string, cost: number): Promise<string> {
  if (cost < MIN_BCRYPT_COST) throw new Error(`bcrypt cost ${cost} is below ${MIN_BCRYPT_COST}`);
  return bcrypt.hash(password, cost);
}

/**
 * Checks passwords against stored bcrypt hashes. An unknown user is compared against a decoy
 * hash of the configured cost (the cost new passwords get), so a failed login costs the same
 * time whether or not the user exists.
 */
export class PasswordVerifier {
  private constructor(readonly decoyHash: string) {}

  /** A verifier whose decoy hash has `cost` (at least 12); takes one bcrypt hash to build. */
  static async withCost(cost: number): Promise<PasswordVerifier> {
    return new PasswordVerifier(await hashPassword(randomBytes(16).toString('hex'), cost));
  }

  /** Checks a password against a stored hash; with no hash, spends the same time and fails. */
  async verify(password: string, hash: string | undefined): Promise<boolean> {
    const matches = await bcrypt.compare(password, hash ?? this.decoyHash);
    return hash !== undefined && matches;
  }
}

/**
 * A new client secret: 256 random bits, base64url. Shown once at registration; only its
 * SHA-256 is stored. A secret with 256 bits of entropy cannot be guessed offline, so a fast
 * hash protects it as well as bcrypt would, and service-token issuance stays sub-millisecond.
 */
export function newClientSecret(): { secret: string; hash: Buffer } {
  const secret = randomBytes(32).toString('base64url');
  return { secret, hash: hashClientSecret(secret) };
}

export function hashClientSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function clientSecretMatches(secret: string, storedHash: Buffer | undefined): boolean {
  const presented = hashClientSecret(secret);
  if (storedHash === undefined || storedHash.length !== presented.length) {
    timingSafeEqual(presented, presented);
    return false;
  }
  return timingSafeEqual(presented, storedHash);
}

/** A new client id: the service name's safe characters plus 64 random bits. */
export function newClientId(name: string): string {
  const stem = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, 32)
    .replace(/^-+|-+$/g, '');
  return `${stem || 'service'}-${randomBytes(8).toString('hex')}`;
}
