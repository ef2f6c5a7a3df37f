/**
 * MLS benchmark: a meeting's group grown to 20 members one join at a time through the
 * controller's delivery-service machine with real ts-mls clients in one process (every member
 * processes every commit, each joiner joins from its welcome), against a baseline timed in
 * alternating rounds: the same 20 key packages added by one committer alone, nobody else
 * processing, the last joiner joining from the last welcome. Reports the median over rounds of
 * the total, where the time goes (key packages, commits, processing, joins) and the load
 * average, since this machine is shared. Writes reports/bench-mls.json.
 *
 * Run: npx tsx bench/mls.bench.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { unwrap } from '../core/result.ts';
import { MlsClient } from '../adapters/mls/client.ts';
import { InProcessMeeting } from '../adapters/mls/testing.ts';

const MEMBERS = 20;
const ROUNDS = 5;

const spent = { keyPackages: 0, commits: 0, processing: 0, joins: 0 };
type Phase = keyof typeof spent;

function timed<A extends unknown[], R>(
  phase: Phase,
  f: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  return async function (this: unknown, ...args: A) {
    const start = performance.now();
    try {
      return await f.apply(this, args);
    } finally {
      spent[phase] += performance.now() - start;
    }
  };
}

const proto = MlsClient.prototype;
const originalCreate = MlsClient.create.bind(MlsClient);
MlsClient.create = timed('keyPackages', originalCreate);
proto.commit = timed('commits', proto.commit);
proto.processCommit = timed('processing', proto.processCommit);
proto.joinFromWelcome = timed('joins', proto.joinFromWelcome);

async function grow(round: number): Promise<number> {
  const start = performance.now();
  const m = new InProcessMeeting(`bench-${round}`);
  for (let i = 0; i < MEMBERS; i++) await m.join(`m${i}`);
  const keys = await m.keys();
  if (new Set([...keys.values()].map((k) => k.join(','))).size !== 1)
    throw new Error('keys differ');
  return performance.now() - start;
}

async function committerOnly(round: number): Promise<number> {
  const start = performance.now();
  const first = await MlsClient.create('c0');
  unwrap(await first.createGroup(new TextEncoder().encode(`baseline-${round}`)));
  let last: MlsClient = first;
  let welcome: Uint8Array | undefined;
  for (let i = 1; i < MEMBERS; i++) {
    last = await MlsClient.create(`c${i}`);
    const made = unwrap(await first.commit({ adds: [last.keyPackage], removes: [] }));
    unwrap(await first.processCommit(made.commit));
    welcome = made.welcome;
  }
  unwrap(await last.joinFromWelcome(welcome ?? new Uint8Array()));
  const a = unwrap(await first.sframeBaseKey());
  const b = unwrap(await last.sframeBaseKey());
  if (a.join(',') !== b.join(',')) throw new Error('keys differ');
  return performance.now() - start;
}

const median = (xs: readonly number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

await grow(-1);
await committerOnly(-1);
const groupMs: number[] = [];
const baselineMs: number[] = [];
const ratios: number[] = [];
for (const key of Object.keys(spent) as Phase[]) spent[key] = 0;
const phases: (typeof spent)[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const b = await committerOnly(round);
  const before = { ...spent };
  const g = await grow(round);
  phases.push({
    keyPackages: spent.keyPackages - before.keyPackages,
    commits: spent.commits - before.commits,
    processing: spent.processing - before.processing,
    joins: spent.joins - before.joins,
  });
  groupMs.push(g);
  baselineMs.push(b);
  ratios.push(g / b);
}
const round = (x: number) => Math.round(x * 10) / 10;
const report = {
  members: MEMBERS,
  rounds: ROUNDS,
  node: process.version,
  cpus: os.cpus().length,
  loadAverage: os.loadavg().map(round),
  groupGrowthMs: { median: round(median(groupMs)), rounds: groupMs.map(round) },
  committerOnlyBaselineMs: { median: round(median(baselineMs)), rounds: baselineMs.map(round) },
  ratioToBaseline: round(median(ratios)),
  medianRoundPhasesMs: Object.fromEntries(
    (Object.keys(spent) as Phase[]).map((k) => [k, round(median(phases.map((p) => p[k])))]),
  ),
  commitsProcessedByMembers: (MEMBERS * (MEMBERS - 1)) / 2,
};
// In a meeting each member runs on its own device, so one join costs about one commit, one
// member's processing of it and the joiner's welcome, not the sum over members timed above.
const mid = report.medianRoundPhasesMs as Record<Phase, number>;
const perJoinCriticalPathMs = round(
  mid.commits / (MEMBERS - 1) +
    mid.processing / report.commitsProcessedByMembers +
    mid.joins / (MEMBERS - 1),
);
Object.assign(report, { perJoinCriticalPathMs });
mkdirSync('reports', { recursive: true });
writeFileSync('reports/bench-mls.json', `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
