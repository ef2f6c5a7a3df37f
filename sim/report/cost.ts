import {
  ADR_BASELINE_WORKLOAD,
  ADR_COST_SCENARIOS,
  estimateMonthlyCost,
  type Workload,
} from '../../core/ops/cost-model.ts';
import type { Scenario } from '../scenario/schema.ts';
import type { Metrics } from './metrics.ts';
import type { CostDifference, CostSummary } from './summary.ts';

/** Provisioning assumptions for the simulated load: no extra peak headroom, 70 % target. */
const PEAK_FACTOR = 1;
const UTILISATION_TARGET = 0.7;

/** The ADR's monthly total for its baseline workload. */
const ADR_BASELINE_USD = ADR_COST_SCENARIOS.find((s) => s.name === 'baseline')?.adrMonthlyUsd ?? 0;

/** The workload assumptions that can differ from the ADR's, in the order they are applied. */
const ASSUMPTIONS: readonly {
  readonly key: keyof Workload;
  readonly name: string;
  readonly why: string;
}[] = [
  { key: 'concurrentMeetings', name: 'concurrent meetings', why: 'the peak the run carried' },
  {
    key: 'averageParticipants',
    name: 'participants per meeting',
    why: 'at that peak, as the run drew them',
  },
  { key: 'regions', name: 'regions', why: "the scenario's" },
  {
    key: 'peakFactor',
    name: 'peak factor',
    why: 'the run provisions for the load it carried, with no headroom for peaks',
  },
  { key: 'utilisationTarget', name: 'utilisation target', why: 'the same 70 % target' },
];

/**
 * The core cost model's monthly estimate for the load the run actually carried: its peak
 * concurrent meetings and the average participants per meeting at that peak. Next to it,
 * how it comes from the ADR's baseline ($16,995): each assumption that differs, changed one
 * at a time from the ADR's workload in the order listed, with what it changed.
 */
export function estimateCost(scenario: Scenario, metrics: Metrics): CostSummary | null {
  const meetings = metrics.peakMeetings;
  if (meetings === 0) return null;
  const averageParticipants = Math.max(1, metrics.peakParticipants / meetings);
  const workload: Workload = {
    concurrentMeetings: meetings,
    averageParticipants,
    regions: scenario.regions.length,
    peakFactor: PEAK_FACTOR,
    utilisationTarget: UTILISATION_TARGET,
  };
  const estimate = estimateMonthlyCost(workload);
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
    versusAdr: versusAdrBaseline(workload),
  };
}

function versusAdrBaseline(workload: Workload): CostSummary['versusAdr'] {
  const total = (w: Workload): number | null => {
    const e = estimateMonthlyCost(w);
    return e.ok ? e.value.monthly.total : null;
  };
  let current: Workload = ADR_BASELINE_WORKLOAD;
  const modelled = total(current);
  if (modelled === null) return null;
  let before = modelled;
  const differences: CostDifference[] = [];
  for (const { key, name, why } of ASSUMPTIONS) {
    const from = current[key];
    const to = workload[key];
    if (from === to) continue;
    current = { ...current, [key]: to };
    const after = total(current);
    if (after === null) return null;
    differences.push({
      assumption: name,
      adr: Number(from),
      run: Number(to),
      why,
      effectUsd: Math.round(after - before),
    });
    before = after;
  }
  return {
    adrMonthlyUsd: ADR_BASELINE_USD,
    modelMonthlyUsd: Math.round(modelled),
    differences,
  };
}
