import { runScenario } from './run.ts';
import type { RunReport } from './report/summary.ts';
import type { Scenario } from './scenario/schema.ts';

/** Whether a run still shows the failure being shrunk. */
export type FailurePredicate = (report: RunReport) => boolean;

/** The smallest failing scenario found and how many runs it took. */
export interface ShrinkResult {
  readonly scenario: Scenario;
  readonly runs: number;
}

const MAX_RUNS = 60;

/**
 * A predicate for "fails the same way": the run violates at least one of the invariants the
 * original failing run violated.
 */
export function sameInvariantsFail(original: RunReport): FailurePredicate {
  const failing = Object.entries(original.invariants.byInvariant)
    .filter(([, count]) => count > 0)
    .map(([name]) => name);
  return (report) =>
    failing.some(
      (name) => ((report.invariants.byInvariant as Record<string, number>)[name] ?? 0) > 0,
    );
}

/**
 * Greedy shrinking of a failing scenario under a fixed seed: drop faults one at a time, halve
 * the meetings, the meeting sizes and the duration, keeping each change while the failure
 * persists, until no change keeps it (or the run budget is spent).
 */
export function shrinkScenario(
  scenario: Scenario,
  seed: number,
  fails: FailurePredicate,
): ShrinkResult {
  let current = scenario;
  let runs = 0;
  const stillFails = (candidate: Scenario): boolean => {
    runs++;
    return fails(runScenario({ scenario: candidate, seed }).report);
  };
  let progress = true;
  while (progress && runs < MAX_RUNS) {
    progress = false;
    for (const candidate of smallerVariants(current)) {
      if (runs >= MAX_RUNS) break;
      if (stillFails(candidate)) {
        current = candidate;
        progress = true;
        break;
      }
    }
  }
  return { scenario: current, runs };
}

/** One-step simplifications of a scenario, the most drastic first. */
function smallerVariants(scenario: Scenario): Scenario[] {
  const variants: Scenario[] = [];
  scenario.faults.forEach((_, index) => {
    variants.push({ ...scenario, faults: scenario.faults.filter((__, i) => i !== index) });
  });
  const workload = scenario.workload;
  if (workload.concurrentMeetings > 1) {
    variants.push({
      ...scenario,
      workload: { ...workload, concurrentMeetings: Math.floor(workload.concurrentMeetings / 2) },
    });
  }
  const participants = workload.participants;
  if (participants.max > participants.min) {
    const max = Math.max(participants.min, Math.floor(participants.max / 2));
    const mean = Math.min(participants.mean, max);
    variants.push({
      ...scenario,
      workload: { ...workload, participants: { ...participants, max, mean } },
    });
  }
  const lastFaultEnd = Math.max(
    0,
    ...scenario.faults.map(
      (f) => f.atSeconds + ('durationSeconds' in f ? (f.durationSeconds ?? 0) : 0),
    ),
  );
  const shorter = Math.max(Math.ceil(lastFaultEnd) + 1, Math.floor(scenario.durationSeconds / 2));
  if (shorter < scenario.durationSeconds) variants.push({ ...scenario, durationSeconds: shorter });
  return variants;
}
