import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { desiredReplicas } from './autoscaler.ts';
import type { AutoscalerInput, ServiceKind } from './autoscaler.ts';
import { unwrap } from '../result.ts';

const calm = { cpu: 0.5, memory: 0.5 };
const input = (over: Partial<AutoscalerInput>): AutoscalerInput => ({
  service: 'mc',
  currentReplicas: 10,
  metrics: calm,
  lastScaledAt: null,
  ...over,
});
const decide = (over: Partial<AutoscalerInput>, now = 1_000_000) =>
  unwrap(desiredReplicas(input(over), now));

describe('autoscaler', () => {
  it('scales on CPU above 70 % with the HPA formula', () => {
    expect(decide({ metrics: { cpu: 0.9, memory: 0.5 } })).toEqual({
      desiredReplicas: 13,
      reason: { kind: 'rule', metric: 'cpu', observed: 0.9, threshold: 0.7 },
    });
  });

  it('scales MC on memory above 75 % and on more than 800 meetings per instance', () => {
    expect(decide({ metrics: { cpu: 0.1, memory: 0.9 } }).desiredReplicas).toBe(12);
    const byMeetings = decide({ metrics: { ...calm, meetings: 12_000 } });
    expect(byMeetings.desiredReplicas).toBe(15);
    expect(byMeetings.reason).toMatchObject({ metric: 'meetings', threshold: 800 });
  });

  it('scales MH on streams (8,000) and network (8 Gbps), GC on 1,000 req/s', () => {
    expect(decide({ service: 'mh', metrics: { ...calm, streams: 96_001 } }).desiredReplicas).toBe(
      13,
    );
    expect(decide({ service: 'mh', metrics: { ...calm, networkGbps: 100 } }).desiredReplicas).toBe(
      13,
    );
    expect(
      decide({ service: 'gc', metrics: { ...calm, requestsPerSecond: 14_500 } }),
    ).toMatchObject({
      desiredReplicas: 15,
      reason: { metric: 'requestsPerSecond' },
    });
    expect(decide({ service: 'ac', metrics: { ...calm, meetings: 1e6 } }).desiredReplicas).toBe(8);
  });

  it('holds a scale-in during the 5-minute cooldown, then scales in', () => {
    const quiet = { metrics: { cpu: 0.2, memory: 0.2 }, lastScaledAt: 1_000_000 };
    expect(decide(quiet, 1_100_000)).toEqual({
      desiredReplicas: 10,
      reason: { kind: 'scale-in-cooldown', until: 1_300_000 },
    });
    expect(decide(quiet, 1_300_000)).toEqual({ desiredReplicas: 5, reason: { kind: 'at-min' } });
  });

  it('scales out at once even right after a scaling event', () => {
    expect(
      decide({ metrics: { cpu: 0.95, memory: 0.5 }, lastScaledAt: 999_999 }).desiredReplicas,
    ).toBe(14);
  });

  it('rejects bad bounds and replica counts', () => {
    const bad = desiredReplicas(input({}), 0, {
      minReplicas: 10,
      maxReplicas: 5,
      scaleInCooldownMs: 0,
    });
    expect(bad).toEqual({
      ok: false,
      error: { kind: 'invalid-bounds', minReplicas: 10, maxReplicas: 5 },
    });
    expect(desiredReplicas(input({ currentReplicas: -1 }), 0).ok).toBe(false);
  });

  it('never leaves [min, max]', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<ServiceKind>('ac', 'gc', 'mc', 'mh'),
        fc.integer({ min: 0, max: 200 }),
        fc.record({
          cpu: fc.double({ min: 0, max: 5, noNaN: true }),
          memory: fc.double({ min: 0, max: 5, noNaN: true }),
          requestsPerSecond: fc.double({ min: 0, max: 1e6, noNaN: true }),
          meetings: fc.double({ min: 0, max: 1e6, noNaN: true }),
          streams: fc.double({ min: 0, max: 1e7, noNaN: true }),
          networkGbps: fc.double({ min: 0, max: 1e4, noNaN: true }),
        }),
        fc.option(fc.integer({ min: 0, max: 2_000_000 })),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 80 }),
        (service, currentReplicas, metrics, lastScaledAt, min, span) => {
          const bounds = { minReplicas: min, maxReplicas: min + span, scaleInCooldownMs: 300_000 };
          const decision = unwrap(
            desiredReplicas({ service, currentReplicas, metrics, lastScaledAt }, 1_000_000, bounds),
          );
          expect(decision.desiredReplicas).toBeGreaterThanOrEqual(bounds.minReplicas);
          expect(decision.desiredReplicas).toBeLessThanOrEqual(bounds.maxReplicas);
        },
      ),
    );
  });
});
