import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BANDWIDTH_STATES,
  DEFAULT_BANDWIDTH_POLICY,
  bandwidthUtilisation,
  nextBandwidthState,
  rawBandwidthState,
} from './bandwidth.ts';
import type { BandwidthState } from './bandwidth.ts';

const run = (samples: readonly number[], start: BandwidthState = 'ok'): BandwidthState[] => {
  const states: BandwidthState[] = [];
  let state = start;
  for (const sample of samples) {
    state = nextBandwidthState(state, sample);
    states.push(state);
  }
  return states;
};

const changes = (states: readonly BandwidthState[], start: BandwidthState): number =>
  states.filter((state, i) => state !== (i === 0 ? start : states[i - 1])).length;

describe('bandwidth state', () => {
  it('enters warning at 70 % and the hard limit at 80 %', () => {
    expect(nextBandwidthState('ok', 0.69)).toBe('ok');
    expect(nextBandwidthState('ok', 0.7)).toBe('warning');
    expect(nextBandwidthState('ok', 0.8)).toBe('hard-limit');
    expect(nextBandwidthState('warning', 0.8)).toBe('hard-limit');
  });

  it('leaves a state only below its threshold minus the margin', () => {
    expect(nextBandwidthState('hard-limit', 0.76)).toBe('hard-limit');
    expect(nextBandwidthState('hard-limit', 0.74)).toBe('warning');
    expect(nextBandwidthState('warning', 0.66)).toBe('warning');
    expect(nextBandwidthState('warning', 0.64)).toBe('ok');
    expect(nextBandwidthState('hard-limit', 0.5)).toBe('ok');
  });

  it('does not flap when the load oscillates around a threshold by less than the margin', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0.7, 0.8),
        fc.array(fc.double({ min: -0.0499, max: 0.0499, noNaN: true }), { minLength: 1 }),
        (threshold, wiggles) => {
          const states = run(
            wiggles.map((w) => threshold + w),
            rawBandwidthState(threshold - 0.06),
          );
          expect(changes(states, rawBandwidthState(threshold - 0.06))).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it('changes state at most once per margin crossing', () => {
    const { warningAt, hardLimitAt, exitMargin } = DEFAULT_BANDWIDTH_POLICY;
    const bands = [warningAt - exitMargin, warningAt, hardLimitAt - exitMargin, hardLimitAt];
    const band = (u: number) => bands.filter((b) => u >= b).length;
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1.2, noNaN: true }), { maxLength: 200 }),
        (samples) => {
          const states = run(samples);
          let crossings = 0;
          let previousBand = band(0);
          for (const sample of samples) {
            crossings += Math.abs(band(sample) - previousBand);
            previousBand = band(sample);
          }
          expect(changes(states, 'ok')).toBeLessThanOrEqual(crossings);
        },
      ),
    );
  });

  it('never sits below the raw state nor above both the raw and the previous state', () => {
    const rank = (s: BandwidthState) => BANDWIDTH_STATES.indexOf(s);
    fc.assert(
      fc.property(
        fc.constantFrom(...BANDWIDTH_STATES),
        fc.double({ min: 0, max: 1.5, noNaN: true }),
        (start, load) => {
          const next = rank(nextBandwidthState(start, load));
          const raw = rank(rawBandwidthState(load));
          expect(next).toBeGreaterThanOrEqual(raw);
          expect(next).toBeLessThanOrEqual(Math.max(raw, rank(start)));
        },
      ),
    );
  });

  it('rejects a non-positive capacity and negative usage', () => {
    expect(bandwidthUtilisation(5, 0)).toEqual({
      ok: false,
      error: { kind: 'non-positive-capacity', capacityBps: 0 },
    });
    expect(bandwidthUtilisation(-1, 10).ok).toBe(false);
    expect(bandwidthUtilisation(7, 10)).toEqual({ ok: true, value: 0.7 });
  });
});
