/**
 * `npm run load:compare -- <scenario> [--calibration <file>] [--runs <n>]`: the same scenario in the
 * simulator, on the loopback model (sim/scenario/loopback.ts: one region, 50 us hops, no jitter
 * or loss, service times from a calibration), and against the local stack it starts (AC, GC, a
 * Meeting Controller and the scenario's Media Handlers on loopback; loadtest/quic/stack-run.ts),
 * with members joining through the controller with the Node client library.
 *
 * In order: the stack starts; the calibration (loadtest/quic/calibrate.ts: single operations
 * on the idle stack and a short media run of its own) measures the unit costs, or a file from
 * `npm run load:calibrate` gives them; the simulator predicts the scenario from them; then the
 * scenario runs on the stack. Prints predicted against measured with the difference in per
 * cent and the model parameter behind each row over 10 %; writes
 * reports/load-compare-<name>.json (the rows, the calibration, the model, both runs),
 * reports/load-compare-<name>.html and reports/loopback-calibration.json.
 *
 * The simulator predicts under `--seeds n` seeds (default 9, about 0.2 s each) and each row's
 * predicted value is their median: one seed is one draw of the model's random phases and
 * service times over the scenario's few joins, as one run is of the stack's.
 *
 * With `--runs n` (2 to 5) the whole comparison (stack, calibration, prediction under seeds of
 * its own, scenario) runs n times, one after another, and the rows printed and written last
 * take them together (`pooledRows`): a join or forwarding row is each side's percentile over
 * every run's samples, any other row the run whose difference is the median of the runs' (a
 * run's prediction pairs with its own measurement); each run's own rows are kept in the JSON
 * under `runs`.
 *
 * Exit status: 0 done, 2 bad usage or a scenario too large for the machine (nothing started).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderPredictedMeasuredHtml } from '../../sim/report/predicted-measured.ts';
import {
  comparisonRows,
  pooledRows,
  EXPLAIN_OVER_PERCENT,
  renderComparisonRows,
  type ComparisonRow,
  type ComparisonRun,
} from './compare-rows.ts';
import {
  calibrateOnStack,
  readCalibration,
  writeCalibration,
  CALIBRATION_PATH,
  type CalibrationReport,
} from './calibrate.ts';
import { predict, type Prediction } from './predict.ts';
import { readLoadScenario } from './run.ts';
import type { LoopbackCalibration } from '../../sim/scenario/loopback.ts';
import type { LoadPlan } from './scenario.ts';
import { runAgainstStack, type StackResult } from './stack-run.ts';

/** What reports/load-compare-<name>.json holds. */
export interface ComparisonReport {
  readonly scenario: string;
  readonly tolerancePercent: number;
  readonly within: number;
  readonly rows: readonly ComparisonRow[];
  /** The unit costs the model was built from (measured before the scenario, or read). */
  readonly calibration:
    CalibrationReport | { readonly calibration: LoopbackCalibration; readonly readFrom: string };
  /** The simulator's side: the loopback model it ran with, its report and its failover. */
  readonly predicted: {
    /** The first seed's: its trace hash, model, report and failover are the ones kept. */
    readonly seed: number;
    /** Every seed the rows' predicted values are the median over. */
    readonly seeds: readonly number[];
    readonly traceHash: string;
    readonly network: Prediction['scenario']['network'];
    readonly serviceTimes: Prediction['scenario']['serviceTimes'];
    readonly joinStages: Prediction['report']['joinStages'];
    readonly failover: Prediction['failover'];
    readonly report: Prediction['report'];
  };
  readonly measured: StackResult;
}

/** What reports/load-compare-<name>.json holds after `--runs n`: the runs and their median. */
export interface RepeatedComparisonReport {
  readonly scenario: string;
  readonly tolerancePercent: number;
  readonly within: number;
  /**
   * Each row over the runs (`pooledRows`): the join and forwarding rows pooled over every run's
   * samples, the others the run whose difference is the median.
   */
  readonly rows: readonly ComparisonRow[];
  readonly runs: readonly ComparisonReport[];
}

/** Most runs `--runs` takes: each is a whole comparison (about a minute for `basic`). */
export const MAX_RUNS = 5;
/** Seeds the simulator predicts each run under unless `--seeds` says (about 0.2 s each). */
export const PREDICTION_SEEDS = 9;
/** Most seeds `--seeds` takes. */
export const MAX_SEEDS = 32;

/**
 * Runs both sides of the comparison for `plan`: the calibration on the stack (unless
 * `calibration` is given, read from a file), the simulator's prediction from it, the scenario
 * on the stack.
 */
