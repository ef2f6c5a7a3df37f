/**
 * Simulator benchmark: simulated seconds per wall second and events per second for the default
 * scenario and for the ADR baseline (1,000 concurrent meetings, 10 participants on average,
 * flow-level media), plus peak memory. The baseline is split at its warm-up: its first 40
 * simulated seconds are the join storm of 10,000 participants; the steady state after it is
 * the load the ADR describes; both together give the overall figure. A raw event-queue run
 * (no-op events) measured in the same process is the reference, so figures read as ratios on
 * this shared machine. CPU seconds are reported next to wall seconds because other processes
 * share the two cores.
 *
 * Run: npm run bench:sim (writes reports/bench-sim.json)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Simulation } from '../sim/engine/simulation.ts';
import { seconds } from '../sim/engine/time.ts';
import { builtinScenario } from '../sim/scenario/builtin.ts';
import type { Scenario } from '../sim/scenario/schema.ts';
import { runScenario } from '../sim/run.ts';
import type { ScalePoint } from './sim-scale.ts';

const TARGET_SPEEDUP = 60;
const BASELINE_WARMUP_SECONDS = 40;
const BASELINE_STEADY_SECONDS = 40;
const QUEUE_EVENTS = 2_000_000;

interface Clock {
  readonly wall: number;
  readonly cpu: number;
  readonly events: number;
}

interface Phase {
  readonly simulatedSeconds: number;
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly events: number;
  readonly simulatedSecondsPerWallSecond: number;
  readonly simulatedSecondsPerCpuSecond: number;
  readonly eventsPerWallSecond: number;
}

const cpuSeconds = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

function phase(simulatedSeconds: number, from: Clock, to: Clock): Phase {
  const wallSeconds = (to.wall - from.wall) / 1000;
  const cpu = to.cpu - from.cpu;
  const events = to.events - from.events;
  return {
    simulatedSeconds,
    wallSeconds: round(wallSeconds),
    cpuSeconds: round(cpu),
    events,
    simulatedSecondsPerWallSecond: round(simulatedSeconds / wallSeconds),
    simulatedSecondsPerCpuSecond: round(simulatedSeconds / cpu),
    eventsPerWallSecond: Math.round(events / wallSeconds),
  };
}

/** The engine alone: a chain of no-op events through the heap, the trace hash included. */
function rawQueue(): { eventsPerWallSecond: number } {
  const sim = new Simulation(1);
  for (let i = 0; i < 64; i++) {
    const tick = (): void => {
      sim.after(1 + (i % 7), 'noop', 'bench', tick);
    };
    sim.after(i, 'noop', 'bench', tick);
  }
  const start = performance.now();
  let fired = 0;
  while (fired < QUEUE_EVENTS) fired += sim.run(sim.now + 100_000);
  return { eventsPerWallSecond: Math.round(fired / ((performance.now() - start) / 1000)) };
}

/** Runs a scenario, taking clock readings at the given virtual instants. */
function timedRun(
  scenario: Scenario,
  durationSeconds: number,
  marks: readonly number[],
): { clocks: Clock[]; traceHash: string } {
  const clocks: Clock[] = [];
  let simulation: Simulation | undefined;
  const read = (): Clock => ({
    wall: performance.now(),
    cpu: cpuSeconds(),
    events: simulation?.fired ?? 0,
  });
  const { report } = runScenario({
    scenario,
    seed: 1,
    durationSeconds,
    beforeRun: (sim) => {
      simulation = sim;
      clocks.push(read());
      for (const mark of marks)
        sim.at(seconds(mark), 'bench.mark', 'bench', () => clocks.push(read()));
    },
  });
  clocks.push(read());
  return { clocks, traceHash: report.traceHash };
}

