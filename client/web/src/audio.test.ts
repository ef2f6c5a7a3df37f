import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SAMPLE_RATE, toneFrequency, toneOf } from './audio.ts';

const sine = (hz: number, phase: number, samples: number) =>
  Float32Array.from({ length: samples }, (_, i) =>
    Math.sin(phase + (2 * Math.PI * hz * i) / SAMPLE_RATE),
  );

describe('toneFrequency', () => {
  it('measures a sine tone within half a hertz over half a second, whatever its phase', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 100, max: 4_000, noNaN: true }),
        fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
        (hz, phase) => {
          const measured = toneFrequency(sine(hz, phase, SAMPLE_RATE / 2), SAMPLE_RATE);
          expect(Math.abs((measured as number) - hz)).toBeLessThan(0.5);
        },
      ),
    );
  });

  it('has no answer for silence or less than a period', () => {
    expect(toneFrequency(new Float32Array(960), SAMPLE_RATE)).toBeUndefined();
    expect(toneFrequency(sine(10, 0, 960), SAMPLE_RATE)).toBeUndefined();
  });
});

describe('toneOf', () => {
  it('gives 32 tones 25 Hz apart from 300 Hz, told apart by the measure', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (code) => {
        const hz = toneOf(code);
        expect((hz - 300) % 25).toBe(0);
        expect(hz).toBeGreaterThanOrEqual(300);
        expect(hz).toBeLessThanOrEqual(1075);
        expect(toneOf(code + 1)).not.toBe(hz);
      }),
    );
  });
});
