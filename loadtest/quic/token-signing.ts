/**
 * The controller's cost of a move's connection token: at a failover it signs one token per
 * member it moves, all at once (each move's signing starts as the replan hands it over), so the
 * last member's move leaves the controller that many signatures after the first. The loopback
 * model's `serviceTimes.moveTokenMs`.
 *
 * `measureMoveTokens` signs batches of connection tokens with the controller's own signing code
 * (adapters/jwt `signConnectionToken`, Ed25519 through jose) and a fresh key, the batch started
 * at once as the controller's driver does, and returns the time per token of each batch (ms).
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { signConnectionToken } from '../../adapters/jwt/connection-tokens.ts';
import type { ConnectionGrant } from '../../core/mh/claims.ts';

/** Batches (the first, which warms jose and the key up, is not counted) of `batch` tokens. */
export async function measureMoveTokens(batch: number, rounds = 5): Promise<number[]> {
  const size = Math.max(1, Math.floor(batch));
  const key = {
    kid: `calibration-${randomUUID()}`,
    privateKey: generateKeyPairSync('ed25519').privateKey,
  };
  const now = Date.now();
  const grant = (i: number) =>
    ({
      meeting: 'calibration',
      participant: `member-${i}`,
      handler: 'handler',
      issuedAtMs: now,
      expiresAtMs: now + 60_000,
    }) as unknown as ConnectionGrant;
  const perToken: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: size }, (_, i) => signConnectionToken(grant(i), 'calibration', key)),
    );
    if (round > 0) perToken.push(Math.round(((performance.now() - started) / size) * 1000) / 1000);
  }
  return perToken;
}
