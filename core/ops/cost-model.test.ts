import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ADR_BASELINE_WORKLOAD,
  ADR_COST_SCENARIOS,
  COSTED_SERVICES,
  DEFAULT_COST_MODEL,
  estimateMonthlyCost,
  streamsPerMeeting,
} from './cost-model.ts';
import { unwrap } from '../result.ts';

const withinFivePercent = (actual: number, expected: number) =>
  expect(Math.abs(actual / expected - 1)).toBeLessThanOrEqual(0.05);

describe('cost model', () => {
  it('reproduces the ADR baseline per category within 5 %', () => {
    const { monthly } = unwrap(estimateMonthlyCost(ADR_BASELINE_WORKLOAD));
    withinFivePercent(monthly.compute, 15_395);
    withinFivePercent(monthly.database, 1_009);
    withinFivePercent(monthly.bandwidth, 591);
    withinFivePercent(monthly.total, 16_995);
  });

  it.each(ADR_COST_SCENARIOS.map((s) => [s.name, s] as const))(
    'reproduces the ADR row "%s" within 5 %',
    (_name, scenario) => {
      withinFivePercent(
        unwrap(estimateMonthlyCost(scenario.workload)).monthly.total,
        scenario.adrMonthlyUsd,
      );
    },
  );

  it('counts 200 streams for a 10-person meeting: 20 published, 180 delivered', () => {
    expect(streamsPerMeeting(10, DEFAULT_COST_MODEL)).toBe(200);
    expect(streamsPerMeeting(1, DEFAULT_COST_MODEL)).toBe(2);
  });

  it('adds up: categories sum to the total and services to compute', () => {
    const e = unwrap(estimateMonthlyCost(ADR_BASELINE_WORKLOAD));
    const services = COSTED_SERVICES.reduce((sum, s) => sum + e.computeByService[s], 0);
    expect(services).toBeCloseTo(e.monthly.compute, 6);
    expect(e.monthly.compute + e.monthly.database + e.monthly.bandwidth).toBeCloseTo(
      e.monthly.total,
      6,
    );
  });

  it('never costs less for more meetings, and keeps per-region minimums', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 0, max: 5_000 }),
        (meetings, extra) => {
          const at = (m: number) =>
            unwrap(estimateMonthlyCost({ ...ADR_BASELINE_WORKLOAD, concurrentMeetings: m }));
          const less = at(meetings);
          expect(at(meetings + extra).monthly.total).toBeGreaterThanOrEqual(less.monthly.total);
          for (const s of COSTED_SERVICES) {
            expect(less.instancesPerRegion[s]).toBeGreaterThanOrEqual(
              DEFAULT_COST_MODEL.sizing[s].minPerRegion,
            );
          }
        },
      ),
    );
  });

  it('rejects impossible workloads', () => {
    expect(estimateMonthlyCost({ ...ADR_BASELINE_WORKLOAD, regions: 0 })).toMatchObject({
      ok: false,
      error: { kind: 'invalid-workload', field: 'regions' },
    });
    expect(estimateMonthlyCost({ ...ADR_BASELINE_WORKLOAD, utilisationTarget: 0 }).ok).toBe(false);
    expect(
      estimateMonthlyCost({ ...ADR_BASELINE_WORKLOAD, regions: 1, regionalFailoverReserve: true })
        .ok,
    ).toBe(false);
  });
});
