import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../random.ts';
import { SERVICE_TOKEN_REFRESH, TokenRefresh, type TokenRefreshOutput } from './token-refresh.ts';

const HOUR = 3_600_000;

/** Wakes the machine at `now` and drains what it asks for. */
function wake(machine: TokenRefresh, now: number): TokenRefreshOutput[] {
  machine.handleTimeout(now);
  const outputs: TokenRefreshOutput[] = [];
  for (let o = machine.pollOutput(); o !== null; o = machine.pollOutput()) outputs.push(o);
  return outputs;
}

const drain = (machine: TokenRefresh) => wake(machine, Number.NEGATIVE_INFINITY);

describe('service token refresh', () => {
  it('fetches at once, then refreshes a 2-hour token after one hour', () => {
    const machine = new TokenRefresh(1_000, deterministicRandom(1));
    expect(machine.pollTimeout()).toBe(1_000);
    expect(machine.token(1_000)).toBeUndefined();
    expect(wake(machine, 1_000)).toEqual([{ type: 'fetch' }]);
    // One fetch at a time: waking again asks for nothing.
    expect(wake(machine, 1_100)).toEqual([]);
    machine.handle({ type: 'issued', token: 't1', lifetimeMs: 2 * HOUR }, 1_200);
    expect(machine.token(1_200)).toBe('t1');
    expect(machine.pollTimeout()).toBe(1_000 + HOUR);
    expect(wake(machine, 1_000 + HOUR - 1)).toEqual([]);
    expect(wake(machine, 1_000 + HOUR)).toEqual([{ type: 'fetch' }]);
    // The old token is still handed out while the refresh is under way.
    expect(machine.token(1_000 + HOUR)).toBe('t1');
    machine.handle({ type: 'issued', token: 't2', lifetimeMs: 2 * HOUR }, 1_000 + HOUR + 50);
    expect(machine.token(1_000 + HOUR + 50)).toBe('t2');
  });

  it('refreshes a short token at half its lifetime and stops handing it out near expiry', () => {
    const machine = new TokenRefresh(0, deterministicRandom(1));
    wake(machine, 0);
    machine.handle({ type: 'issued', token: 't', lifetimeMs: 20_000 }, 10);
    expect(machine.pollTimeout()).toBe(10_000);
    // A tenth of its lifetime (2 s) is shorter than the 5 s margin.
    expect(machine.token(17_999)).toBe('t');
    expect(machine.token(18_000)).toBeUndefined();
    // A long token stops 5 s before expiry.
    wake(machine, 10_000);
    machine.handle({ type: 'issued', token: 'long', lifetimeMs: HOUR }, 10_000);
    expect(machine.token(10_000 + HOUR - 5_001)).toBe('long');
    expect(machine.token(10_000 + HOUR - 5_000)).toBeUndefined();
  });

  it('refreshes a long token no later than the lead before its expiry', () => {
    const machine = new TokenRefresh(0, deterministicRandom(1), {
      ...SERVICE_TOKEN_REFRESH,
      refreshFraction: 0.99,
    });
    wake(machine, 0);
    machine.handle({ type: 'issued', token: 't', lifetimeMs: HOUR }, 0);
    expect(machine.pollTimeout()).toBe(HOUR - SERVICE_TOKEN_REFRESH.minLeadMs);
  });

  it('backs off after failures, honours Retry-After, and resets once a token comes', () => {
    const machine = new TokenRefresh(0, { next: () => 0.999_999, bytes: (n) => new Uint8Array(n) });
    let now = 0;
    const delays: number[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      expect(wake(machine, now)).toEqual([{ type: 'fetch' }]);
      machine.handle({ type: 'failed' }, now);
      const [scheduled] = drain(machine);
      expect(scheduled).toMatchObject({ type: 'retry-scheduled', failures: attempt + 1 });
      const next = machine.pollTimeout() ?? NaN;
      delays.push(Math.round(next - now));
      now = next;
    }
    expect(delays).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000,
    ]);
    // AC names a longer wait: it is honoured.
    wake(machine, now);
    machine.handle({ type: 'failed', retryAfterMs: 120_000 }, now);
    expect(machine.pollTimeout()).toBe(now + 120_000);
    now += 120_000;
    wake(machine, now);
    machine.handle({ type: 'issued', token: 't', lifetimeMs: 20_000 }, now);
    expect(machine.failures).toBe(0);
    expect(machine.token(now)).toBe('t');
  });

  it('fails a fetch that never answers, and ignores its late answer', () => {
    const machine = new TokenRefresh(0, deterministicRandom(2));
    wake(machine, 0);
    expect(machine.pollTimeout()).toBe(SERVICE_TOKEN_REFRESH.fetchTimeoutMs);
    const outputs = wake(machine, SERVICE_TOKEN_REFRESH.fetchTimeoutMs);
    expect(outputs).toMatchObject([{ type: 'retry-scheduled', failures: 1 }]);
    machine.handle({ type: 'issued', token: 'late', lifetimeMs: HOUR }, 10_001);
    expect(machine.token(10_001)).toBeUndefined();
  });

  it('treats an empty token or a non-positive lifetime as a failure', () => {
    const machine = new TokenRefresh(0, deterministicRandom(3));
    wake(machine, 0);
    machine.handle({ type: 'issued', token: '', lifetimeMs: HOUR }, 0);
    expect(machine.failures).toBe(1);
    wake(machine, machine.pollTimeout() ?? 0);
    machine.handle({ type: 'issued', token: 't', lifetimeMs: 0 }, 1_000);
    expect(machine.failures).toBe(2);
    expect(machine.token(1_000)).toBeUndefined();
  });

  it('property: a held token is never handed out past expiry, and refreshes come before it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(
          fc.record({
            ok: fc.boolean(),
            lifetimeMs: fc.integer({ min: 1_000, max: 4 * HOUR }),
            latencyMs: fc.integer({ min: 0, max: 20_000 }),
            retryAfterMs: fc.option(fc.integer({ min: 0, max: 300_000 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        (seed, answers) => {
          const machine = new TokenRefresh(0, deterministicRandom(seed));
          let now = 0;
          let expiresAt = Number.NEGATIVE_INFINITY;
          for (const answer of answers) {
            const at = machine.pollTimeout();
            if (at === null) return false;
            // A timed-out fetch's retry may fall due before its late answer came.
            now = Math.max(now, at);
            const asked = wake(machine, now);
            if (!asked.some((o) => o.type === 'fetch')) continue;
            const startedAt = now;
            // Before asking, a token that is still held was due for refresh ahead of expiry.
            if (machine.token(now) !== undefined) expect(now).toBeLessThan(expiresAt);
            now += answer.latencyMs;
            if (answer.latencyMs >= SERVICE_TOKEN_REFRESH.fetchTimeoutMs) {
              wake(machine, startedAt + SERVICE_TOKEN_REFRESH.fetchTimeoutMs);
            }
            if (answer.ok) {
              machine.handle({ type: 'issued', token: 't', lifetimeMs: answer.lifetimeMs }, now);
              if (answer.latencyMs < SERVICE_TOKEN_REFRESH.fetchTimeoutMs) {
                expiresAt = startedAt + answer.lifetimeMs;
                // The refresh is due after the fetch started and before the token expires.
                expect(machine.pollTimeout()).toBeGreaterThan(startedAt);
                expect(machine.pollTimeout()).toBeLessThan(Math.max(expiresAt, now + 1));
                // A prompt answer: the token is still handed out when its refresh falls due.
                if (answer.latencyMs < answer.lifetimeMs * 0.4) {
                  expect(machine.token(machine.pollTimeout() ?? NaN)).toBe('t');
                }
              }
            } else {
              machine.handle({ type: 'failed', retryAfterMs: answer.retryAfterMs }, now);
            }
            drain(machine);
            for (const probe of [now, now + 1_000, now + 60_000, now + HOUR]) {
              if (machine.token(probe) !== undefined) expect(probe).toBeLessThan(expiresAt);
            }
          }
          return true;
        },
      ),
    );
  });
});
