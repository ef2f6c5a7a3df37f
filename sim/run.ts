import { Simulation, type HashLogOptions } from './engine/simulation.ts';
import { seconds, type Micros } from './engine/time.ts';
import type { Scenario } from './scenario/schema.ts';
import { World, type WorldMutations } from './world/world.ts';
import {
  summariseByLocality,
  summariseLatency,
  summariseUtilisation,
  TARGETS_MS,
  type RunReport,
} from './report/summary.ts';
import { estimateCost } from './report/cost.ts';
import { JOIN_STAGES, type LatencyRecorder } from './report/metrics.ts';

/** How to run one simulation. */
export interface RunOptions {
  readonly scenario: Scenario;
  readonly seed: number;
  /** Overrides the scenario's duration. */
  readonly durationSeconds?: number;
  readonly hashLog?: HashLogOptions;
  /** Called now and then with the virtual time reached (for progress bars). */
  readonly onProgress?: (now: Micros, end: Micros) => void;
  /** Called once the world is built and started, before the first event: extra scheduling. */
  readonly beforeRun?: (simulation: Simulation, world: World) => void;
  /** Deliberate breakages of core's machines (tests that the invariants notice them). */
  readonly mutations?: WorldMutations;
}

/** A finished run: the report and the engine (for the hash log). */
export interface RunOutcome {
  readonly report: RunReport;
  readonly simulation: Simulation;
}

/** Runs a scenario under a seed to its end and builds the report. */
export function runScenario(options: RunOptions): RunOutcome {
  const scenario =
    options.durationSeconds === undefined
      ? options.scenario
      : { ...options.scenario, durationSeconds: options.durationSeconds };
  const simulation = new Simulation(options.seed, options.hashLog);
  const world = new World(simulation, scenario, options.mutations);
  const end = seconds(scenario.durationSeconds);
  const wallStart = performance.now();
  world.start();
  options.beforeRun?.(simulation, world);
  simulation.run(
    end,
    options.onProgress === undefined ? undefined : (now) => options.onProgress?.(now, end),
  );
  const wallSeconds = (performance.now() - wallStart) / 1000;
  return { report: buildReport(world, scenario, options.seed, wallSeconds), simulation };
}

function buildReport(
  world: World,
  scenario: Scenario,
  seed: number,
  wallSeconds: number,
): RunReport {
  const metrics = world.metrics;
  const sim = world.sim;
  const packetsSent = metrics.packets.sent;
  return {
    scenario: scenario.name,
    seed,
    simulatedSeconds: scenario.durationSeconds,
    events: sim.fired,
    traceHash: sim.trace.digest(),
    wallSeconds: round(wallSeconds),
    speedup: round(scenario.durationSeconds / Math.max(wallSeconds, 1e-9)),
    load: {
      meetingsStarted: metrics.meetingsStarted,
      peakMeetings: metrics.peakMeetings,
      peakParticipants: metrics.peakParticipants,
      peakStreams: metrics.peakStreams,
    },
    latency: {
      joinToMedia: summariseLatency(metrics.joinToMedia, TARGETS_MS.joinToMedia),
      signaling: summariseLatency(metrics.signaling, TARGETS_MS.signaling),
      forwarding: summariseLatency(metrics.forwarding, TARGETS_MS.forwarding),
      mediaPath: summariseLatency(metrics.mediaPath, null),
      betweenHandlers: summariseLatency(metrics.betweenHandlers, null),
    },
    joinStages: JOIN_STAGES.map((stage, i) => ({
      stage,
      latency: summariseLatency(metrics.joinStages[i] as LatencyRecorder, null),
    })),
    locality: {
      joinToMedia: summariseByLocality(
        'join-to-media',
        metrics.joinToMediaByLocality,
        TARGETS_MS.joinToMedia,
      ),
      signaling: summariseByLocality(
        'signaling',
        metrics.signalingByLocality,
        TARGETS_MS.signaling,
      ),
    },
    joins: { ...metrics.joins },
    packetLoss: {
      sent: packetsSent,
      lost: metrics.packets.lost,
      ratio: packetsSent === 0 ? null : round(metrics.packets.lost / packetsSent),
    },
    cascades: { ...metrics.cascades },
    reroutes: { ...metrics.reroutes },
    rotations: { signingKeys: world.signingRotations(), mediaKeys: metrics.rotations.mediaKeys },
    tokens: { ...metrics.tokens },
    utilisation: summariseUtilisation(metrics, 0.7, 0.8),
    scaleOuts: metrics.scaleOuts,
    qualityEscalations: metrics.qualityEscalations,
    cost: estimateCost(scenario, metrics),
    invariants: {
      total: world.violations.total,
      byInvariant: world.violations.countsByInvariant(),
      first: world.violations.first,
    },
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
