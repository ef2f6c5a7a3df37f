/**
 * `npm run load:quic -- <scenario>`: a QUIC load run against Media Handlers on loopback
 * (loadtest/quic/load.ts), from a scenario file (loadtest/quic/scenario.ts) or the name of one
 * in loadtest/quic/scenarios/. Writes reports/load-quic-<name>.json and .html.
 *
 *   npm run load:quic -- basic                    # starts its own handlers (needs Redis)
 *   npm run load:quic -- overload                 # drives a handler past 80 %
 *   MH_ROUTE_TOKEN=... npm run load:quic -- basic \
 *     --target id=mh-1,quic=127.0.0.1:4435,sha256=<hex>,grpc=127.0.0.1:50053,metrics=http://127.0.0.1:9084
 *
 * Exit status: 0 done, 2 bad usage or a scenario too large for the machine (nothing started).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { assertLoopback, startHandlers, targetHandlers, type HandlerSet } from './handlers.ts';
import { runLoad, type LoadResult } from './load.ts';
import { renderLoadHtml, renderLoadSummary } from './report.ts';
import { describeLoadScenarioError, loadPlanFrom, type LoadPlan } from './scenario.ts';

export const SCENARIO_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url));

/** Reads a scenario by name (scenarios/<name>.yaml) or path; a typed error as one line. */
export function readLoadScenario(
  nameOrFile: string,
): { ok: true; plan: LoadPlan } | { ok: false; message: string } {
  const file = existsSync(nameOrFile) ? nameOrFile : join(SCENARIO_DIR, `${nameOrFile}.yaml`);
  let data: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    data = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    return {
      ok: false,
      message: `cannot read load scenario ${nameOrFile}: ${(error as Error).message.split('\n')[0]}`,
    };
  }
  const plan = loadPlanFrom(data, file);
  return plan.ok
    ? { ok: true, plan: plan.value }
    : { ok: false, message: describeLoadScenarioError(file, plan.error) };
}

/** Starts the handlers a run needs (or connects to the given ones). */
export async function handlersFor(plan: LoadPlan, targets: readonly string[]): Promise<HandlerSet> {
  if (targets.length > 0) {
    if (targets.length !== plan.handlers) {
      throw new Error(
        `the scenario has ${plan.handlers} handlers; ${targets.length} --target given`,
      );
    }
    return targetHandlers(targets);
  }
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  assertLoopback(new URL(redisUrl).hostname);
  return startHandlers({
    count: plan.handlers,
    capacityBps: plan.capacityBps,
    region: plan.region,
    redisUrl,
  });
}

/** Writes the JSON and HTML reports; returns their paths. */
export function writeReports(result: LoadResult, json: string, html: string): void {
  for (const [path, body] of [
    [json, `${JSON.stringify(result, null, 2)}\n`],
    [html, renderLoadHtml(result)],
  ] as const) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, body);
  }
}

async function main(): Promise<void> {
  const program = new Command()
    .name('load:quic')
    .argument(
      '<scenario>',
      'a scenario name in loadtest/quic/scenarios (basic, overload, smoke) or a file',
    )
    .option(
      '--target <spec>',
      'a running handler: id=,quic=host:port,sha256=hex,grpc=host:port,metrics=url (repeat per handler)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option(
      '--kill <handler@seconds>',
      'kill handler N (1-based) at that second (handlers the run started)',
    )
    .option('--json <file>', 'JSON report (default reports/load-quic-<name>.json)')
    .option('--html <file>', 'HTML report (default reports/load-quic-<name>.html)')
    .option('--quiet', 'no progress bar')
    .exitOverride();
  try {
    program.parse();
  } catch {
    process.exit(2);
  }
  const opts = program.opts<{
    target: string[];
    kill?: string;
    json?: string;
    html?: string;
    quiet?: boolean;
  }>();
  const read = readLoadScenario(program.args[0] as string);
  if (!read.ok) {
    console.error(read.message);
    process.exit(2);
  }
  const plan = read.plan;
  let kill: { handler: number; atSeconds: number } | undefined;
  if (opts.kill !== undefined) {
    const match = /^(\d+)@(\d+(?:\.\d+)?)$/.exec(opts.kill);
    const handler = Number(match?.[1]) - 1;
    const atSeconds = Number(match?.[2]);
    if (
      match === null ||
      handler < 0 ||
      handler >= plan.handlers ||
      atSeconds >= plan.durationSeconds ||
      opts.target.length > 0
    ) {
      console.error(
        `--kill ${opts.kill}: expected N@seconds, N a handler of the run (1-${plan.handlers}) it started, before ${plan.durationSeconds} s`,
      );
      process.exit(2);
    }
    kill = { handler, atSeconds };
  }
  const handlers = await handlersFor(plan, opts.target);
  const bar = opts.quiet
    ? undefined
    : new cliProgress.SingleBar(
        {
          format:
            ' {bar} {value}/{total} s | sessions {sessions} | sent {sent} | received {received} | max util {util} %',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
  bar?.start(plan.durationSeconds, 0, { sessions: 0, sent: 0, received: 0, util: 0 });
  let result: LoadResult;
  try {
    result = await runLoad({
      plan,
      handlers,
      ...(kill === undefined ? {} : { kill }),
      onProgress: (p) =>
        bar?.update(Math.floor(p.elapsedSeconds), {
          sessions: p.sessions,
          sent: p.sent,
          received: p.received,
          util: (100 * p.maxUtilisation).toFixed(1),
        }),
    });
  } finally {
    bar?.update(plan.durationSeconds);
    bar?.stop();
    await handlers.close();
  }
  const json = opts.json ?? `reports/load-quic-${plan.name}.json`;
  const html = opts.html ?? `reports/load-quic-${plan.name}.html`;
  writeReports(result, json, html);
  console.log(renderLoadSummary(result));
  console.log(`reports: ${json}, ${html}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error((error as Error).message);
    process.exit(1);
  });
}
