import { estimateMonthlyCost } from '../../core/ops/cost-model.ts';
import type { Scenario } from '../scenario/schema.ts';
import type { Metrics } from './metrics.ts';
import type { CostSummary } from './summary.ts';

/** Provisioning assumptions for the simulated load: no extra peak headroom, 70 % target. */
const PEAK_FACTOR = 1;
const UTILISATION_TARGET = 0.7;

/**
 * The core cost model's monthly estimate for the load the run actually carried: its peak
 * concurrent meetings and the average participants per meeting at that peak.
 */
export function estimateCost(scenario: Scenario, metrics: Metrics): CostSummary | null {
  const meetings = metrics.peakMeetings;
  if (meetings === 0) return null;
  const averageParticipants = Math.max(1, metrics.peakParticipants / meetings);
  const estimate = estimateMonthlyCost({
    concurrentMeetings: meetings,
    averageParticipants,
    regions: scenario.regions.length,
    peakFactor: PEAK_FACTOR,
    utilisationTarget: UTILISATION_TARGET,
  });
  if (!estimate.ok) return null;
  const monthly = estimate.value.monthly;
  return {
    monthlyUsd: Math.round(monthly.total),
    breakdown: {
      compute: Math.round(monthly.compute),
      database: Math.round(monthly.database),
      bandwidth: Math.round(monthly.bandwidth),
    },
    basis: `${meetings} concurrent meetings, ${averageParticipants.toFixed(1)} participants on average, ${scenario.regions.length} regions, peak factor ${PEAK_FACTOR}, utilisation target ${UTILISATION_TARGET}`,
  };
}
