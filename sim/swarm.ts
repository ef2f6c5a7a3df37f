import { RandomStreams } from './engine/random.ts';
import { builtinScenario } from './scenario/builtin.ts';
import { scenarioSchema, type Scenario, type ScenarioInput } from './scenario/schema.ts';
import { runScenario } from './run.ts';
import type { RunReport } from './report/summary.ts';

/** One swarm case: its seed, the randomised scenario and what happened. */
export interface SwarmCase {
  readonly seed: number;
  readonly scenario: Scenario;
  readonly report: RunReport | null;
  /** Why the case failed: invariant violations or an exception; null when it passed. */
  readonly failure: string | null;
}

/**
 * A randomised configuration for a swarm seed, derived only from the seed: topology sizes,
 * workload mix, network quality, handler capacity and at most one fault.
 */
export function swarmScenario(seed: number, durationSeconds: number): Scenario {
  const random = new RandomStreams(seed).stream('swarm/config');
  const base = builtinScenario('default');
  if (base === undefined) throw new Error('the default scenario is missing');
  const regionNames = base.regions.map((r) => r.name);
  const mediaHandlers = 1 + random.int(4);
  const faults: ScenarioInput['faults'] = [];
  const faultKind = random.int(4);
  const atSeconds = Math.round(random.uniform(0.2, 0.6) * durationSeconds);
  if (faultKind === 1) {
    const [a, b] = [random.pick(regionNames), random.pick(regionNames)];
    if (a !== b)
      faults.push({
        kind: 'partition',
        atSeconds,
        durationSeconds: 2 + random.int(10),
        from: [a],
        to: [b],
        symmetric: random.chance(0.5),
      });
  } else if (faultKind === 2 && mediaHandlers > 1) {
    faults.push({
      kind: 'handler-crash',
      atSeconds,
      region: random.pick(regionNames),
      index: random.int(mediaHandlers),
    });
  } else if (faultKind === 3) {
    faults.push({
      kind: 'controller-crash',
      atSeconds,
      region: random.pick(regionNames),
      index: 0,
      durationSeconds: 5,
    });
  }
  const input: ScenarioInput = {
    name: `swarm-${seed}`,
    description: `Randomised configuration for swarm seed ${seed}`,
    durationSeconds,
    regions: regionNames.map((name) => ({
      name,
      meetingControllers: 1 + random.int(3),
      mediaHandlers,
      userWeight: random.uniform(0.2, 1),
    })),
    network: {
      ...base.network,
      jitterMs: random.uniform(0, 10),
      loss: random.chance(0.5) ? 0 : random.uniform(0, 0.03),
    },
    workload: {
      concurrentMeetings: 2 + random.int(30),
      meanMeetingSeconds: random.uniform(20, 300),
      participants: { min: 2, mean: 2 + random.uniform(0.5, 10), max: 30 },
      joinSpreadSeconds: random.uniform(1, 20),
      crossRegionFraction: random.uniform(0, 0.5),
      layouts: {
        grid: random.uniform(0, 3),
        speaker: random.uniform(0, 3),
        grid2x2: random.uniform(0, 1) + 0.01,
      },
      meanSpeakerTurnSeconds: random.uniform(1, 15),
      meanLayoutChangeSeconds: random.uniform(5, 120),
      screenShareProbability: random.uniform(0, 0.5),
      reconnectProbability: random.uniform(0, 0.3),
      earlyLeaveProbability: random.uniform(0, 0.3),
    },
    media: {
      handlerCapacityMbps: random.pick([200, 1000, 10_000]),
      // Drawn last, so every earlier draw of a seed is what it was before this one existed.
      crossRegion: random.chance(0.25) ? 'single-region' : 'cascade',
    },
    faults,
  };
  return scenarioSchema.parse(input);
}

/** Simulated seconds of each swarm run unless a duration is given. */
export const SWARM_DURATION_SECONDS = 30;

/** The seed of a swarm configuration's scenario name (`swarm-<seed>`), or null for other names. */
export function swarmSeedOf(name: string): bigint | null {
  const match = /^swarm-(\d+)$/.exec(name);
  return match === null ? null : BigInt(match[1] as string);
}

/** What a swarm leaves: how many seeds passed and the failing cases. */
export interface SwarmOutcome {
  readonly passed: number;
  readonly failures: readonly SwarmCase[];
}

/**
 * Runs `count` seeds from `firstSeed`, each with its own randomised configuration (changed by
 * `adjust` when given, e.g. a packet sample). Passing cases are handed to `onCase` and dropped.
 */
export function runSwarm(
  count: number,
  firstSeed: number,
  durationSeconds: number,
  onCase?: (c: SwarmCase) => void,
  adjust: (scenario: Scenario) => Scenario = (scenario) => scenario,
): SwarmOutcome {
  const failures: SwarmCase[] = [];
  let passed = 0;
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    const scenario = adjust(swarmScenario(seed, durationSeconds));
    let result: SwarmCase;
    try {
      const { report } = runScenario({ scenario, seed });
      const failure =
        report.invariants.total === 0 ? null : `${report.invariants.total} invariant violations`;
      result = { seed, scenario, report, failure };
    } catch (error) {
      result = {
        seed,
        scenario,
        report: null,
        failure: `crashed: ${(error as Error).stack ?? String(error)}`,
      };
    }
    if (result.failure === null) passed++;
    else failures.push(result);
    onCase?.(result);
  }
  return { passed, failures };
}
