/**
 * A small timing harness for benchmarks. Each figure is the median of several timed rounds;
 * each round repeats the operation until a time budget is spent, so fast and slow operations
 * both get a stable count. Speed claims are made as ratios against a baseline timed in the
 * same run, because absolute figures on a shared machine drift from run to run.
 */
import { performance } from 'node:perf_hooks';

export interface Figure {
  /** Operations per second, the median over rounds. */
  readonly perSecond: number;
  /** Mean time of one operation in microseconds, from the median round. */
  readonly microsecondsPerOp: number;
  /** Operations timed in each round, slowest round first. */
  readonly iterationsPerRound: readonly number[];
  readonly rounds: number;
}

export interface MeasureOptions {
  /** Time to spend on each round, in milliseconds. */
  readonly roundMs: number;
  readonly rounds: number;
  /** Fewest operations per round, however slow they are. */
  readonly minIterations?: number;
}

/** Anything the measured operations return flows here, so the work cannot be optimised away. */
let _sink: unknown;

/** Times `operation(i)` and returns its median throughput. */
export function measure(operation: (i: number) => unknown, options: MeasureOptions): Figure {
  warmUp(operation, options.roundMs / 2);
  const samples: { perSecond: number; iterations: number }[] = [];
  for (let round = 0; round < options.rounds; round++) {
    samples.push(timeRound(operation, options.roundMs, options.minIterations ?? 1));
  }
  samples.sort((a, b) => a.perSecond - b.perSecond);
  const median = samples[Math.floor(samples.length / 2)] ?? { perSecond: 0, iterations: 0 };
  return {
    perSecond: Math.round(median.perSecond),
    microsecondsPerOp: round3(1e6 / median.perSecond),
    iterationsPerRound: samples.map((s) => s.iterations),
    rounds: options.rounds,
  };
}

/** `figure` throughput divided by `baseline` throughput, to three decimals. */
export function ratio(figure: Figure, baseline: Figure): number {
  return round3(figure.perSecond / baseline.perSecond);
}

function warmUp(operation: (i: number) => unknown, budgetMs: number): void {
  const end = performance.now() + budgetMs;
  for (let i = 0; performance.now() < end; i++) _sink = operation(i);
}

function timeRound(
  operation: (i: number) => unknown,
  budgetMs: number,
  minIterations: number,
): { perSecond: number; iterations: number } {
  let iterations = 0;
  let batch = 1;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs || iterations < minIterations) {
    for (let i = 0; i < batch; i++) _sink = operation(iterations + i);
    iterations += batch;
    elapsed = performance.now() - start;
    if (batch < 4096) batch *= 2;
  }
  return { perSecond: (iterations / elapsed) * 1000, iterations };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
