/**
 * One run of the ADR baseline scenario (seed 1, 80 simulated seconds) timed at its split: the
 * join storm (simulated seconds 0 to 40) and the steady state (40 to 80), in CPU seconds of
 * the process (`process.cpuUsage`), wall seconds and events. Prints one JSON line.
 *
 * It uses only what the simulator has long exposed (`runScenario` with `beforeRun`, the
 * engine's `at` and `fired`, `builtinScenario`, `seconds`), so the same file bundled in an older
 * checkout measures that checkout the same way (bench/sim-against.ts does that).
 *
 * Run: node --max-semi-space-size=128 .build/bench/sim-steady.mjs
 */
import { performance } from 'node:perf_hooks';
import { seconds } from '../sim/engine/time.ts';
import { builtinScenario } from '../sim/scenario/builtin.ts';
import { runScenario } from '../sim/run.ts';

const WARMUP_SECONDS = 40;
const STEADY_SECONDS = 40;

interface Reading {
  readonly wall: number;
  readonly cpu: number;
  readonly events: number;
}

export interface SteadyRun {
  readonly joinStorm: { cpuSeconds: number; wallSeconds: number; events: number };
  readonly steadyState: {
    cpuSeconds: number;
    wallSeconds: number;
    events: number;
    simulatedSecondsPerCpuSecond: number;
  };
  readonly traceHash: string;
  readonly maxRssMiB: number;
}

const cpuSeconds = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

const round = (value: number): number => Math.round(value * 1000) / 1000;

function main(): void {
  const scenario = builtinScenario('baseline');
  if (scenario === undefined) throw new Error('missing scenario baseline');
  const readings: Reading[] = [];
  let fired = (): number => 0;
  const read = (): void => {
    readings.push({ wall: performance.now(), cpu: cpuSeconds(), events: fired() });
  };
  const { report } = runScenario({
    scenario,
    seed: 1,
    durationSeconds: WARMUP_SECONDS + STEADY_SECONDS,
    beforeRun: (sim) => {
      fired = () => sim.fired;
      read();
      sim.at(seconds(WARMUP_SECONDS), 'bench.mark', 'bench', read);
    },
  });
  read();
  const [start, split, end] = readings as [Reading, Reading, Reading];
  const span = (from: Reading, to: Reading) => ({
    cpuSeconds: round(to.cpu - from.cpu),
    wallSeconds: round((to.wall - from.wall) / 1000),
    events: to.events - from.events,
  });
  const steady = span(split, end);
  const result: SteadyRun = {
    joinStorm: span(start, split),
    steadyState: {
      ...steady,
      simulatedSecondsPerCpuSecond: round(STEADY_SECONDS / steady.cpuSeconds),
    },
    traceHash: report.traceHash,
    maxRssMiB: round(process.resourceUsage().maxRSS / 1024),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
