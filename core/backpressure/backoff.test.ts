import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { deterministicRandom } from '../random.ts';
import type { RandomSource } from '../random.ts';
import {
  MC_COORDINATION_BACKOFF,
  backoffCeiling,
  onAttemptFailed,
  startBackoff,
} from './backoff.ts';
import type { BackoffDecision } from './backoff.ts';

const fixed = (value: number): RandomSource => ({
  next: () => value,
  bytes: (n) => new Uint8Array(n),
});

/** Fails every attempt, retrying when told, until the backoff gives up. */
function failForever(random: RandomSource, start = 0): BackoffDecision[] {
  const decisions: BackoffDecision[] = [];
  let state = startBackoff(start);
  let now = start;
  for (;;) {
    const step = onAttemptFailed(state, now, random);
    decisions.push(step.decision);
    if (step.decision.kind === 'give-up') return decisions;
    state = step.state;
    now = step.decision.at;
  }
}

const retries = (decisions: BackoffDecision[]) =>
  decisions.flatMap((d) => (d.kind === 'retry' ? [d] : []));

describe('MC coordination backoff', () => {
  it('doubles the ceiling from 50 ms up to the 3.2 s cap', () => {
    expect([1, 2, 3, 6, 7, 8, 12].map((n) => backoffCeiling(n, MC_COORDINATION_BACKOFF))).toEqual([
      50, 100, 200, 1_600, 3_200, 3_200, 3_200,
    ]);
  });

  it('draws each delay from the upper half of the ceiling', () => {
    expect(
      retries(failForever(fixed(0)))
        .slice(0, 3)
        .map((d) => d.delayMs),
    ).toEqual([25, 50, 100]);
    expect(retries(failForever(fixed(0.999999))).at(0)?.delayMs).toBeCloseTo(50, 3);
  });

  it('keeps delays within [0, cap], never speeds up below the cap, and gives up at the deadline', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 1e9 }), (seed, start) => {
        const decisions = failForever(deterministicRandom(seed), start);
        expect(decisions.at(-1)?.kind).toBe('give-up');
        const delays = retries(decisions);
        for (const d of delays) {
          expect(d.delayMs).toBeGreaterThanOrEqual(0);
          expect(d.delayMs).toBeLessThanOrEqual(MC_COORDINATION_BACKOFF.capMs);
          expect(d.at).toBeLessThanOrEqual(start + MC_COORDINATION_BACKOFF.deadlineMs);
        }
        const growing = delays
          .slice(0, 7)
          .filter((d) => d.at < start + MC_COORDINATION_BACKOFF.deadlineMs);
        growing.slice(1).forEach((d, i) => {
          expect(d.delayMs).toBeGreaterThanOrEqual(growing[i]?.delayMs ?? Infinity);
        });
      }),
    );
  });

  it('gives up at once when the first failure already lands past the deadline', () => {
    const { decision } = onAttemptFailed(startBackoff(0), 10_000, fixed(0.5));
    expect(decision).toEqual({ kind: 'give-up', failures: 1 });
  });
});
