import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_SIGNING_KEY_POLICY, SigningKeyRing } from './signing-ring.ts';
import { emptyJwksCache, fetchSucceeded, jwksCachePolicy, resolveKey } from './jwks-cache.ts';
import type { JwksCacheState } from './jwks-cache.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const ISSUER = 'https://ac.us-west-1';
const cachePolicy = jwksCachePolicy([ISSUER]);

describe('signing-key rotation seen through a validator JWKS cache', () => {
  it('validators never meet an unknown kid across weekly rotations, so never refresh for one', () => {
    const scenario = fc.record({
      start: fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }),
      steps: fc.array(
        fc.record({
          advanceMs: fc.integer({ min: MINUTE_MS, max: 90 * MINUTE_MS }),
          lifetimeMs: fc.integer({ min: 1, max: 2 * HOUR_MS }),
          verifyOlder: fc.nat(),
        }),
        { minLength: 250, maxLength: 400 },
      ),
    });
    fc.assert(
      fc.property(scenario, ({ start, steps }) => {
        const ring = new SigningKeyRing<string>(DEFAULT_SIGNING_KEY_POLICY);
        let cache: JwksCacheState<string> = emptyJwksCache();
        let now = start;
        let unknownKidRefreshes = 0;
        let tokens: { kid: string; exp: number }[] = [];

        const jwksNow = () =>
          Object.fromEntries(ring.publishedKeys(now).map((k) => [k.kid, k.material]));
        const verify = (kid: string) => {
          const fresh = cache[ISSUER]?.fetchedAt;
          const first = resolveKey(cache, cachePolicy, ISSUER, kid, now);
          cache = first.state;
          if (first.decision.kind === 'fetch_then_retry') {
            if (fresh !== undefined && now < fresh + cachePolicy.ttlMs) unknownKidRefreshes++;
            cache = fetchSucceeded(cache, ISSUER, jwksNow(), now);
            const retried = resolveKey(cache, cachePolicy, ISSUER, kid, now);
            cache = retried.state;
            return retried.decision;
          }
          if (first.decision.kind === 'use_key' && first.decision.refreshInBackground) {
            cache = fetchSucceeded(cache, ISSUER, jwksNow(), now);
          }
          return first.decision;
        };

        for (const step of steps) {
          now += step.advanceMs;
          for (const effect of ring.handle({ type: 'tick' }, now)) {
            if (effect.type === 'generate_key') {
              const kid = effect.schedule.kid;
              ring.handle(
                { type: 'key_generated', kid, material: `secret:${kid}`, createdAt: now },
                now,
              );
            }
          }
          const signer = ring.signingKey(now);
          expect(signer).toBeDefined();
          if (signer === undefined) return;
          const token = { kid: signer.kid, exp: now + step.lifetimeMs };
          tokens = [...tokens.filter((t) => now < t.exp), token];
          const older = tokens[step.verifyOlder % tokens.length]!;
          for (const { kid } of [older, token]) {
            expect(verify(kid)).toMatchObject({ kind: 'use_key', key: `secret:${kid}` });
          }
        }
        expect(unknownKidRefreshes).toBe(0);
      }),
      // Each run simulates weeks; report the first failing seed rather than shrink it.
      { numRuns: 40, endOnFailure: true },
    );
  });
});
