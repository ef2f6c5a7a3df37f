import { renderComparison } from './report/compare.ts';
import { accessSync, constants, mkdirSync, statSync, writeFileSync, type Stats } from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import { dirname, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import cliProgress from 'cli-progress';
import { describeBuiltinScenarios } from './scenario/builtin.ts';
import { aboveBound, BOUNDS, belowBound } from './scenario/bounds.ts';
import { describeScenarioError, loadScenario } from './scenario/load.ts';
import type { Scenario } from './scenario/schema.ts';
import { runScenario } from './run.ts';
import { checkDeterminism } from './determinism.ts';
import {
  runSwarm,
  swarmScenario,
  swarmSeedOf,
  SWARM_DURATION_SECONDS,
  type SwarmCase,
} from './swarm.ts';
import { sameInvariantsFail, shrinkScenario } from './shrink.ts';
import { renderTerminal } from './report/terminal.ts';
import { renderHtml } from './report/html.ts';
import type { RunReport } from './report/summary.ts';
import type { Micros } from './engine/time.ts';
import {
  describeEstimate,
  determinismCheck,
  estimateRun,
  inSequence,
  judgeRun,
  type MachineLimits,
  type RunEstimate,
  type Verdict,
} from './estimate.ts';

/**
 * Exit codes: 0 all good, 1 a check failed (invariant, determinism, swarm), 2 bad usage, 3 a
 * service level missed its target (with --fail-on-miss only).
 */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_MISSED = 3;

/** The flag that runs a scenario the estimate finds too large for the machine. */
export const ALLOW_LARGE_FLAG = '--allow-large';

export interface CliOptions {
  scenario: string;
  seed: number;
  duration?: number;
  json?: string | true;
  html?: string;
  checkDeterminism?: boolean;
  compare?: string;
  hashEvery: number;
  swarm?: number;
  listScenarios?: boolean;
  packetSample?: number;
  quiet?: boolean;
  allowLarge?: boolean;
  failOnMiss?: boolean;
}

/** A parsed command line: the options and whether `--scenario` was given. */
export interface ParsedCommand {
  readonly options: CliOptions;
  readonly scenarioGiven: boolean;
}

/** Bad flags, a bad scenario or a run that does not fit: one line on stderr and exit status 2. */
export class UsageError extends Error {}

/** A message as one line (commander's and YAML's messages can span several). */
function oneLine(message: string): string {
  return message
    .replace(/^error:\s*/, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}

const SEED_BOUND_NOTE = ' (2^53 - 1, the largest integer a seed holds exactly)';

/** A whole number from `min` to `bound`, written in decimal digits. */
const integer =
  (flag: string, min: number, bound: number, note = '') =>
  (value: string): number => {
    const text = value.trim();
    if (!/^\d+$/.test(text))
      throw new UsageError(`${flag} ${JSON.stringify(value)} is not a whole number`);
    const big = BigInt(text);
    if (big > BigInt(bound)) throw new UsageError(`${flag} ${aboveBound(text, bound)}${note}`);
    if (big < BigInt(min)) throw new UsageError(`${flag} ${belowBound(text, min)}`);
    return Number(big);
  };

/** A number above `floor` (or from it, when inclusive) and at most `bound`. */
const number =
  (flag: string, floor: number, bound: number, inclusive: boolean) =>
  (value: string): number => {
    const parsed = value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isFinite(parsed))
      throw new UsageError(`${flag} ${JSON.stringify(value)} is not a number`);
    if (parsed > bound) throw new UsageError(`${flag} ${aboveBound(value, bound)}`);
    if (inclusive ? parsed < floor : parsed <= floor)
      throw new UsageError(
        `${flag} ${value} must be ${inclusive ? 'at least' : 'more than'} ${floor}`,
      );
    return parsed;
  };

function buildProgram(): Command {
  return new Command()
    .name('npm run sim --')
    .description(
      'Dark Tower deterministic multi-region simulator: runs a scenario over the real core under virtual time.',
    )
    .option(
      '-s, --scenario <name|file>',
      'built-in scenario name, swarm-<seed> for a swarm configuration, or a YAML/JSON scenario file',
      'default',
    )
    .option(
      '--seed <n>',
      `run seed, 0 to 2^53 - 1 (the same seed replays the run exactly)`,
      integer('--seed', 0, BOUNDS.seed, SEED_BOUND_NOTE),
      1,
    )
    .option(
      '-d, --duration <seconds>',
      `override the scenario's simulated duration (at most ${BOUNDS.durationSeconds})`,
      number('--duration', 0, BOUNDS.durationSeconds, false),
    )
    .option('--json [file]', 'write the report as JSON to a file, or to stdout without one')
    .option('--html <file>', 'write a self-contained HTML report')
    .option(
      '--compare <name|file>',
      'run --scenario and this scenario with the same seed and duration and print them side by side',
    )
    .option(
      '--check-determinism',
      'run twice and compare trace hashes; name the first divergent event',
    )
    .option(
      '--hash-every <events>',
      `hash-log interval for --check-determinism (at most ${BOUNDS.hashEvery})`,
      integer('--hash-every', 1, BOUNDS.hashEvery),
      1000,
    )
    .option(
      '--swarm <n>',
      `run n seeds from --seed with randomised configurations (at most ${BOUNDS.swarmSeeds})`,
      integer('--swarm', 1, BOUNDS.swarmSeeds),
    )
    .option('--list-scenarios', 'list the built-in scenarios and exit')
    .option(
      '--packet-sample <fraction>',
      'fraction of meetings simulated packet by packet, 0 to 1',
      number('--packet-sample', 0, 1, true),
    )
    .option(ALLOW_LARGE_FLAG, 'run even when the estimate says the run does not fit this machine')
    .option('-q, --quiet', 'print only the trace hash (and failures)')
    .option(
      '--fail-on-miss',
      'exit 3 when a service level misses its target (the invariants held); without it a miss exits 0',
    )
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
}

/**
 * Parses the command line. Throws a UsageError for a bad flag or value; returns null when help
 * was printed.
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommand | null {
  const program = buildProgram();
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version')
        return null;
      throw new UsageError(oneLine(error.message));
    }
    throw error;
  }
  return {
    options: program.opts<CliOptions>(),
    scenarioGiven: program.getOptionValueSource('scenario') !== 'default',
  };
}

/** What the command will do, decided and checked before anything runs. */
export type Plan =
  | { readonly kind: 'list' }
  | {
      readonly kind: 'run' | 'determinism';
      readonly scenario: Scenario;
      readonly estimate: RunEstimate;
      readonly verdict: Verdict;
    }
  | {
      readonly kind: 'compare';
      readonly scenario: Scenario;
      readonly other: Scenario;
      readonly estimate: RunEstimate;
      readonly verdict: Verdict;
    }
  | {
      readonly kind: 'swarm';
      readonly count: number;
      readonly duration: number;
      readonly estimate: RunEstimate;
      readonly verdict: Verdict;
    };

/**
 * Checks a parsed command against everything that can be known before a run: flags that do not
 * go together, the swarm's seed range, output paths, the scenario, and whether the estimated run
 * fits `machine`. Throws a UsageError naming the problem.
 */
export function planCommand(
  command: ParsedCommand,
  machine: MachineLimits,
  cwd = process.cwd(),
): Plan {
  const { options } = command;
  if (options.listScenarios) return { kind: 'list' };
  checkCombinations(command);
  const outputs: [string, string | true | undefined][] = [
    ['--json', options.json],
    ['--html', options.html],
  ];
  for (const [flag, path] of outputs) {
    if (typeof path !== 'string') continue;
    const problem = checkOutputPath(flag, path, cwd);
    if (problem !== null) throw new UsageError(problem);
  }
  if (
    typeof options.json === 'string' &&
    options.html !== undefined &&
    resolve(cwd, options.json) === resolve(cwd, options.html)
  )
    throw new UsageError(`--json and --html name the same file ${options.html}`);
  if (options.swarm !== undefined) {
    const count = options.swarm;
    const last = BigInt(options.seed) + BigInt(count) - 1n;
    if (last > BigInt(BOUNDS.seed))
      throw new UsageError(
        `--seed ${options.seed} with --swarm ${count} runs seeds up to ${last}, above the bound ${BOUNDS.seed}${SEED_BOUND_NOTE}`,
      );
    const duration = options.duration ?? SWARM_DURATION_SECONDS;
    const estimates: RunEstimate[] = [];
    for (let seed = options.seed; seed < options.seed + count; seed++)
      estimates.push(estimateRun(withFlags(options, swarmScenario(seed, duration)), duration));
    const estimate = inSequence(estimates);
    const verdict = refuseTooLarge(options, `--swarm ${count}`, judgeRun(estimate, machine));
    return { kind: 'swarm', count, duration, estimate, verdict };
  }
  const scenario = resolveScenario(options);
  const single = estimateRun(scenario, options.duration ?? scenario.durationSeconds);
  if (options.compare !== undefined) {
    const other = resolveScenario({ ...options, scenario: options.compare });
    const estimate = inSequence([
      single,
      estimateRun(other, options.duration ?? scenario.durationSeconds),
    ]);
    const verdict = judgeRun(estimate, machine);
    return {
      kind: 'compare',
      scenario,
      other,
      estimate,
      verdict: refuseTooLarge(options, `--compare ${other.name}`, verdict),
    };
  }
  const estimate = options.checkDeterminism ? determinismCheck(single, options.hashEvery) : single;
  const verdict = judgeRun(estimate, machine);
  return {
    kind: options.checkDeterminism ? 'determinism' : 'run',
    scenario,
    estimate,
    verdict: refuseTooLarge(options, `scenario ${scenario.name}`, verdict),
  };
}

/** A run too large for the machine is refused unless the flag that allows it was given. */
function refuseTooLarge(options: CliOptions, what: string, verdict: Verdict): Verdict {
  if (verdict.kind === 'too-large' && !options.allowLarge)
    throw new UsageError(
      `${what} ${verdict.reason}; make it smaller or pass ${ALLOW_LARGE_FLAG} to run it anyway`,
    );
  return verdict;
}

/** Flags that would be ignored in a mode are refused instead. */
function checkCombinations(command: ParsedCommand): void {
  const { options } = command;
  const given = (flag: string, value: unknown) => (value === undefined ? [] : [flag]);
  const reports = [
    ...given('--json', options.json),
    ...given('--html', options.html),
    ...given('--fail-on-miss', options.failOnMiss),
  ];
  if (options.compare !== undefined) {
    const ignored = [
      ...reports,
      ...given('--check-determinism', options.checkDeterminism),
      ...given('--swarm', options.swarm),
    ];
    if (ignored.length > 0)
      throw new UsageError(
        `--compare prints two runs side by side: it does not go with ${ignored.join(', ')}`,
      );
  }
  if (options.swarm !== undefined) {
    const ignored = [
      ...(command.scenarioGiven ? ['--scenario'] : []),
      ...reports,
      ...given('--check-determinism', options.checkDeterminism),
    ];
    if (ignored.length > 0)
      throw new UsageError(
        `--swarm draws its own configurations and judges no service level: it does not go with ${ignored.join(', ')}`,
      );
  }
  if (options.checkDeterminism && reports.length > 0)
    throw new UsageError(
      `--check-determinism judges only the trace: it does not go with ${reports.join(', ')}`,
    );
}

/** The project's report directory, the one directory an output path may create. */
function reportsDirectory(cwd: string): string {
  return resolve(cwd, 'reports');
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path, { throwIfNoEntry: false }) ?? null;
  } catch {
    return null;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a file flag's path can be written: not a directory, in a directory that exists and
 * can be written (or in the project's `reports/`, created on writing). Returns the problem, or
 * null when the path is fine.
 */
export function checkOutputPath(flag: string, path: string, cwd = process.cwd()): string | null {
  const full = resolve(cwd, path);
  const existing = statOrNull(full);
  if (existing?.isDirectory()) return `${flag} ${path} is a directory, not a file`;
  if (existing !== null)
    return writable(full) ? null : `${flag} ${path} exists and cannot be written`;
  const parent = dirname(full);
  const parentStats = statOrNull(parent);
  if (parentStats === null) {
    if (parent === reportsDirectory(cwd) && writable(dirname(parent))) return null;
    return `${flag} ${path}: directory ${dirname(path)} does not exist`;
  }
  if (!parentStats.isDirectory()) return `${flag} ${path}: ${dirname(path)} is not a directory`;
  if (!writable(parent)) return `${flag} ${path}: directory ${dirname(path)} cannot be written`;
  return null;
}

/** The scenario `--scenario` names, with the flags that change it applied. */
function resolveScenario(options: CliOptions): Scenario {
  const swarmSeed = swarmSeedOf(options.scenario);
  if (swarmSeed !== null) {
    if (swarmSeed > BigInt(BOUNDS.seed))
      throw new UsageError(
        `--scenario ${options.scenario}: swarm seed ${aboveBound(swarmSeed, BOUNDS.seed)}${SEED_BOUND_NOTE}`,
      );
    const duration = options.duration ?? SWARM_DURATION_SECONDS;
    return withFlags(options, swarmScenario(Number(swarmSeed), duration));
  }
  const loaded = loadScenario(options.scenario);
  if (!loaded.ok) throw new UsageError(describeScenarioError(loaded.error));
  return withFlags(options, loaded.value);
}

/** A scenario with `--packet-sample` applied. */
function withFlags(options: CliOptions, scenario: Scenario): Scenario {
  if (options.packetSample === undefined) return scenario;
  return { ...scenario, media: { ...scenario.media, packetSample: options.packetSample } };
}

/** A command-line argument as the shell reads it back. */
function shellWord(word: string): string {
  return /^[\w./@:+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command that replays a run exactly: every flag that changes what runs. */
export function replayCommand(run: {
  readonly scenario: string;
  readonly seed: number;
  readonly duration: number;
  readonly packetSample?: number | undefined;
}): string {
  const packet = run.packetSample === undefined ? '' : ` --packet-sample ${run.packetSample}`;
  return `npm run sim -- --scenario ${shellWord(run.scenario)} --seed ${run.seed} --duration ${run.duration}${packet}`;
}

/** What the machine offers, read from the operating system and V8. */
export function readMachineLimits(): MachineLimits {
  return {
    totalMemoryBytes: os.totalmem(),
    heapLimitBytes: v8.getHeapStatistics().heap_size_limit,
  };
}

/** Parses arguments and runs; returns the exit code. */
export function main(
  argv: readonly string[],
  machine: MachineLimits = readMachineLimits(),
): number {
  try {
    const command = parseCommandLine(argv);
    if (command === null) return 0;
    const plan = planCommand(command, machine);
    return execute(command.options, plan);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${oneLine(error.message)}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

/** Says what a large run will take (one too large was refused unless allowed). */
function announce(options: CliOptions, plan: Exclude<Plan, { kind: 'list' }>): void {
  if (plan.verdict.kind === 'too-large') {
    process.stderr.write(
      `estimate: ${describeEstimate(plan.estimate)}; ${plan.verdict.reason}, running because of ${ALLOW_LARGE_FLAG}\n`,
    );
  } else if (plan.verdict.kind === 'large' && !options.quiet) {
    process.stderr.write(`estimate: ${describeEstimate(plan.estimate)}\n`);
  }
}

function execute(options: CliOptions, plan: Plan): number {
  if (plan.kind === 'list') {
    process.stdout.write(
      `${[
        ...describeBuiltinScenarios(),
        `${'swarm-<n>'.padEnd(16)} the randomised configuration --swarm draws for seed n (its duration ${SWARM_DURATION_SECONDS} s unless --duration is given)`,
      ].join('\n')}\n`,
    );
    return 0;
  }
  announce(options, plan);
  if (plan.kind === 'swarm') return swarm(options, plan.count, plan.duration);
  if (plan.kind === 'compare') return compare(options, plan.scenario, plan.other);
  const scenario = plan.scenario;
  if (plan.kind === 'determinism') return determinism(options, scenario);
  const { report } = runScenario({
    scenario,
    seed: options.seed,
    ...(options.duration === undefined ? {} : { durationSeconds: options.duration }),
    ...progress(options, scenario),
  });
  const replay = replayCommand({
    scenario: options.scenario,
    seed: options.seed,
    duration: report.simulatedSeconds,
    packetSample: options.packetSample,
  });
  writeOutputs(options, report, replay);
  if (options.json !== true) {
    process.stdout.write(
      options.quiet ? `trace hash ${report.traceHash}\n` : `${renderTerminal(report, replay)}\n`,
    );
  }
  if (report.invariants.total > 0) return EXIT_FAILED;
  const missed = Object.values(report.latency).some((level) => level.met === false);
  return options.failOnMiss === true && missed ? EXIT_MISSED : 0;
}

function determinism(options: CliOptions, scenario: Scenario): number {
  const result = checkDeterminism(
    {
      scenario,
      seed: options.seed,
      ...(options.duration === undefined ? {} : { durationSeconds: options.duration }),
    },
    options.hashEvery,
  );
  if (result.identical) {
    process.stdout.write(
      `deterministic: two runs of seed ${options.seed}, ${result.events} events, trace hash ${result.firstHash}\n`,
    );
    return 0;
  }
  const lines = [
    `NOT deterministic: seed ${options.seed} gave ${result.firstHash} then ${result.secondHash}`,
    result.divergence === null
      ? '  no divergent event found in the hash log'
      : `  first divergent event #${result.divergence.event}:\n    first run:  ${result.divergence.first}\n    second run: ${result.divergence.second}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT_FAILED;
}

/** The first line of a swarm case's failure (a crash's message without its stack). */
function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}

/** One line per swarm seed: what happened, the trace hash and the command that replays it. */
export function swarmLine(c: SwarmCase, duration: number, packetSample?: number): string {
  const outcome = c.failure === null ? 'ok' : firstLine(c.failure);
  const run =
    c.report === null ? '' : ` (${c.report.events} events, trace hash ${c.report.traceHash})`;
  return `seed ${c.seed}: ${outcome}${run}; replay: ${swarmReplay(c.seed, duration, packetSample)}`;
}

function swarmReplay(seed: number, duration: number, packetSample?: number): string {
  return replayCommand({ scenario: `swarm-${seed}`, seed, duration, packetSample });
}

function swarm(options: CliOptions, count: number, duration: number): number {
  const outcome = runSwarm(
    count,
    options.seed,
    duration,
    (c) => {
      if (!options.quiet || c.failure !== null)
        process.stdout.write(`${swarmLine(c, duration, options.packetSample)}\n`);
    },
    (scenario) => withFlags(options, scenario),
  );
  const { failures } = outcome;
  process.stdout.write(`swarm: ${outcome.passed}/${count} seeds passed\n`);
  for (const failure of failures) {
    process.stdout.write(
      `FAILED seed ${failure.seed}: ${firstLine(failure.failure ?? '')}\n  replay: ${swarmReplay(failure.seed, duration, options.packetSample)}\n`,
    );
    if (failure.report === null) {
      const stack = (failure.failure ?? '').split('\n').slice(1, 6);
      for (const frame of stack) process.stdout.write(`  ${frame.trim()}\n`);
    }
    for (const violation of failure.report?.invariants.first.slice(0, 3) ?? []) {
      process.stdout.write(
        `  ${violation.invariant} at ${violation.entity}: ${violation.message}\n`,
      );
    }
    if (failure.report !== null) reportShrunk(failure.scenario, failure.seed, failure.report);
  }
  return failures.length === 0 ? 0 : EXIT_FAILED;
}

/** Shrinks a failing swarm case and writes the smallest failing scenario for replay. */
function reportShrunk(scenario: Scenario, seed: number, report: RunReport): void {
  const shrunk = shrinkScenario(scenario, seed, sameInvariantsFail(report));
  const file = `reports/swarm/seed-${seed}.min.json`;
  mkdirSync(dirname(file), { recursive: true });
  writeOutput(file, `${JSON.stringify(shrunk.scenario, null, 2)}\n`);
  const s = shrunk.scenario;
  process.stdout.write(
    `  shrunk in ${shrunk.runs} runs to ${s.faults.length} faults, ${s.workload.concurrentMeetings} meetings, ${s.durationSeconds}s: ${replayCommand({ scenario: file, seed, duration: s.durationSeconds })}\n`,
  );
}

function writeOutputs(options: CliOptions, report: RunReport, replay: string): void {
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (options.json === true) process.stdout.write(json);
  else if (typeof options.json === 'string') writeOutput(options.json, json);
  if (options.html !== undefined) writeOutput(options.html, renderHtml(report, replay));
}

/**
 * Writes an output file whose path was checked before the run; the project's `reports/` is the
 * one directory created for it.
 */
function writeOutput(path: string, content: string): void {
  try {
    const parent = dirname(resolve(path));
    if (parent === reportsDirectory(process.cwd()) && statOrNull(parent) === null)
      mkdirSync(parent);
    writeFileSync(path, content);
  } catch (error) {
    throw new UsageError(`cannot write ${path}: ${(error as Error).message}`);
  }
}

/** A progress bar on stderr, only on a terminal and only when not quiet. */
function progress(
  options: CliOptions,
  scenario: Scenario,
): { onProgress?: (now: Micros, end: Micros) => void } {
  if (options.quiet || !process.stderr.isTTY) return {};
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'simulating [{bar}] {percentage}% | {value}/{total} virtual s',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const total = options.duration ?? scenario.durationSeconds;
  bar.start(Math.round(total), 0);
  return {
    onProgress: (now, end) => {
      bar.update(Math.round(now / 1_000_000));
      if (now >= end) bar.stop();
    },
  };
}

/** Runs two scenarios with the same seed and duration and prints them side by side. */
function compare(options: CliOptions, scenario: Scenario, other: Scenario): number {
  const duration = options.duration ?? scenario.durationSeconds;
  const run = (s: Scenario) =>
    runScenario({ scenario: s, seed: options.seed, durationSeconds: duration }).report;
  const first = run(scenario);
  const second = run(other);
  process.stdout.write(`${renderComparison(first, second)}\n`);
  return first.invariants.total + second.invariants.total === 0 ? 0 : EXIT_FAILED;
}
