/**
 * Browser join to first frame, pooled over several runs of the suite's join tests (the
 * three-browser join and the leave-and-rejoin test, client/web/e2e/join.spec.ts): one run gives
 * five joins, too few for a p99 or to tell two versions apart on this shared machine (the
 * medians of two identical builds differ by up to 30 ms at 20 joins). Each round runs the two
 * tests against the built client (client/web/dist) and its own services, then reads the joins
 * from reports/browser-join.json; the percentiles of every join and stage are taken over all
 * rounds' joins (`summary`, client/web/e2e/join-report.ts).
 *
 * With `--against <git-rev>`, the revision's page is built in a temporary worktree and the
 * rounds alternate between this tree's page and the revision's (ABBA order, so a drift in the
 * machine's speed falls on both alike), each served with this tree's services and suite; the
 * report gives both and their ratios (this tree over the revision: below 1 is faster).
 *
 * Writes reports/bench-browser-join.json (or bench-browser-join-against-<commit>.json).
 *
 * Run: npm run bench:browser-join -- [rounds] [--against <git-rev>]   (4 rounds unless given)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { summary, type JoinSample } from '../client/web/e2e/join-report.ts';
import { benchEnvironment, benchStart, round3 } from './measure.ts';
import { checkout, commitOf, git, uncommittedChanges, withWorktree } from './worktree.ts';

const TESTS = 'three browsers|leaves and joins again';
const REPORTS = path.join(checkout, 'reports');

type Page = 'current' | 'revision';

interface Round {
  readonly round: number;
  readonly page: Page;
  readonly loadAverageBefore: number;
  readonly wallSeconds: number;
  readonly joins: readonly JoinSample[];
  /** Its joins' summary (`summary`). */
  readonly summary: ReturnType<typeof summary>;
}

function usage(): never {
  process.stderr.write(
    'usage: npm run bench:browser-join -- [rounds (1 to 50)] [--against <git-rev>]\n',
  );
  process.exit(2);
}

/** One run of the join tests with the page in `root` (this tree's build when undefined). */
function runOnce(round: number, page: Page, root: string | undefined): Round {
  const start = benchStart();
  const loadAverageBefore = start.loadAverage[0] ?? 0;
  const run = spawnSync(
    'npx',
    ['playwright', 'test', '-c', 'client/web/playwright.config.ts', '-g', TESTS],
    {
      cwd: checkout,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: root === undefined ? process.env : { ...process.env, DARK_TOWER_WEB_ROOT: root },
    },
  );
  if (run.status !== 0) {
    process.stderr.write(
      `round ${round} (${page}): the join tests failed (npm run test:browser tells why)\n`,
    );
    process.exit(1);
  }
  const report = JSON.parse(readFileSync(path.join(REPORTS, 'browser-join.json'), 'utf8')) as {
    samples: JoinSample[];
  };
  const joins = report.samples.filter((j) => !j.reconnect && !j.alone);
  const wallSeconds = round3((performance.now() - start.startedAt) / 1000);
  const one = summary(joins);
  process.stderr.write(
    `round ${round} ${page}: ${joins.length} joins, p50 ${one.p50_ms} ms, after login p50 ` +
      `${one.platform_after_login_p50_ms} ms (load ${loadAverageBefore}, ${wallSeconds} s)\n`,
  );
  return { round, page, loadAverageBefore, wallSeconds, joins, summary: one };
}

function pooled(rounds: readonly Round[]) {
  return {
    rounds: rounds.map((r) => ({
      round: r.round,
      loadAverageBefore: r.loadAverageBefore,
      wallSeconds: r.wallSeconds,
      joins: r.joins.length,
      p50_ms: r.summary.p50_ms,
      platform_after_login_p50_ms: r.summary.platform_after_login_p50_ms,
    })),
    joins: summary(rounds.flatMap((r) => r.joins)),
    samples: rounds.flatMap((r) => r.joins),
  };
}

const ratio = (a: number | null, b: number | null) =>
  a === null || b === null || b === 0 ? null : round3(a / b);

function main(): void {
  const args = process.argv.slice(2);
  let rounds = 4;
  let against: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--against') {
      against = args[++i];
      if (against === undefined) usage();
    } else {
      rounds = Number(args[i]);
      if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) usage();
    }
  }
  const started = benchStart();
  const header = () => ({
    ...benchEnvironment('browser-join', started),
    measured:
      'join to first remote frame decoded (ms) of the join tests, pooled over the rounds; ' +
      'reports/browser-join.json says what each field is',
    commit: git(['rev-parse', 'HEAD']),
    uncommittedChanges: uncommittedChanges(),
  });
  mkdirSync(REPORTS, { recursive: true });
  if (against === undefined) {
    const done = Array.from({ length: rounds }, (_, i) => runOnce(i + 1, 'current', undefined));
    const out = path.join(REPORTS, 'bench-browser-join.json');
    const result = { ...header(), ...pooled(done) };
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify({ ...result, samples: undefined }, null, 2)}\n`);
    process.stderr.write(`written to ${out}\n`);
    return;
  }
  const commit = commitOf(against);
  const dist = mkdtempSync(path.join(os.tmpdir(), 'browser-join-revision-'));
  const done: Round[] = [];
  try {
    withWorktree('browser-join-against-', commit, (tree) => {
      execFileSync(
        'npx',
        [
          'vite',
          'build',
          '--config',
          'client/web/vite.config.ts',
          '--outDir',
          dist,
          '--emptyOutDir',
        ],
        { cwd: tree, stdio: ['ignore', 'ignore', 'inherit'] },
      );
    });
    for (let i = 0; i < rounds; i++) {
      const order: Page[] = i % 2 === 0 ? ['current', 'revision'] : ['revision', 'current'];
      for (const page of order)
        done.push(runOnce(i + 1, page, page === 'current' ? undefined : dist));
    }
  } finally {
    rmSync(dist, { recursive: true, force: true });
  }
  const current = pooled(done.filter((r) => r.page === 'current'));
  const revision = pooled(done.filter((r) => r.page === 'revision'));
  const a = current.joins;
  const b = revision.joins;
  const result = {
    ...header(),
    revision: { rev: against, commit },
    /** This tree's page over the revision's: below 1 is faster. */
    ratios: {
      p50: ratio(a.p50_ms, b.p50_ms),
      p99: ratio(a.p99_ms, b.p99_ms),
      platform_after_login_p50: ratio(a.platform_after_login_p50_ms, b.platform_after_login_p50_ms),
      platform_after_login_p99: ratio(a.platform_after_login_p99_ms, b.platform_after_login_p99_ms),
    },
    current,
    revisionPage: revision,
  };
  const out = path.join(REPORTS, `bench-browser-join-against-${commit.slice(0, 7)}.json`);
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ ...result, current: a, revisionPage: b }, null, 2)}\n`);
  process.stderr.write(`written to ${out}\n`);
}

main();
