import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fullBucket, msUntilFull, takeFromAll, takeTokens } from './token-bucket.ts';
import type { TokenBucketConfig, TokenBucketState } from './token-bucket.ts';

const config: TokenBucketConfig = { capacity: 3, refillIntervalMs: 1000 };

describe('token bucket', () => {
  it('allows a burst of capacity, then refuses with the wait until the next token', () => {
    let state: TokenBucketState | undefined;
    for (let i = 0; i < 3; i++) {
      const decision = takeTokens(state, config, 0);
      expect(decision.allowed).toBe(true);
      state = decision.state;
    }
    const refused = takeTokens(state, config, 250);
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 750 });
    expect(takeTokens(refused.state, config, 999).allowed).toBe(false);
    expect(takeTokens(refused.state, config, 1000).allowed).toBe(true);
  });

  it('never holds more than capacity however long it idles', () => {
    const idle = takeTokens(fullBucket(config, 0), config, 1_000_000);
    expect(idle.state.tokens).toBe(2);
  });

  it('refuses a cost above capacity forever, and charges nothing on refusal', () => {
    const decision = takeTokens(undefined, config, 0, 4);
    expect(decision).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
    expect(decision.state.tokens).toBe(3);
  });

  it('refills nothing when the clock steps backwards', () => {
    const drained = { tokens: 0, refilledAt: 10_000 };
    expect(takeTokens(drained, config, 5_000).allowed).toBe(false);
  });

  it('reports when the bucket is full again', () => {
    expect(msUntilFull({ tokens: 1, refilledAt: 0 }, config, 500)).toBe(1500);
    expect(msUntilFull({ tokens: 3, refilledAt: 0 }, config, 500)).toBe(0);
  });

  it('never allows more than capacity + elapsed / interval over any window', () => {
    const scenario = fc.record({
      capacity: fc.integer({ min: 1, max: 20 }),
      refillIntervalMs: fc.integer({ min: 1, max: 5000 }),
      steps: fc.array(
        fc.record({ gap: fc.integer({ min: 0, max: 3000 }), cost: fc.integer({ min: 1, max: 3 }) }),
        { maxLength: 200 },
      ),
    });
    fc.assert(
      fc.property(scenario, ({ capacity, refillIntervalMs, steps }) => {
        const cfg = { capacity, refillIntervalMs };
        let state: TokenBucketState | undefined;
        let now = 0;
        const granted: { at: number; cost: number }[] = [];
        for (const { gap, cost } of steps) {
          now += gap;
          const decision = takeTokens(state, cfg, now, cost);
          state = decision.state;
          if (decision.allowed) granted.push({ at: now, cost });
          else expect(decision.retryAfterMs).toBeGreaterThan(0);
        }
        // Every window [from, to] of granted requests stays within the bound.
        for (let i = 0; i < granted.length; i++) {
          let total = 0;
          for (let j = i; j < granted.length; j++) {
            total += granted[j]!.cost;
            const elapsed = granted[j]!.at - granted[i]!.at;
            expect(total).toBeLessThanOrEqual(capacity + elapsed / refillIntervalMs);
          }
        }
      }),
    );
  });

  it('a refused request succeeds exactly retryAfterMs later', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 999 }),
        fc.integer({ min: 1, max: 3 }),
        (tokens, sinceRefill, cost) => {
          const state = { tokens, refilledAt: 0 };
          const first = takeTokens(state, config, sinceRefill, cost);
          if (first.allowed) return;
          const { retryAfterMs } = first;
          expect(takeTokens(first.state, config, sinceRefill + retryAfterMs, cost).allowed).toBe(
            true,
          );
          expect(
            takeTokens(first.state, config, sinceRefill + retryAfterMs - 1, cost).allowed,
          ).toBe(false);
        },
      ),
    );
  });

  it('round-trips its state through JSON', () => {
    const state = takeTokens(undefined, config, 42).state;
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});

describe('takeFromAll', () => {
  it('charges every bucket or none', () => {
    const empty = { tokens: 0, refilledAt: 0 };
    const refused = takeFromAll(
      [
        { state: undefined, config },
        { state: empty, config: { capacity: 1, refillIntervalMs: 5000 } },
      ],
      100,
    );
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(4900);
    expect(refused.states[0]?.tokens).toBe(3);
    const allowed = takeFromAll(
      [
        { state: undefined, config },
        { state: undefined, config },
      ],
      100,
    );
    expect(allowed.allowed).toBe(true);
    expect(allowed.states.map((s) => s.tokens)).toEqual([2, 2]);
  });

  it('requires a token of a bucket with take: false but does not charge it', () => {
    const one = { tokens: 1, refilledAt: 0 };
    const checked = takeFromAll(
      [
        { state: undefined, config },
        { state: one, config, take: false },
      ],
      100,
    );
    expect(checked).toEqual({
      allowed: true,
      retryAfterMs: 0,
      states: [
        { tokens: 2, refilledAt: 100 },
        { tokens: 1, refilledAt: 0 },
      ],
    });
    const fresh = takeFromAll([{ state: undefined, config, take: false }], 100);
    expect(fresh.states).toEqual([{ tokens: 3, refilledAt: 100 }]);
    const refused = takeFromAll(
      [
        { state: undefined, config },
        { state: { tokens: 0, refilledAt: 0 }, config, take: false },
      ],
      100,
    );
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 900 });
    expect(refused.states[0]?.tokens).toBe(3);
  });
});
