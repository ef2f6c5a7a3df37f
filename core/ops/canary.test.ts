import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { advanceCanary, analyseCanary, canaryTrafficPercent, startCanary } from './canary.ts';
import type { CanaryRollout, CanaryVerdict } from './canary.ts';

const baseline = { requests: 10_000, errors: 100, p99LatencyMs: 40 };

describe('canary analysis', () => {
  it('promotes a canary within both limits', () => {
    expect(analyseCanary({ requests: 1_000, errors: 15, p99LatencyMs: 80 }, baseline)).toEqual({
      kind: 'promote',
    });
  });

  it('rolls back when the error rate exceeds 150 % of the baseline', () => {
    expect(analyseCanary({ requests: 1_000, errors: 16, p99LatencyMs: 40 }, baseline)).toEqual({
      kind: 'rollback',
      reason: 'error-rate',
      canary: 0.016,
      limit: 0.015,
    });
  });

  it('rolls back when p99 exceeds twice the baseline', () => {
    const verdict = analyseCanary({ requests: 1_000, errors: 0, p99LatencyMs: 81 }, baseline);
    expect(verdict).toMatchObject({ kind: 'rollback', reason: 'latency', limit: 80 });
  });

  it('holds while either side has too few requests', () => {
    const hold = { kind: 'hold', reason: 'too-few-samples' };
    expect(analyseCanary({ requests: 99, errors: 50, p99LatencyMs: 999 }, baseline)).toEqual(hold);
    expect(
      analyseCanary({ requests: 1_000, errors: 0, p99LatencyMs: 1 }, { ...baseline, requests: 10 }),
    ).toEqual(hold);
  });

  it('floors a zero baseline error rate at 0.1 %', () => {
    const clean = { requests: 10_000, errors: 0, p99LatencyMs: 40 };
    expect(analyseCanary({ requests: 10_000, errors: 15, p99LatencyMs: 40 }, clean).kind).toBe(
      'promote',
    );
    expect(analyseCanary({ requests: 10_000, errors: 16, p99LatencyMs: 40 }, clean).kind).toBe(
      'rollback',
    );
  });

  it('walks 5 -> 10 -> 50 -> 100 % and completes', () => {
    const promote: CanaryVerdict = { kind: 'promote' };
    let rollout: CanaryRollout = startCanary();
    const seen: number[] = [];
    while (rollout.status === 'progressing') {
      seen.push(canaryTrafficPercent(rollout));
      rollout = advanceCanary(rollout, promote);
    }
    expect(seen).toEqual([5, 10, 50, 100]);
    expect(rollout).toEqual({ status: 'complete' });
  });

  it('sends no traffic after a rollback and ignores later verdicts', () => {
    const rolledBack = advanceCanary(
      { status: 'progressing', stepIndex: 2 },
      { kind: 'rollback', reason: 'latency', canary: 200, limit: 80 },
    );
    expect(rolledBack).toEqual({ status: 'rolled-back', atStepIndex: 2 });
    expect(canaryTrafficPercent(rolledBack)).toBe(0);
    expect(advanceCanary(rolledBack, { kind: 'promote' })).toBe(rolledBack);
  });

  it('never promotes a canary that breaches a limit', () => {
    const side = fc.record({
      requests: fc.integer({ min: 0, max: 100_000 }),
      errors: fc.integer({ min: 0, max: 1_000 }),
      p99LatencyMs: fc.double({ min: 0, max: 1_000, noNaN: true }),
    });
    fc.assert(
      fc.property(side, side, (canary, base) => {
        const verdict = analyseCanary(canary, base);
        if (verdict.kind !== 'promote') return;
        const rate = (m: typeof canary) => (m.requests ? m.errors / m.requests : 0);
        expect(rate(canary)).toBeLessThanOrEqual(1.5 * Math.max(rate(base), 0.001));
        expect(canary.p99LatencyMs).toBeLessThanOrEqual(2 * Math.max(base.p99LatencyMs, 1));
      }),
    );
  });
});