export async function compare(
  plan: LoadPlan,
  options: {
    readonly onProgress?: (line: string) => void;
    readonly calibration?: { readonly calibration: LoopbackCalibration; readonly readFrom: string };
    /**
     * The simulator's seeds (default [1]): it predicts under each, and each row's predicted
     * value is their median (`comparisonRows`).
     */
    readonly seeds?: readonly number[];
  } = {},
): Promise<{ readonly report: ComparisonReport; readonly predictions: readonly Prediction[] }> {
  const say = options.onProgress ?? (() => undefined);
  let calibration: ComparisonReport['calibration'] | undefined = options.calibration;
  let predictions: Prediction[] = [];
  const seeds = options.seeds === undefined || options.seeds.length === 0 ? [1] : options.seeds;
  const measured = await runAgainstStack(plan, {
    onProgress: say,
    beforeScenario: async (stack) => {
      calibration ??= await calibrateOnStack(stack, plan, say);
      const model = calibration.calibration;
      predictions = seeds.map((seed) => predict(plan, model, seed, stack.names));
      const wall = predictions.reduce((sum, p) => sum + p.report.wallSeconds, 0);
      say(
        `simulated ${plan.durationSeconds} s under ${seedsText(seeds)} in ${wall.toFixed(3)} s (calibrated loopback model); now the scenario on the stack (${plan.durationSeconds} s)...`,
      );
    },
  });
  const prediction = predictions[0];
  if (prediction === undefined || calibration === undefined)
    throw new Error('the stack stopped before the prediction');
  const rows = comparisonRows(plan, predictions, measured, calibration.calibration);
  const report: ComparisonReport = {
    scenario: plan.name,
    tolerancePercent: EXPLAIN_OVER_PERCENT,
    within: rows.filter((r) => r.within).length,
    rows,
    calibration,
    predicted: {
      seed: prediction.report.seed,
      seeds: [...seeds],
      traceHash: prediction.report.traceHash,
      network: prediction.scenario.network,
      serviceTimes: prediction.scenario.serviceTimes,
      joinStages: prediction.report.joinStages,
      failover: prediction.failover,
      report: prediction.report,
    },
    measured,
  };
  return { report, predictions };
}

function seedsText(seeds: readonly number[]): string {
  return seeds.length === 1
    ? `seed ${seeds[0]}`
    : `${seeds.length} seeds (${seeds[0]}-${seeds[seeds.length - 1]})`;
}

/** Writes the JSON and the HTML of a comparison; returns their paths. */
export function writeComparison(report: ComparisonReport, json: string, html: string): void {
  const page = renderPredictedMeasuredHtml({
    title: `Dark Tower: simulator vs local stack, ${report.scenario}`,
    about: [
      `Predicted: the simulator, ${seedsText(report.predicted.seeds)} (each row the median over them; the model, trace hash and report of seed ${report.predicted.seed}), loopback model calibrated ${report.calibration.calibration.measuredAt} (load average ${report.calibration.calibration.loadAverage}; ${'readFrom' in report.calibration ? `read from ${report.calibration.readFrom}` : report.calibration.calibration.source}), trace hash ${report.predicted.traceHash}.`,
      `Measured: AC, GC, a Meeting Controller and ${report.measured.handlers.length} Media Handlers on loopback, started ${report.measured.startedAt}, ${report.measured.wallSeconds} s; ${report.measured.joins.joined} of ${report.measured.joins.attempted} members joined through the controller; machine load average ${report.measured.loadAverage.atStart} at the first join, ${report.measured.loadAverage.atEnd} at the end.`,
    ],
    tolerancePercent: report.tolerancePercent,
    rows: report.rows,
    model: modelRows(report.predicted),
  });
  writeReportFiles(json, `${JSON.stringify(report, null, 2)}\n`, html, page);
}

/** The loopback model a prediction ran with, a parameter a row (the last run's, for repeats). */
function modelRows(
  predicted: ComparisonReport['predicted'] | undefined,
): { parameter: string; value: string | number }[] {
  if (predicted === undefined) return [];
  return Object.entries({
    ...Object.fromEntries(Object.entries(predicted.network).map(([k, v]) => [`network.${k}`, v])),
    ...Object.fromEntries(
      Object.entries(predicted.serviceTimes).map(([k, v]) => [`serviceTimes.${k}`, v]),
    ),
  }).map(([parameter, value]) => ({
    parameter,
    value: typeof value === 'number' ? value : JSON.stringify(value),
  }));
}

function writeReportFiles(json: string, jsonBody: string, html: string, page: string): void {
  for (const [path, body] of [
    [json, jsonBody],
    [html, page],
  ] as const) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, body);
  }
}

