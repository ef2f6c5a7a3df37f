/**
 * One point of the simulator's scaling table: the ADR baseline scenario with its meetings (and,
 * in proportion, its controllers and handlers) scaled to `meetings`, run for `seconds` of
 * simulated time (the join storm and a few seconds after it). Runs in a process of its own so
 * its peak RSS is its own; prints one JSON line.
 *
 * Run: node --expose-gc .build/bench/sim-scale.mjs <meetings> <seconds>
 * (bench/sim.bench.ts runs it for each size of the table.)
 */
import { performance } from 'node:perf_hooks';
import { builtinScenario } from '../sim/scenario/builtin.ts';
import type { Scenario } from '../sim/scenario/schema.ts';
import { runScenario } from '../sim/run.ts';
import type { World } from '../sim/world/world.ts';

/** The baseline's size, which the scaled scenarios are proportions of. */
const BASELINE_MEETINGS = 1000;

export interface ScalePoint {
  readonly meetings: number;
  readonly participantsAtEnd: number;
  readonly simulatedSeconds: number;
  readonly events: number;
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
  readonly maxRssMiB: number;
  /** Heap in use at the end of the run, after a full collection, with the world still alive. */
  readonly heapUsedMiB: number;
}

/** The baseline scenario scaled to `meetings`: controllers and handlers grow with it. */
export function scaledBaseline(meetings: number): Scenario {
  const baseline = builtinScenario('baseline');
  if (baseline === undefined) throw new Error('missing scenario baseline');
  const factor = meetings / BASELINE_MEETINGS;
  return {
    ...baseline,
    name: `baseline-x${factor}`,
    regions: baseline.regions.map((region) => ({
      ...region,
      meetingControllers: Math.max(1, Math.ceil(region.meetingControllers * factor)),
      mediaHandlers: Math.max(1, Math.ceil(region.mediaHandlers * factor)),
    })),
    workload: { ...baseline.workload, concurrentMeetings: meetings },
  };
}

function main(): void {
  const [meetingsArg, secondsArg] = process.argv.slice(2);
  const meetings = Number(meetingsArg);
  const seconds = Number(secondsArg);
  if (!Number.isInteger(meetings) || meetings < 1 || !(seconds > 0)) {
    process.stderr.write('usage: sim-scale.mjs <meetings> <seconds>\n');
    process.exit(2);
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    process.stderr.write('run with node --expose-gc\n');
    process.exit(2);
  }
  let world: World | undefined;
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  const { report } = runScenario({
    scenario: scaledBaseline(meetings),
    seed: 1,
    durationSeconds: seconds,
    beforeRun: (_simulation, built) => {
      world = built;
    },
  });
  const cpu = process.cpuUsage(cpuStart);
  const wallSeconds = (performance.now() - wallStart) / 1000;
  gc();
  const point: ScalePoint = {
    meetings,
    participantsAtEnd: world?.clients.size ?? 0,
    simulatedSeconds: seconds,
    events: report.events,
    cpuSeconds: round((cpu.user + cpu.system) / 1e6),
    wallSeconds: round(wallSeconds),
    maxRssMiB: round(process.resourceUsage().maxRSS / 1024),
    heapUsedMiB: round(process.memoryUsage().heapUsed / 1048576),
  };
  process.stdout.write(`${JSON.stringify(point)}\n`);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

if (process.argv[1]?.endsWith('sim-scale.mjs') === true) main();
