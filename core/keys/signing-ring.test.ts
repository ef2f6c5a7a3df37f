import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_SIGNING_KEY_POLICY, SigningKeyRing, keyScheduleAt } from './signing-ring.ts';
import type { SigningRingEffect } from './signing-ring.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;
const policy = DEFAULT_SIGNING_KEY_POLICY;

type Material = { readonly secretOf: string };

const generated = (kid: string, now: number) =>
  ({ type: 'key_generated', kid, material: { secretOf: kid }, createdAt: now }) as const;

const kidsToGenerate = (effects: readonly SigningRingEffect[]) =>
  effects.flatMap((e) => (e.type === 'generate_key' ? [e.schedule.kid] : []));

/** A ring with its generation requests answered at once. */
function bootedRing(now: number): SigningKeyRing<Material> {
  const ring = new SigningKeyRing<Material>(policy);
  for (const kid of kidsToGenerate(ring.handle({ type: 'tick' }, now))) {
    ring.handle(generated(kid, now), now);
  }
  return ring;
}

describe('key schedule', () => {
  it('aligns slots to the anchor and derives the kid from activeFrom', () => {
    const now = 3 * WEEK_MS + 5 * DAY_MS;
    expect(keyScheduleAt(policy, now)).toEqual({
      kid: `ac-${3 * WEEK_MS}`,
      activeFrom: 3 * WEEK_MS,
      expiresAt: 5 * WEEK_MS,
    });
    expect(keyScheduleAt(policy, now, 1).activeFrom).toBe(4 * WEEK_MS);
  });
});

