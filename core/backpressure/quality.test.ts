import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  INITIAL_QUALITY_STATE,
  QUALITY_STAGES,
  STAGE_ACTIONS,
  nextQualityState,
  qualityDeadline,
  rawQualityStage,
} from './quality.ts';
import type { QualitySample, QualityState } from './quality.ts';

const healthy: QualitySample = { p99LatencyMs: 10, lossRatio: 0 };
const terrible: QualitySample = { p99LatencyMs: 400, lossRatio: 0.2 };

const feed = (samples: readonly QualitySample[], stepMs: number): QualityState[] => {
  const states: QualityState[] = [];
  let state = INITIAL_QUALITY_STATE;
  samples.forEach((sample, i) => {
    state = nextQualityState(state, sample, i * stepMs);
    states.push(state);
  });
  return states;
};

describe('quality stages', () => {
  it('maps latency and loss to stages at the documented thresholds', () => {
    expect(rawQualityStage({ p99LatencyMs: 29, lossRatio: 0.009 })).toBe('optimal');
    expect(rawQualityStage({ p99LatencyMs: 30, lossRatio: 0 })).toBe('warning');
    expect(rawQualityStage({ p99LatencyMs: 0, lossRatio: 0.03 })).toBe('degraded');
    expect(rawQualityStage({ p99LatencyMs: 100, lossRatio: 0 })).toBe('critical');
  });

  it('escalates one stage per evaluation and recovers one stage per dwell', () => {
    const states = feed([terrible, terrible, terrible, terrible], 1_000).map((s) => s.stage);
    expect(states).toEqual(['warning', 'degraded', 'critical', 'critical']);
    let state: QualityState = { stage: 'critical', recoveringSince: null };
    const seen: string[] = [];
    for (let t = 0; t <= 30_000; t += 1_000) {
      state = nextQualityState(state, healthy, t);
      if (seen.at(-1) !== state.stage) seen.push(state.stage);
    }
    expect(seen).toEqual(['critical', 'degraded', 'warning', 'optimal']);
  });

  it('stays put while metrics sit between the exit and entry thresholds', () => {
    let state: QualityState = { stage: 'degraded', recoveringSince: null };
    for (let t = 0; t < 60_000; t += 1_000) {
      state = nextQualityState(state, { p99LatencyMs: 45, lossRatio: 0 }, t);
      expect(state.stage).toBe('degraded');
    }
  });

  it('reports when a pending recovery would step down', () => {
    const state = nextQualityState({ stage: 'warning', recoveringSince: null }, healthy, 2_000);
    expect(qualityDeadline(state)).toBe(7_000);
    expect(nextQualityState(state, healthy, 6_999).stage).toBe('warning');
    expect(nextQualityState(state, healthy, 7_000).stage).toBe('optimal');
  });

  it('only ever moves to a neighbouring stage, for any sample sequence', () => {
    const sample = fc.record({
      p99LatencyMs: fc.double({ min: 0, max: 300, noNaN: true }),
      lossRatio: fc.double({ min: 0, max: 0.3, noNaN: true }),
    });
    fc.assert(
      fc.property(
        fc.array(sample, { maxLength: 100 }),
        fc.integer({ min: 1, max: 10_000 }),
        (samples, step) => {
          let previous = QUALITY_STAGES.indexOf(INITIAL_QUALITY_STATE.stage);
          for (const state of feed(samples, step)) {
            const index = QUALITY_STAGES.indexOf(state.stage);
            expect(Math.abs(index - previous)).toBeLessThanOrEqual(1);
            previous = index;
          }
        },
      ),
    );
  });

  it('gets harsher with every stage', () => {
    const severity = (stage: (typeof QUALITY_STAGES)[number]) => {
      const a = STAGE_ACTIONS[stage];
      return (
        a.dropTopSpatialLayers +
        (a.maxTemporalLayer === null ? 0 : 3 - a.maxTemporalLayer) +
        Number(a.pauseUnseenVideo) +
        Number(a.pauseAllVideo)
      );
    };
    const severities = QUALITY_STAGES.map(severity);
    severities.slice(1).forEach((s, i) => expect(s).toBeGreaterThan(severities[i] ?? Infinity));
    expect(STAGE_ACTIONS.critical.pauseAllVideo).toBe(true);
  });
});
