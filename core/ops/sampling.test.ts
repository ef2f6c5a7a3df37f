import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fnv1a32, sampleTrace } from './sampling.ts';

const hexId = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''));

describe('tail sampling', () => {
  it('matches the published FNV-1a test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('keeps every error and every slow trace', () => {
    fc.assert(
      fc.property(hexId, fc.double({ min: 0, max: 10_000, noNaN: true }), (traceId, durationMs) => {
        expect(sampleTrace({ traceId, hasError: true, durationMs })).toEqual({
          keep: true,
          reason: 'error',
        });
        expect(sampleTrace({ traceId, hasError: false, durationMs: 500.001 + durationMs })).toEqual(
          {
            keep: true,
            reason: 'slow',
          },
        );
      }),
    );
  });

  it('decides the same way every time for the same trace id', () => {
    fc.assert(
      fc.property(hexId, fc.double({ min: 0, max: 500, noNaN: true }), (traceId, durationMs) => {
        const trace = { traceId, hasError: false, durationMs };
        expect(sampleTrace(trace)).toEqual(sampleTrace({ ...trace, durationMs: 500 - durationMs }));
      }),
    );
  });

  it('keeps about 10 % of ordinary traces', () => {
    const ids = fc.sample(hexId, { numRuns: 20_000, seed: 42 });
    const kept = ids.filter(
      (traceId) => sampleTrace({ traceId, hasError: false, durationMs: 20 }).keep,
    );
    expect(kept.length / ids.length).toBeGreaterThan(0.085);
    expect(kept.length / ids.length).toBeLessThan(0.115);
  });
});