function scenario(name: string): Scenario {
  const found = builtinScenario(name);
  if (found === undefined) throw new Error(`missing scenario ${name}`);
  return found;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** A value to four significant figures: ratios far below 1 keep their digits. */
function significant(value: number): number {
  return Number(value.toPrecision(4));
}

/**
 * How a phase's event rate compares with the raw event queue's in the same run: as a ratio
 * (world events per second over raw-queue events per second) and as its inverse, the raw-queue
 * events that fit in the time of one world event.
 */
function versusRawQueue(phase: Phase, queue: { eventsPerWallSecond: number }) {
  return {
    eventsPerSecondVsRawQueue: significant(phase.eventsPerWallSecond / queue.eventsPerWallSecond),
    rawQueueEventsPerWorldEvent: significant(queue.eventsPerWallSecond / phase.eventsPerWallSecond),
  };
}

const startedAt = performance.now();
const queue = rawQueue();

const defaultScenario = scenario('default');
const small = timedRun(defaultScenario, defaultScenario.durationSeconds, []);
const [smallStart, smallEnd] = small.clocks as [Clock, Clock];
const defaultPhase = phase(defaultScenario.durationSeconds, smallStart, smallEnd);

const baseline = timedRun(scenario('baseline'), BASELINE_WARMUP_SECONDS + BASELINE_STEADY_SECONDS, [
  BASELINE_WARMUP_SECONDS,
]);
const [b0, bWarm, bEnd] = baseline.clocks as [Clock, Clock, Clock];
const warmup = phase(BASELINE_WARMUP_SECONDS, b0, bWarm);
const steady = phase(BASELINE_STEADY_SECONDS, bWarm, bEnd);
const overall = phase(BASELINE_WARMUP_SECONDS + BASELINE_STEADY_SECONDS, b0, bEnd);

/**
 * The scaling table: the baseline scaled to each size (controllers and handlers in proportion),
 * each in a process of its own (bench/sim-scale.ts) for its peak RSS, for the join storm and a
 * few seconds after it. `SIM_BENCH_SCALING=off` leaves it out; a comma list picks the sizes.
 */
const SCALING_SIZES = [250, 500, 1000, 2000, 4000];
const SCALING_SECONDS = 45;

function scalingTable() {
  const setting = process.env.SIM_BENCH_SCALING;
  if (setting === 'off') return undefined;
  const sizes = setting === undefined ? SCALING_SIZES : setting.split(',').map(Number);
  const points: ScalePoint[] = [];
  for (const meetings of sizes) {
    const line = execFileSync(
      process.execPath,
      [
        '--expose-gc',
        '--max-semi-space-size=128',
        new URL('./sim-scale.mjs', import.meta.url).pathname,
        String(meetings),
        String(SCALING_SECONDS),
      ],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    points.push(JSON.parse(line) as ScalePoint);
  }
  const rows = points.map((point) => ({
    ...point,
    cpuMsPerMeeting: round((point.cpuSeconds * 1000) / point.meetings),
    eventsPerMeeting: Math.round(point.events / point.meetings),
  }));
  const first = rows[0];
  const last = rows.at(-1);
  return {
    simulatedSeconds: SCALING_SECONDS,
    rows,
    /** CPU per meeting at the largest size over the smallest: 1 when cost is linear in meetings. */
    cpuPerMeetingGrowth:
      first === undefined || last === undefined
        ? null
        : significant(last.cpuMsPerMeeting / first.cpuMsPerMeeting),
    eventsPerMeetingGrowth:
      first === undefined || last === undefined
        ? null
        : significant(last.eventsPerMeeting / first.eventsPerMeeting),
    /** Least-squares fit of memory against meetings: MiB per meeting beyond a fixed base. */
    liveHeap: fit(points, (point) => point.heapUsedMiB),
    peakRss: fit(points, (point) => point.maxRssMiB),
  };
}

function fit(points: readonly ScalePoint[], value: (point: ScalePoint) => number) {
  const n = points.length;
  if (n < 2) return null;
  const meanX = points.reduce((sum, p) => sum + p.meetings, 0) / n;
  const meanY = points.reduce((sum, p) => sum + value(p), 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.meetings - meanX) * (value(p) - meanY);
    sxx += (p.meetings - meanX) ** 2;
  }
  const slope = sxy / sxx;
  return { miBPerMeeting: significant(slope), baseMiB: round(meanY - slope * meanX) };
}

const scaling = scalingTable();

const result = {
  benchmark: 'sim',
  machine: { cpus: os.cpus().length, loadAverage: os.loadavg().map(round), node: process.version },
  reference: { rawEventQueue: queue },
  default: {
    ...defaultPhase,
    traceHash: small.traceHash,
    ...versusRawQueue(defaultPhase, queue),
  },
  adrBaseline: {
    description:
      '1,000 concurrent meetings, 10 participants on average, flow-level media, 3 regions',
    joinStormWarmup: { ...warmup, ...versusRawQueue(warmup, queue) },
    steadyState: { ...steady, ...versusRawQueue(steady, queue) },
    overall: { ...overall, ...versusRawQueue(overall, queue) },
    target: {
      simulatedSecondsPerWallSecond: TARGET_SPEEDUP,
      met: steady.simulatedSecondsPerWallSecond >= TARGET_SPEEDUP,
      metOverall: overall.simulatedSecondsPerWallSecond >= TARGET_SPEEDUP,
    },
    traceHash: baseline.traceHash,
  },
  peakMemory: {
    maxRssMiB: round(process.resourceUsage().maxRSS / 1024),
    heapUsedMiB: round(process.memoryUsage().heapUsed / 1048576),
  },
  scaling: scaling ?? 'skipped (SIM_BENCH_SCALING=off)',
  benchWallSeconds: round((performance.now() - startedAt) / 1000),
};

mkdirSync('reports', { recursive: true });
writeFileSync('reports/bench-sim.json', `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
