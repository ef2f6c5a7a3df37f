/**
 * The simulator's steady state against another revision, in one sitting: builds the revision
 * in a temporary git worktree (its node_modules a link to this checkout's), bundles the same
 * runner (bench/sim-steady.ts, copied in) in both trees with the project's esbuild bundling,
 * then alternates rounds of that run between this tree and the revision (ABBA order, so a
 * drift in the machine's speed falls on both alike). Each run is a fresh process running the
 * ADR baseline for 80 simulated seconds; the figure is the CPU seconds of simulated seconds 40
 * to 80. Writes reports/bench-sim-against-<revision>.json with every run, the medians and the
 * ratio (this tree over the revision: below 1 is faster).
 *
 * Run: npm run bench:sim:against -- <git-rev> [rounds]   (4 rounds unless given)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SteadyRun } from './sim-steady.ts';
import { checkout, commitOf, git, uncommittedChanges, withWorktree } from './worktree.ts';

const RUNNER = 'bench/sim-steady.ts';
const NODE_FLAGS = ['--max-semi-space-size=128'];

interface Run extends SteadyRun {
  readonly tree: 'current' | 'revision';
  readonly round: number;
  readonly loadAverageBefore: number;
}

/**
 * Bundles the runner of `tree` to `out` (outside the checkout's .build, which other work may
 * rebuild while the rounds run).
 */
function bundle(tree: string, out: string): void {
  execFileSync(process.execPath, [path.join(checkout, 'scripts/bundle.mjs'), RUNNER, out], {
    cwd: tree,
    stdio: 'inherit',
  });
}

function runOnce(tree: string, bundled: string): SteadyRun {
  const line = execFileSync(process.execPath, [...NODE_FLAGS, bundled], {
    cwd: tree,
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(line) as SteadyRun;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;

function main(): void {
  const [revArg, roundsArg] = process.argv.slice(2);
  const rounds = roundsArg === undefined ? 4 : Number(roundsArg);
  if (revArg === undefined || !Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write('usage: npm run bench:sim:against -- <git-rev> [rounds]\n');
    process.exit(2);
  }
  const commit = commitOf(revArg);
  const head = git(['rev-parse', 'HEAD']);
  const dirty = uncommittedChanges();
  const runs: Run[] = [];
  withWorktree('sim-against-', commit, (tree) => {
    mkdirSync(path.join(tree, 'bench'), { recursive: true });
    copyFileSync(path.join(checkout, RUNNER), path.join(tree, RUNNER));
    const bundles = {
      current: path.join(tree, '.build', 'sim-steady-current.mjs'),
      revision: path.join(tree, '.build', 'sim-steady-revision.mjs'),
    };
    bundle(checkout, bundles.current);
    bundle(tree, bundles.revision);
    const trees = { current: checkout, revision: tree } as const;
    for (let i = 0; i < rounds; i++) {
      const order: (keyof typeof trees)[] =
        i % 2 === 0 ? ['current', 'revision'] : ['revision', 'current'];
      for (const which of order) {
        const loadAverageBefore = round3(os.loadavg()[0] ?? 0);
        const run = runOnce(trees[which], bundles[which]);
        runs.push({ tree: which, round: i + 1, loadAverageBefore, ...run });
        process.stderr.write(
          `round ${i + 1} ${which}: steady ${run.steadyState.cpuSeconds} CPU-s, ` +
            `${run.steadyState.events} events, join storm ${run.joinStorm.cpuSeconds} CPU-s ` +
            `(load ${loadAverageBefore})\n`,
        );
      }
    }
  });
  const of = (which: Run['tree']) => runs.filter((run) => run.tree === which);
  const summary = (list: readonly Run[]) => ({
    steadyCpuSecondsMedian: round3(median(list.map((run) => run.steadyState.cpuSeconds))),
    steadyCpuSeconds: list.map((run) => run.steadyState.cpuSeconds),
    steadySimulatedSecondsPerCpuSecondMedian: round3(
      median(list.map((run) => run.steadyState.simulatedSecondsPerCpuSecond)),
    ),
    steadyEvents: list[0]?.steadyState.events ?? 0,
    joinStormCpuSecondsMedian: round3(median(list.map((run) => run.joinStorm.cpuSeconds))),
    traceHash: list[0]?.traceHash ?? '',
  });
  const current = summary(of('current'));
  const revision = summary(of('revision'));
  const perRoundRatios = Array.from({ length: rounds }, (_, i) => {
    const a = runs.find((run) => run.round === i + 1 && run.tree === 'current');
    const b = runs.find((run) => run.round === i + 1 && run.tree === 'revision');
    return a === undefined || b === undefined
      ? null
      : round3(a.steadyState.cpuSeconds / b.steadyState.cpuSeconds);
  });
  const result = {
    benchmark: 'sim-against',
    measured: 'CPU seconds of simulated seconds 40 to 80 of the ADR baseline (seed 1)',
    machine: { cpus: os.cpus().length, node: process.version },
    current: { head, uncommittedChanges: dirty, ...current },
    revision: { rev: revArg, commit, ...revision },
    /** This tree's steady CPU over the revision's: below 1 is faster. */
    steadyCpuRatio: round3(current.steadyCpuSecondsMedian / revision.steadyCpuSecondsMedian),
    steadyCpuRatioPerRound: perRoundRatios,
    steadyCpuRatioPerRoundMedian: round3(
      median(perRoundRatios.filter((ratio): ratio is number => ratio !== null)),
    ),
    joinStormCpuRatio: round3(
      current.joinStormCpuSecondsMedian / revision.joinStormCpuSecondsMedian,
    ),
    runs,
  };
  mkdirSync(path.join(checkout, 'reports'), { recursive: true });
  const out = path.join(checkout, 'reports', `bench-sim-against-${commit.slice(0, 7)}.json`);
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ ...result, runs: undefined }, null, 2)}\n`);
  process.stderr.write(`written to ${out}\n`);
}

main();
