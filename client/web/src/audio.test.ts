import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SAMPLE_RATE, ToneMeter, toneFrequency, toneOf } from './audio.ts';

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

describe('ToneMeter', () => {
  // 20 ms frames of a sine, as a decoder gives them; `skipped` frames never arrive.
  const frames = (hz: number, count: number, skipped: ReadonlySet<number>) => {
    const out: Float32Array[] = [];
    for (let f = 0; f < count; f++) {
      if (skipped.has(f)) continue;
      out.push(
        Float32Array.from({ length: 960 }, (_, i) =>
          Math.sin((2 * Math.PI * hz * (f * 960 + i)) / SAMPLE_RATE),
        ),
      );
    }
    return out;
  };

  it('measures the tone within half a hertz when frames are lost (phase jumps between frames)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Array.from({ length: 32 }, (_, i) => toneOf(i))),
        fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 8 }),
        (hz, lost) => {
          const meter = new ToneMeter();
          let tone: number | undefined;
          for (const frame of frames(hz, 45, new Set(lost))) tone = meter.push(frame, SAMPLE_RATE);
          expect(Math.abs((tone as number) - hz)).toBeLessThan(0.5);
        },
      ),
    );
  });

  it('answers only after half a second of frames', () => {
    const meter = new ToneMeter();
    const all = frames(500, 25, new Set());
    for (const frame of all.slice(0, 24)) expect(meter.push(frame, SAMPLE_RATE)).toBeUndefined();
    expect(meter.push(all[24] as Float32Array, SAMPLE_RATE)).toBeCloseTo(500, 0);
  });

  it('one measure across the whole half second is bent by a lost frame (why frames are measured one by one)', () => {
    const joined = (list: Float32Array[]) => {
      const out = new Float32Array(list.length * 960);
      list.forEach((f, i) => out.set(f, i * 960));
      return out;
    };
    // 300 Hz: a 20 ms frame is 6 whole periods, so a lost frame leaves no phase jump; 1025 Hz
    // (20.5 periods per frame) jumps half a period at each lost frame.
    const kept = frames(1025, 28, new Set([5, 12, 20]));
    const across = toneFrequency(joined(kept), SAMPLE_RATE);
    expect(Math.abs((across as number) - 1025)).toBeGreaterThan(0.5);
    const meter = new ToneMeter();
    let tone: number | undefined;
    for (const frame of kept) tone = meter.push(frame, SAMPLE_RATE);
    expect(Math.abs((tone as number) - 1025)).toBeLessThan(0.5);
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
