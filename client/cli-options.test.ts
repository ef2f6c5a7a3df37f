import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration, syntheticFrameBytes } from './cli-options.ts';

describe('command-line client options', () => {
  it('reads durations in ms, s and m, a bare number as seconds', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1.5')).toBe(1_500);
    expect(parseDuration(' 3s ')).toBe(3_000);
  });

  it('refuses malformed, zero, negative and over-a-day durations', () => {
    for (const text of ['', 's', '10h', '-1s', '0', '0ms', '1e3', '10 s', '25m0', '1441m']) {
      expect(parseDuration(text)).toBeUndefined();
    }
  });

  it('property: whole seconds read back as their milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 86_400 }), (seconds) => {
        expect(parseDuration(`${seconds}s`)).toBe(seconds * 1000);
        expect(parseDuration(`${seconds * 1000}ms`)).toBe(seconds * 1000);
      }),
    );
  });

  it('makes every gop-th frame a larger keyframe', () => {
    expect([0, 1, 29, 30].map((i) => syntheticFrameBytes(i, 1_000))).toEqual([
      4_000, 1_000, 1_000, 4_000,
    ]);
  });
});
