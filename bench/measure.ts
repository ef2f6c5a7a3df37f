/**
 * A small timing harness for benchmarks. Each round repeats an operation until a time budget
 * is spent, so fast and slow operations both get a stable count, and a figure is the median
 * over rounds. Speed claims are ratios against a baseline timed in alternation with the
 * operation (baseline round, operation round, and so on), because absolute figures on a
 * shared machine drift from one second to the next.
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

export interface Figure {
  /** Operations per second, the median over rounds. */
  readonly perSecond: number;
  /** Mean time of one operation in microseconds, in the median round. */
  readonly microsecondsPerOp: number;
  /** Operations timed in each round, in the order the rounds ran. */
  readonly iterationsPerRound: readonly number[];
}

export interface Comparison {
  readonly figure: Figure;
  readonly baseline: Figure;
  /** Median over rounds of (operation per second / baseline per second), each pair back to back. */
  readonly ratio: number;
}

export interface MeasureOptions {
  /** Time to spend on each round, in milliseconds. */
  readonly roundMs: number;
  readonly rounds: number;
  /** Fewest operations per round, however slow they are. */
  readonly minIterations?: number;
}

type Operation = (i: number) => unknown;

interface Round {
  readonly perSecond: number;
  readonly iterations: number;
}

/** Anything the measured operations return lands here, so the work cannot be optimised away. */
let _sink: unknown;

/** Times `operation(i)` and returns its median throughput. */
export function measure(operation: Operation, options: MeasureOptions): Figure {
  warmUp(operation, options.roundMs / 2);
  const rounds: Round[] = [];
  for (let round = 0; round < options.rounds; round++) rounds.push(timeRound(operation, options));
  return summarise(rounds);
}

/** Times `operation` and `baseline` in alternating rounds and returns both and their ratio. */
export function compare(
  operation: Operation,
  baseline: Operation,
  options: MeasureOptions,
): Comparison {
  warmUp(baseline, options.roundMs / 2);
  warmUp(operation, options.roundMs / 2);
  const baselineRounds: Round[] = [];
  const operationRounds: Round[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const base = timeRound(baseline, options);
    const timed = timeRound(operation, options);
    baselineRounds.push(base);
    operationRounds.push(timed);
    ratios.push(timed.perSecond / base.perSecond);
  }
  return {
    figure: summarise(operationRounds),
    baseline: summarise(baselineRounds),
    ratio: round3(median(ratios)),
  };
}

/** Runs `operation` for `budgetMs` untimed, so the JIT has compiled it before timing starts. */
export function warmUp(operation: Operation, budgetMs: number): void {
  const end = performance.now() + budgetMs;
  for (let i = 0; performance.now() < end; i++) _sink = operation(i);
}

function timeRound(operation: Operation, options: MeasureOptions): Round {
  const minIterations = options.minIterations ?? 1;
  let iterations = 0;
  let batch = 1;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < options.roundMs || iterations < minIterations) {
    for (let i = 0; i < batch; i++) _sink = operation(iterations + i);
    iterations += batch;
    elapsed = performance.now() - start;
    if (batch < 4096) batch *= 2;
  }
  return { perSecond: (iterations / elapsed) * 1000, iterations };
}

function summarise(rounds: readonly Round[]): Figure {
  const perSecond = median(rounds.map((r) => r.perSecond));
  return {
    perSecond: Math.round(perSecond),
    microsecondsPerOp: round3(1e6 / perSecond),
    iterationsPerRound: rounds.map((r) => r.iterations),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** A benchmark run's clock and the machine's load when it began. */
export interface BenchStart {
  readonly startedAt: number;
  readonly loadAverage: readonly number[];
}

export function benchStart(): BenchStart {
  return {
    startedAt: performance.now(),
    loadAverage: os.loadavg().map((load) => Math.round(load * 100) / 100),
  };
}

/** The header every benchmark report starts with: what ran where, and for how long. */
export function benchEnvironment(name: string, start: BenchStart) {
  return {
    benchmark: name,
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    loadAverageAtStart: start.loadAverage,
    durationSeconds: Math.round((performance.now() - start.startedAt) / 100) / 10,
  };
}

/** The kernel's count of UDP datagrams dropped for a full receive buffer (Linux). */
export function udpReceiveBufferErrors(): number | null {
  try {
    const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n');
    const [names, values] = lines.filter((line) => line.startsWith('Udp:'));
    const index = names?.split(/\s+/).indexOf('RcvbufErrors') ?? -1;
    return index < 0 ? null : Number(values?.split(/\s+/)[index]);
  } catch {
    return null;
  }
}
