import { describe, expect, it } from 'vitest';
import { builtinScenario } from './scenario/builtin.ts';
import type { Scenario } from './scenario/schema.ts';
import { runScenario } from './run.ts';
import { sameInvariantsFail, shrinkScenario } from './shrink.ts';

describe('shrinking a failing scenario', () => {
  const base = builtinScenario('default') as Scenario;
  const noisy: Scenario = {
    ...base,
    durationSeconds: 12,
    faults: [
      {
        kind: 'partition',
        atSeconds: 2,
        durationSeconds: 2,
        from: ['us-east-1'],
        to: ['eu-west-1'],
        symmetric: true,
      },
      { kind: 'handler-crash', atSeconds: 3, region: 'us-west-1', index: 0 },
    ],
  };

  it('drops what the failure does not need and keeps what it does', () => {
    const failsWhenBusy = (report: { load: { meetingsStarted: number } }) =>
      report.load.meetingsStarted >= 3;
    expect(failsWhenBusy(runScenario({ scenario: noisy, seed: 8 }).report)).toBe(true);
    const { scenario, runs } = shrinkScenario(noisy, 8, failsWhenBusy);
    expect(scenario.faults).toEqual([]);
    expect(scenario.workload.concurrentMeetings).toBeLessThan(noisy.workload.concurrentMeetings);
    expect(runs).toBeGreaterThan(0);
    expect(failsWhenBusy(runScenario({ scenario, seed: 8 }).report)).toBe(true);
  });

  it('matches failures by the invariants the original run violated', () => {
    const report = runScenario({ scenario: noisy, seed: 8 }).report;
    const convergenceFailure = {
      ...report,
      invariants: {
        ...report.invariants,
        byInvariant: { ...report.invariants.byInvariant, convergence: 1 },
      },
    };
    const predicate = sameInvariantsFail(convergenceFailure);
    expect(predicate(convergenceFailure)).toBe(true);
    expect(predicate(report)).toBe(report.invariants.byInvariant.convergence > 0);
  });
});
