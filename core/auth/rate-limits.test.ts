import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AC_RATE_LIMITS,
  acRateLimits,
  decide,
  DEFAULT_LOGIN_LIMIT,
  DEFAULT_TOKEN_ISSUANCE_LIMIT,
  loginAttemptCharges,
  loginFailureCharges,
  rateLimitKey,
  tokenIssuanceCharges,
  type AcRateLimits,
  type BucketStates,
} from './rate-limits.ts';

/** A login attempt that fails its password check: charged to the failure bucket if allowed. */
function failedLogin(
  limits: AcRateLimits,
  states: BucketStates,
  user: string,
  address: string,
  now: number,
) {
  const attempt = decide(loginAttemptCharges(limits, user, address), states, now);
  if (!attempt.allowed) return attempt;
  return {
    ...attempt,
    states: decide(loginFailureCharges(limits, user), attempt.states, now).states,
  };
}

describe('AC rate limits', () => {
  it('has the documented defaults', () => {
    expect(AC_RATE_LIMITS).toEqual({
      loginPerUserAddress: { capacity: 5, refillIntervalMs: 12_000 },
      loginFailuresPerUser: { capacity: 20, refillIntervalMs: 6_000 },
      loginPerAddress: { capacity: 20, refillIntervalMs: 3_000 },
      tokenIssuancePerClient: { capacity: 20, refillIntervalMs: 3_000 },
    });
    expect(acRateLimits(DEFAULT_LOGIN_LIMIT, DEFAULT_TOKEN_ISSUANCE_LIMIT)).toEqual(AC_RATE_LIMITS);
    expect(acRateLimits({ capacity: 1, refillIntervalMs: 1 }).loginPerAddress).toEqual({
      capacity: 4,
      refillIntervalMs: 1,
    });
  });

  it('limits attempts per (user, address), charging nothing when it refuses', () => {
    let states: BucketStates = new Map();
    const burst = AC_RATE_LIMITS.loginPerUserAddress.capacity;
    for (let i = 0; i < burst; i++) {
      const d = decide(loginAttemptCharges(AC_RATE_LIMITS, 'alice', 'A'), states, 0);
      expect(d.allowed).toBe(true);
      states = d.states;
    }
    const refused = decide(loginAttemptCharges(AC_RATE_LIMITS, 'alice', 'A'), states, 0);
    expect(refused).toMatchObject({
      allowed: false,
      retryAfterMs: AC_RATE_LIMITS.loginPerUserAddress.refillIntervalMs,
    });
    expect(refused.states.get(rateLimitKey('loginPerAddress', 'A'))?.tokens).toBe(
      AC_RATE_LIMITS.loginPerAddress.capacity - burst,
    );
    // Successful attempts never charge the per-user failure bucket.
    expect(refused.states.get(rateLimitKey('loginFailuresPerUser', 'alice'))?.tokens).toBe(
      AC_RATE_LIMITS.loginFailuresPerUser.capacity,
    );
    expect(decide(loginAttemptCharges(AC_RATE_LIMITS, 'alice', 'B'), states, 0).allowed).toBe(true);
    expect(decide(loginAttemptCharges(AC_RATE_LIMITS, 'bob', 'A'), states, 0).allowed).toBe(true);
  });

  it('never lets failures from one address lock the user out from another', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.array(fc.integer({ min: 0, max: 50_000 }), { minLength: 1, maxLength: 300 }),
        (capacity, refillIntervalMs, gaps) => {
          const limits = acRateLimits({ capacity, refillIntervalMs });
          let states: BucketStates = new Map();
          let now = 1_700_000_000_000;
          for (const gap of gaps) {
            now += gap;
            states = failedLogin(limits, states, 'alice', 'attacker', now).states;
            const fromElsewhere = decide(loginAttemptCharges(limits, 'alice', 'home'), states, now);
            if (!fromElsewhere.allowed) return false;
          }
          return true;
        },
      ),
    );
  });

  it('locks a user out after failures from many addresses, but not other users', () => {
    let states: BucketStates = new Map();
    const failures = AC_RATE_LIMITS.loginFailuresPerUser.capacity;
    for (let i = 0; i < failures; i++) {
      const d = failedLogin(AC_RATE_LIMITS, states, 'alice', `10.0.0.${i}`, 0);
      expect(d.allowed).toBe(true);
      states = d.states;
    }
    const locked = decide(loginAttemptCharges(AC_RATE_LIMITS, 'alice', 'fresh'), states, 0);
    expect(locked).toMatchObject({
      allowed: false,
      retryAfterMs: AC_RATE_LIMITS.loginFailuresPerUser.refillIntervalMs,
    });
    expect(decide(loginAttemptCharges(AC_RATE_LIMITS, 'bob', 'fresh'), states, 0).allowed).toBe(
      true,
    );
    const later = AC_RATE_LIMITS.loginFailuresPerUser.refillIntervalMs;
    expect(
      decide(loginAttemptCharges(AC_RATE_LIMITS, 'alice', 'fresh'), states, later).allowed,
    ).toBe(true);
  });

  it('limits one address spraying many accounts', () => {
    let states: BucketStates = new Map();
    let allowed = 0;
    for (let user = 0; user < 100; user++) {
      const d = failedLogin(AC_RATE_LIMITS, states, `user-${user}`, 'A', 0);
      states = d.states;
      if (d.allowed) allowed++;
    }
    expect(allowed).toBe(AC_RATE_LIMITS.loginPerAddress.capacity);
  });

  it('limits token issuance per client', () => {
    let states: BucketStates = new Map();
    let allowed = 0;
    for (let i = 0; i < 50; i++) {
      const d = decide(tokenIssuanceCharges(AC_RATE_LIMITS, 'worker'), states, 0);
      states = d.states;
      if (d.allowed) allowed++;
    }
    expect(allowed).toBe(AC_RATE_LIMITS.tokenIssuancePerClient.capacity);
    expect(decide(tokenIssuanceCharges(AC_RATE_LIMITS, 'other'), states, 0).allowed).toBe(true);
    expect(decide(tokenIssuanceCharges(AC_RATE_LIMITS, 'worker'), states, 3_000).allowed).toBe(
      true,
    );
  });

  it('names store keys by policy and subject', () => {
    expect(rateLimitKey('loginFailuresPerUser', 'alice')).toBe(
      'ratelimit:loginFailuresPerUser:alice',
    );
    expect(loginAttemptCharges(AC_RATE_LIMITS, 'alice', 'A').map((c) => [c.key, c.take])).toEqual([
      ['ratelimit:loginPerUserAddress:alice/A', true],
      ['ratelimit:loginPerAddress:A', true],
      ['ratelimit:loginFailuresPerUser:alice', false],
    ]);
    expect(loginFailureCharges(AC_RATE_LIMITS, 'alice')).toEqual([
      {
        key: 'ratelimit:loginFailuresPerUser:alice',
        config: AC_RATE_LIMITS.loginFailuresPerUser,
        take: true,
      },
    ]);
  });
});
