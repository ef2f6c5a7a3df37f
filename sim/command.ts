import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { describeBuiltinScenarios } from './scenario/builtin.ts';
import { describeScenarioError, loadScenario } from './scenario/load.ts';
import type { Scenario } from './scenario/schema.ts';
import { runScenario } from './run.ts';
import { checkDeterminism } from './determinism.ts';
import { runSwarm } from './swarm.ts';
import { sameInvariantsFail, shrinkScenario } from './shrink.ts';
import { renderTerminal } from './report/terminal.ts';
import { renderHtml } from './report/html.ts';
import type { RunReport } from './report/summary.ts';
import type { Micros } from './engine/time.ts';

/** Exit codes: 0 all good, 1 a check failed (invariant, determinism, swarm), 2 bad usage. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

interface CliOptions {
  scenario: string;
  seed: number;
  duration?: number;
  json?: string | true;
  html?: string;
  checkDeterminism?: boolean;
  hashEvery: number;
  swarm?: number;
  listScenarios?: boolean;
  packetSample?: number;
  quiet?: boolean;
}

class UsageError extends Error {}

const integer = (name: string, min: number) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min)
    throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return parsed;
};

const positive = (name: string) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new InvalidArgumentError(`${name} must be a positive number`);
  return parsed;
};

const fraction = (value: string) => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 1)
    throw new InvalidArgumentError('must be a fraction in [0, 1]');
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
      'built-in scenario name or a YAML/JSON scenario file',
      'default',
    )
    .option(
      '--seed <n>',
      'run seed (the same seed replays the run exactly)',
      integer('--seed', 0),
      1,
    )
    .option(
      '-d, --duration <seconds>',
      "override the scenario's simulated duration",
      positive('--duration'),
    )
    .option('--json [file]', 'write the report as JSON to a file, or to stdout without one')
    .option('--html <file>', 'write a self-contained HTML report')
    .option(
      '--check-determinism',
      'run twice and compare trace hashes; name the first divergent event',
    )
    .option(
      '--hash-every <events>',
      'hash-log interval for --check-determinism',
      integer('--hash-every', 1),
      1000,
    )
    .option(
      '--swarm <n>',
      'run n seeds from --seed with randomised configurations',
      integer('--swarm', 1),
    )
    .option('--list-scenarios', 'list the built-in scenarios and exit')
    .addOption(
      new Option(
        '--packet-sample <fraction>',
        'fraction of meetings simulated packet by packet',
      ).argParser(fraction),
    )
    .option('-q, --quiet', 'print only the trace hash (and failures)')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
}

/** Parses arguments and runs; returns the exit code. */
export function main(argv: readonly string[]): number {
  const program = buildProgram();
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      return EXIT_USAGE;
    }
    throw error;
  }
  const options = program.opts<CliOptions>();
  try {
    return execute(options);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

function execute(options: CliOptions): number {
  if (options.listScenarios) {
    process.stdout.write(`${describeBuiltinScenarios().join('\n')}\n`);
    return 0;
  }
  if (options.swarm !== undefined) return swarm(options, options.swarm);
  const scenario = resolveScenario(options);
  if (options.checkDeterminism) return determinism(options, scenario);
  const { report } = runScenario({
    scenario,
    seed: options.seed,
    ...(options.duration === undefined ? {} : { durationSeconds: options.duration }),
    ...progress(options, scenario),
  });
  writeOutputs(options, report);
  if (options.json !== true) {
    process.stdout.write(
      options.quiet ? `trace hash ${report.traceHash}\n` : `${renderTerminal(report)}\n`,
    );
  }
  return report.invariants.total === 0 ? 0 : EXIT_FAILED;
}

function resolveScenario(options: CliOptions): Scenario {
  const loaded = loadScenario(options.scenario);
  if (!loaded.ok) throw new UsageError(describeScenarioError(loaded.error));
  const scenario = loaded.value;
  if (options.packetSample === undefined) return scenario;
  return { ...scenario, media: { ...scenario.media, packetSample: options.packetSample } };
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

function swarm(options: CliOptions, count: number): number {
  const duration = options.duration ?? 30;
  const cases = runSwarm(count, options.seed, duration, (c) => {
    if (!options.quiet)
      process.stdout.write(
        `seed ${c.seed}: ${c.failure ?? 'ok'}${c.report ? ` (${c.report.events} events, ${c.report.traceHash.slice(0, 16)})` : ''}\n`,
      );
  });
  const failures = cases.filter((c) => c.failure !== null);
  process.stdout.write(`swarm: ${cases.length - failures.length}/${cases.length} seeds passed\n`);
  for (const failure of failures) {
    process.stdout.write(
      `FAILED seed ${failure.seed}: ${failure.failure?.split('\n')[0]}\n  replay: npm run sim -- --swarm 1 --seed ${failure.seed} --duration ${duration}\n`,
    );
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
  writeFile(file, `${JSON.stringify(shrunk.scenario, null, 2)}\n`);
  const s = shrunk.scenario;
  process.stdout.write(
    `  shrunk in ${shrunk.runs} runs to ${s.faults.length} faults, ${s.workload.concurrentMeetings} meetings, ${s.durationSeconds}s: npm run sim -- --scenario ${file} --seed ${seed}\n`,
  );
}

function writeOutputs(options: CliOptions, report: RunReport): void {
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (options.json === true) process.stdout.write(json);
  else if (typeof options.json === 'string') writeFile(options.json, json);
  if (options.html !== undefined) writeFile(options.html, renderHtml(report));
}

function writeFile(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
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
