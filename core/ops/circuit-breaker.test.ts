import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CLOSED_BREAKER,
  REDIS_BREAKER_POLICY,
  breakerDeadline,
  breakerStateAt,
  breakerStep,
} from './circuit-breaker.ts';
import type { BreakerEvent, BreakerState } from './circuit-breaker.ts';

const fail = (state: BreakerState, times: number, now = 0): BreakerState => {
  let s = state;
  for (let i = 0; i < times; i++) s = breakerStep(s, { kind: 'failure' }, now).state;
  return s;
};
const request = (state: BreakerState, now: number) => breakerStep(state, { kind: 'request' }, now);
const succeed = (state: BreakerState, now: number) =>
  breakerStep(state, { kind: 'success' }, now).state;

describe('circuit breaker', () => {
  it('opens after 5 consecutive failures; a success resets the count', () => {
    expect(fail(CLOSED_BREAKER, 4)).toEqual({ kind: 'closed', consecutiveFailures: 4 });
    expect(fail(succeed(fail(CLOSED_BREAKER, 4), 0), 4).kind).toBe('closed');
    expect(fail(CLOSED_BREAKER, 5, 1_000)).toEqual({ kind: 'open', openedAt: 1_000 });
  });

  it('refuses calls while open and goes half-open after 30 s', () => {
    const open = fail(CLOSED_BREAKER, 5, 1_000);
    expect(breakerDeadline(open)).toBe(31_000);
    expect(request(open, 30_999).allowed).toBe(false);
    const probe = request(open, 31_000);
    expect(probe).toEqual({
      state: { kind: 'half-open', probesInFlight: 1, successes: 0 },
      allowed: true,
    });
  });

  it('lets 3 probes through and closes once they all succeed', () => {
    let state = fail(CLOSED_BREAKER, 5, 0);
    const allowed: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const step = request(state, 30_000);
      allowed.push(step.allowed);
      state = step.state;
    }
    expect(allowed).toEqual([true, true, true, false]);
    state = succeed(succeed(state, 30_010), 30_020);
    expect(state.kind).toBe('half-open');
    expect(succeed(state, 30_030)).toEqual(CLOSED_BREAKER);
  });

  it('reopens on a failed probe', () => {
    const halfOpen = request(fail(CLOSED_BREAKER, 5, 0), 30_000).state;
    expect(fail(halfOpen, 1, 30_500)).toEqual({ kind: 'open', openedAt: 30_500 });
  });

  it('reports an open breaker past its open duration as half-open, taking no probe', () => {
    const open = fail(CLOSED_BREAKER, 5, 1_000);
    expect(breakerStateAt(open, 30_999)).toBe(open);
    const due = breakerStateAt(open, 31_000);
    expect(due).toEqual({ kind: 'half-open', probesInFlight: 0, successes: 0 });
    expect(breakerStateAt(CLOSED_BREAKER, 31_000)).toBe(CLOSED_BREAKER);
    // The report changes nothing: the next request is still the first probe.
    expect(request(due, 31_000).state).toEqual(request(open, 31_000).state);
  });

  it('keeps a Redis breaker open 2 s after 5 failures', () => {
    let state: BreakerState = CLOSED_BREAKER;
    for (let i = 0; i < 5; i++) {
      state = breakerStep(state, { kind: 'failure' }, 100, REDIS_BREAKER_POLICY).state;
    }
    expect(state).toEqual({ kind: 'open', openedAt: 100 });
    expect(breakerStep(state, { kind: 'request' }, 2_099, REDIS_BREAKER_POLICY).allowed).toBe(
      false,
    );
    expect(breakerStep(state, { kind: 'request' }, 2_100, REDIS_BREAKER_POLICY).allowed).toBe(true);
  });

  it('reports what a request would meet: refused while it says open, allowed while closed', () => {
    // Failures weighted up so that runs open the breaker often.
    const event = fc.oneof(
      { arbitrary: fc.constant<BreakerEvent>({ kind: 'failure' }), weight: 4 },
      { arbitrary: fc.constant<BreakerEvent>({ kind: 'request' }), weight: 2 },
      { arbitrary: fc.constant<BreakerEvent>({ kind: 'success' }), weight: 1 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(event, fc.integer({ min: 0, max: 20_000 })), { maxLength: 60 }),
        fc.integer({ min: 0, max: 40_000 }),
        (steps, gap) => {
          let state: BreakerState = CLOSED_BREAKER;
          let now = 0;
          for (const [e, dt] of steps) {
            now += dt;
            state = breakerStep(state, e, now).state;
          }
          const reported = breakerStateAt(state, now + gap);
          const step = breakerStep(state, { kind: 'request' }, now + gap);
          if (reported.kind === 'open') expect(step.allowed).toBe(false);
          if (reported.kind === 'closed') expect(step.allowed).toBe(true);
        },
      ),
    );
  });

  it('never allows a request while open and before the open duration has passed', () => {
    const event = fc.constantFrom<BreakerEvent>(
      { kind: 'request' },
      { kind: 'success' },
      { kind: 'failure' },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(event, fc.integer({ min: 0, max: 20_000 })), { maxLength: 60 }),
        (steps) => {
          let state: BreakerState = CLOSED_BREAKER;
          let now = 0;
          for (const [e, gap] of steps) {
            now += gap;
            const before = state;
            const step = breakerStep(state, e, now);
            if (e.kind === 'request' && before.kind === 'open' && now < before.openedAt + 30_000) {
              expect(step.allowed).toBe(false);
            }
            if (step.state.kind === 'half-open') {
              expect(step.state.probesInFlight + step.state.successes).toBeLessThanOrEqual(3);
            }
            state = step.state;
          }
        },
      ),
    );
  });
});
