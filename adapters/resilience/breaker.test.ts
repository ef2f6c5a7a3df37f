import { describe, expect, it } from 'vitest';
import { REDIS_BREAKER_POLICY, type BreakerPolicy } from '../../core/ops/circuit-breaker.ts';
import { BreakerOpenError, CircuitBreaker, breakerGaugeValue, guarded } from './breaker.ts';
import { DependencyUnavailableError, isDependencyUnavailable } from './dependency-errors.ts';

const unreachable = () => Promise.reject(new Error('Command timed out'));
const answered = () => Promise.resolve('PONG');

function breakerAt(start = 0, policy: BreakerPolicy = REDIS_BREAKER_POLICY) {
  const clock = { now: start };
  const breaker = new CircuitBreaker('redis', policy, () => clock.now);
  return { breaker, clock };
}

async function failTimes(breaker: CircuitBreaker, times: number) {
  for (let i = 0; i < times; i++) await expect(breaker.call(unreachable)).rejects.toThrow();
}

describe('CircuitBreaker', () => {
  it('opens after the policy’s consecutive dependency failures, then refuses without calling', async () => {
    const { breaker } = breakerAt();
    await failTimes(breaker, 4);
    expect(breaker.current()).toEqual({ kind: 'closed', consecutiveFailures: 4 });
    expect(breaker.refusing()).toBe(false);
    await failTimes(breaker, 1);
    expect(breaker.refusing()).toBe(true);
    let called = false;
    const refused = breaker.call(async () => {
      called = true;
      return 'PONG';
    });
    await expect(refused).rejects.toBeInstanceOf(BreakerOpenError);
    await expect(refused).rejects.toSatisfy(isDependencyUnavailable);
    expect(called).toBe(false);
    expect(breakerGaugeValue(breaker.current())).toBe(2);
  });

  it('counts only dependency failures: a caller’s own error means the dependency answered', async () => {
    const { breaker } = breakerAt();
    await failTimes(breaker, 4);
    await expect(breaker.call(() => Promise.reject(new SyntaxError('bad JSON')))).rejects.toThrow(
      SyntaxError,
    );
    expect(breaker.current()).toEqual({ kind: 'closed', consecutiveFailures: 0 });
    await failTimes(breaker, 4);
    await expect(
      breaker.call(() => Promise.reject(new DependencyUnavailableError('redis'))),
    ).rejects.toThrow();
    expect(breaker.refusing()).toBe(true);
  });

  it('half-opens when the open time is over, and closes once its probes succeed', async () => {
    const policy = { failureThreshold: 5, openDurationMs: 2_000, halfOpenProbes: 3 };
    const { breaker, clock } = breakerAt(1_000, policy);
    await failTimes(breaker, 5);
    clock.now = 1_000 + policy.openDurationMs - 1;
    await expect(breaker.call(answered)).rejects.toBeInstanceOf(BreakerOpenError);
    clock.now += 1;
    expect(breaker.refusing()).toBe(false);
    expect(breakerGaugeValue(breaker.current())).toBe(1);
    // Probes in flight together: the policy's number go through, the rest are refused.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const probe = () => breaker.call(async () => gate.then(() => 'PONG'));
    const probes = [probe(), probe(), probe()];
    await expect(breaker.call(answered)).rejects.toBeInstanceOf(BreakerOpenError);
    release();
    expect(await Promise.all(probes)).toEqual(['PONG', 'PONG', 'PONG']);
    expect(breaker.current()).toEqual({ kind: 'closed', consecutiveFailures: 0 });
    expect(await breaker.call(answered)).toBe('PONG');
  });

  it('closes a Redis breaker on its first answered probe, refusing others meanwhile', async () => {
    const { breaker, clock } = breakerAt();
    await failTimes(breaker, 5);
    clock.now = REDIS_BREAKER_POLICY.openDurationMs;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const probe = breaker.call(async () => gate.then(() => 'PONG'));
    await expect(breaker.call(answered)).rejects.toBeInstanceOf(BreakerOpenError);
    release();
    expect(await probe).toBe('PONG');
    expect(breaker.current()).toEqual({ kind: 'closed', consecutiveFailures: 0 });
  });

  it('opens again for a full open time when a probe fails', async () => {
    const { breaker, clock } = breakerAt();
    await failTimes(breaker, 5);
    clock.now = 10_000;
    await failTimes(breaker, 1);
    expect(breaker.current()).toEqual({ kind: 'open', openedAt: 10_000 });
  });
});

describe('guarded', () => {
  class Port {
    calls = 0;
    constructor(private readonly fail: { now: boolean }) {}
    async get(key: string): Promise<string> {
      this.calls++;
      if (this.fail.now) throw new Error('Connection is closed.');
      return `value of ${key}`;
    }
    async put(_key: string): Promise<void> {
      this.calls++;
    }
  }

  it('calls the named methods on the port itself, through the breaker', async () => {
    const { breaker } = breakerAt();
    const fail = { now: false };
    const port = new Port(fail);
    const through = guarded(port, breaker, ['get', 'put']);
    expect(Object.keys(through).sort()).toEqual(['get', 'put']);
    expect(await through.get('a')).toBe('value of a');
    fail.now = true;
    for (let i = 0; i < 5; i++) await expect(through.get('a')).rejects.toThrow();
    expect(port.calls).toBe(6);
    await expect(through.put('a')).rejects.toBeInstanceOf(BreakerOpenError);
    expect(port.calls).toBe(6);
  });
});