/** Writes the JSON and the HTML of repeated runs (`pooledRows`). */
export function writeRepeatedComparison(
  report: RepeatedComparisonReport,
  json: string,
  html: string,
): void {
  const page = renderPredictedMeasuredHtml({
    title: `Dark Tower: simulator vs local stack, ${report.scenario}, ${report.runs.length} runs`,
    about: [
      `Each run is a whole comparison (its own stack, calibration, prediction under seeds of its own and scenario), one after another. The join and forwarding rows pool the ${report.runs.length} runs: each side's percentile over every run's joins (measured) or every run's seeds (predicted), and the handlers' histograms merged. The other rows (utilisation, members, failover: one value a run) are the run whose difference is the median (a run's prediction pairs with its own measurement).`,
      ...report.runs.map(
        (run, k) =>
          `Run ${k + 1}: ${run.within} of ${run.rows.length} rows within ${run.tolerancePercent} %; ${seedsText(run.predicted.seeds)}, trace hash ${run.predicted.traceHash} (seed ${run.predicted.seed}); machine load average ${run.measured.loadAverage.atStart}-${run.measured.loadAverage.atEnd}; ${run.measured.failover?.members ?? 0} members on the killed handler (${run.predicted.failover?.members ?? 0} in the simulator).`,
      ),
    ],
    tolerancePercent: report.tolerancePercent,
    rows: report.rows,
    model: modelRows(report.runs[report.runs.length - 1]?.predicted),
  });
  writeReportFiles(json, `${JSON.stringify(report, null, 2)}\n`, html, page);
}

/** The command line: the scenario, then `--calibration <file>` and `--runs <n>` in any order. */
export function parseCompareArguments(args: readonly string[]):
  | {
      readonly ok: true;
      readonly name: string;
      readonly calibration?: string;
      readonly runs: number;
      readonly seeds: number;
    }
  | { readonly ok: false } {
  const [name, ...rest] = args;
  if (name === undefined || name.startsWith('-')) return { ok: false };
  let calibration: string | undefined;
  let runs = 1;
  let seeds = PREDICTION_SEEDS;
  const given = new Set<string>();
  for (let i = 0; i < rest.length; i += 2) {
    const flag = rest[i] as string;
    const value = rest[i + 1];
    if (value === undefined || given.has(flag)) return { ok: false };
    given.add(flag);
    const count = /^[1-9]\d*$/.test(value) ? Number(value) : NaN;
    if (flag === '--calibration') calibration = value;
    else if (flag === '--runs' && count <= MAX_RUNS) runs = count;
    else if (flag === '--seeds' && count <= MAX_SEEDS) seeds = count;
    else return { ok: false };
  }
  return { ok: true, name, runs, seeds, ...(calibration === undefined ? {} : { calibration }) };
}

async function main(): Promise<number> {
  const usage = `usage: npm run load:compare -- <scenario name in loadtest/quic/scenarios or file> [--calibration <file from npm run load:calibrate>] [--runs <1-${MAX_RUNS}>] [--seeds <1-${MAX_SEEDS}>, default ${PREDICTION_SEEDS}]`;
  const args = parseCompareArguments(process.argv.slice(2));
  if (!args.ok) {
    console.error(usage);
    return 2;
  }
  let given: { readonly calibration: LoopbackCalibration; readonly readFrom: string } | undefined;
  if (args.calibration !== undefined) {
    try {
      given = { calibration: readCalibration(args.calibration), readFrom: args.calibration };
    } catch (error) {
      console.error((error as Error).message);
      return 2;
    }
  }
  const read = readLoadScenario(args.name);
  if (!read.ok) {
    console.error(read.message);
    return 2;
  }
  const runs: ComparisonReport[] = [];
  const pooling: ComparisonRun[] = [];
  for (let k = 1; k <= args.runs; k++) {
    if (args.runs > 1) console.log(`run ${k} of ${args.runs}`);
    const { report, predictions } = await compare(read.plan, {
      onProgress: (line) => console.log(line),
      // Run k predicts under seeds of its own: (k - 1) * n + 1 to k * n.
      seeds: Array.from({ length: args.seeds }, (_, i) => (k - 1) * args.seeds + i + 1),
      ...(given === undefined ? {} : { calibration: given }),
    });
    console.log(renderComparisonRows(read.plan.name, report.rows));
    const load = report.measured.loadAverage;
    console.log(
      `machine load average (1 min) ${load.atStart} at the first join, ${load.atEnd} at the end`,
    );
    runs.push(report);
    pooling.push({
      rows: report.rows,
      predictions,
      measured: report.measured,
      calibration: report.calibration.calibration,
    });
  }
  const json = `reports/load-compare-${read.plan.name}.json`;
  const html = `reports/load-compare-${read.plan.name}.html`;
  const last = runs[runs.length - 1] as ComparisonReport;
  if (runs.length === 1) {
    writeComparison(last, json, html);
  } else {
    const rows = pooledRows(read.plan, pooling);
    console.log(
      `of ${runs.length} runs: the join and forwarding rows pooled, the others the run of median difference:`,
    );
    console.log(renderComparisonRows(read.plan.name, rows));
    writeRepeatedComparison(
      {
        scenario: read.plan.name,
        tolerancePercent: EXPLAIN_OVER_PERCENT,
        within: rows.filter((r) => r.within).length,
        rows,
        runs,
      },
      json,
      html,
    );
  }
  if ('samples' in last.calibration) writeCalibration(last.calibration, CALIBRATION_PATH);
  console.log(
    `reports: ${json}, ${html}${'samples' in last.calibration ? `, ${CALIBRATION_PATH}` : ''}`,
  );
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error((error as Error).message);
      process.exit(1);
    },
  );
}