describe('signing-key ring', () => {
  it('boots with the current slot key and signs with it', () => {
    const now = 10 * WEEK_MS + HOUR_MS;
    const ring = bootedRing(now);
    expect(ring.signingKey(now)?.kid).toBe(`ac-${10 * WEEK_MS}`);
    expect(ring.publishedKeys(now).map((k) => k.kid)).toEqual([`ac-${10 * WEEK_MS}`]);
  });

  it('pre-publishes the next key a day ahead, switches at activation, retires after overlap', () => {
    const start = 10 * WEEK_MS + HOUR_MS;
    const ring = bootedRing(start);
    const current = `ac-${10 * WEEK_MS}`;
    const next = `ac-${11 * WEEK_MS}`;
    expect(ring.nextDeadline()).toBe(11 * WEEK_MS - DAY_MS);

    const leadStart = 11 * WEEK_MS - DAY_MS;
    expect(kidsToGenerate(ring.handle({ type: 'tick' }, leadStart))).toEqual([next]);
    ring.handle(generated(next, leadStart), leadStart);
    expect(ring.publishedKeys(leadStart).map((k) => k.kid)).toEqual([current, next]);
    expect(ring.signingKey(11 * WEEK_MS - 1)?.kid).toBe(current);
    expect(ring.signingKey(11 * WEEK_MS)?.kid).toBe(next);

    const retirement = 12 * WEEK_MS;
    const effects = ring.handle({ type: 'tick' }, retirement);
    expect(effects).toContainEqual({ type: 'retire_key', kid: current });
    expect(ring.publishedKeys(retirement).map((k) => k.kid)).not.toContain(current);
  });

  it('is idempotent under a flood of ticks in one instant, and retries a lost request', () => {
    const now = 10 * WEEK_MS - 2 * HOUR_MS; // inside the next key's lead
    const ring = new SigningKeyRing<Material>(policy);
    const requested = Array.from({ length: 100 }, () =>
      kidsToGenerate(ring.handle({ type: 'tick' }, now)),
    ).flat();
    expect(requested).toEqual([`ac-${9 * WEEK_MS}`, `ac-${10 * WEEK_MS}`]);
    expect(
      kidsToGenerate(ring.handle({ type: 'tick' }, now + policy.generationRetryMs - 1)),
    ).toEqual([]);
    expect(ring.nextDeadline()).toBe(now + policy.generationRetryMs);
    const retried = kidsToGenerate(ring.handle({ type: 'tick' }, now + policy.generationRetryMs));
    expect(retried).toEqual(requested);
  });

  it('accepts a generated key once and ignores keys it never asked for', () => {
    const now = 10 * WEEK_MS + HOUR_MS;
    const ring = bootedRing(now);
    ring.handle(
      {
        type: 'key_generated',
        kid: `ac-${10 * WEEK_MS}`,
        material: { secretOf: 'other' },
        createdAt: now,
      },
      now,
    );
    ring.handle(generated('ac-unrequested', now), now);
    expect(ring.keys().map((k) => k.material.secretOf)).toEqual([`ac-${10 * WEEK_MS}`]);
  });

  it('keeps signing with the previous key while the new one is late', () => {
    const start = 10 * WEEK_MS + HOUR_MS;
    const ring = bootedRing(start);
    ring.handle({ type: 'tick' }, 11 * WEEK_MS - DAY_MS); // request lost
    const late = 11 * WEEK_MS + HOUR_MS;
    ring.handle({ type: 'tick' }, late);
    expect(ring.signingKey(late)?.kid).toBe(`ac-${10 * WEEK_MS}`);
  });

  it('never signs with a key that would expire before the tokens it signs', () => {
    const old = keyScheduleAt(policy, 10 * WEEK_MS);
    const ring = new SigningKeyRing<Material>(policy, [
      { ...old, createdAt: 0, material: { secretOf: old.kid } },
    ]);
    expect(ring.signingKey(old.expiresAt - 2 * HOUR_MS)?.kid).toBe(old.kid);
    expect(ring.signingKey(old.expiresAt - 2 * HOUR_MS + 1)).toBeUndefined();
  });

  it('restores from stored keys', () => {
    const now = 10 * WEEK_MS + HOUR_MS;
    const stored = bootedRing(now).keys();
    const restored = new SigningKeyRing<Material>(policy, stored);
    expect(kidsToGenerate(restored.handle({ type: 'tick' }, now))).toEqual([]);
    expect(restored.signingKey(now)).toEqual(stored[0]);
  });

  it('time travel: every unexpired token verifies against every later JWKS; no retired key is published', () => {
    const step = fc.record({
      advanceMs: fc.integer({ min: MINUTE_MS, max: 4 * HOUR_MS }),
      tokenLifetimeMs: fc.integer({ min: 1, max: 2 * HOUR_MS }),
      generationDelaySteps: fc.integer({ min: 0, max: 3 }),
      requestLost: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    });
    const scenario = fc.record({
      start: fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }),
      steps: fc.array(step, { minLength: 150, maxLength: 400 }),
    });
    fc.assert(
      fc.property(scenario, ({ start, steps }) => {
        const ring = new SigningKeyRing<Material>(policy);
        const deliveries: { kid: string; atStep: number }[] = [];
        const tokens: { kid: string; exp: number }[] = [];
        const retired = new Set<string>();
        const firstPublished = new Map<string, number>();
        const firstSigned = new Map<string, number>();
        let now = start;

        const apply = (
          effects: readonly SigningRingEffect[],
          index: number,
          lost: boolean,
          delay: number,
        ) => {
          for (const effect of effects) {
            if (effect.type === 'retire_key') retired.add(effect.kid);
            // The boot key is always delivered; later requests may be lost or late.
            else if (index === 0) deliveries.push({ kid: effect.schedule.kid, atStep: 0 });
            else if (!lost) deliveries.push({ kid: effect.schedule.kid, atStep: index + delay });
          }
        };

        steps.forEach((s, index) => {
          if (index > 0) now += s.advanceMs;
          apply(ring.handle({ type: 'tick' }, now), index, s.requestLost, s.generationDelaySteps);
          for (const d of deliveries.filter((d) => d.atStep <= index)) {
            apply(
              ring.handle(generated(d.kid, now), now),
              index,
              s.requestLost,
              s.generationDelaySteps,
            );
          }
          deliveries.splice(0, deliveries.length, ...deliveries.filter((d) => d.atStep > index));

          const published = ring.publishedKeys(now);
          const publishedKids = new Set(published.map((k) => k.kid));
          for (const key of published) {
            expect(retired.has(key.kid)).toBe(false);
            expect(now).toBeLessThan(key.expiresAt);
            if (!firstPublished.has(key.kid)) firstPublished.set(key.kid, now);
          }
          // Every token still alive verifies now.
          for (const token of tokens) {
            if (now < token.exp) expect(publishedKids.has(token.kid)).toBe(true);
          }

          const signer = ring.signingKey(now);
          expect(signer).toBeDefined();
          if (signer === undefined) return;
          const exp = now + s.tokenLifetimeMs;
          expect(exp).toBeLessThanOrEqual(signer.expiresAt);
          expect(publishedKids.has(signer.kid)).toBe(true);
          if (!firstSigned.has(signer.kid)) firstSigned.set(signer.kid, now);
          tokens.push({ kid: signer.kid, exp });
        });

        // Keys published after boot were published at least one JWKS cache period (1 h) before
        // they first signed, so validators had them cached. Keys in the first JWKS are exempt:
        // no validator can hold a key set older than it (a ring booted less than an hour
        // before a rotation publishes the current and the next key at once).
        for (const [kid, signedAt] of firstSigned) {
          const publishedAt = firstPublished.get(kid);
          expect(publishedAt).toBeDefined();
          if (publishedAt === start) continue;
          expect(publishedAt).toBeLessThanOrEqual(signedAt - HOUR_MS);
        }
      }),
      { numRuns: 60 },
    );
  });
});
