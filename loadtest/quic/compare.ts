/**
 * `npm run load:compare -- <scenario> [--calibration <file>]`: the same scenario in the
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
 * Exit status: 0 done, 2 bad usage or a scenario too large for the machine (nothing started).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderPredictedMeasuredHtml } from '../../sim/report/predicted-measured.ts';
import {
  comparisonRows,
  EXPLAIN_OVER_PERCENT,
  renderComparisonRows,
  type ComparisonRow,
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
    readonly seed: number;
    readonly traceHash: string;
    readonly network: Prediction['scenario']['network'];
    readonly serviceTimes: Prediction['scenario']['serviceTimes'];
    readonly joinStages: Prediction['report']['joinStages'];
    readonly failover: Prediction['failover'];
    readonly report: Prediction['report'];
  };
  readonly measured: StackResult;
}

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
  } = {},
): Promise<ComparisonReport> {
  const say = options.onProgress ?? (() => undefined);
  let calibration: ComparisonReport['calibration'] | undefined = options.calibration;
  let prediction: Prediction | undefined;
  const measured = await runAgainstStack(plan, {
    onProgress: say,
    beforeScenario: async (stack) => {
      calibration ??= await calibrateOnStack(stack, plan, say);
      prediction = predict(plan, calibration.calibration);
      say(
        `simulated ${plan.durationSeconds} s in ${prediction.report.wallSeconds} s (seed 1, calibrated loopback model); now the scenario on the stack (${plan.durationSeconds} s)...`,
      );
    },
  });
  if (prediction === undefined || calibration === undefined)
    throw new Error('the stack stopped before the prediction');
  const rows = comparisonRows(plan, prediction, measured, calibration.calibration);
  return {
    scenario: plan.name,
    tolerancePercent: EXPLAIN_OVER_PERCENT,
    within: rows.filter((r) => r.within).length,
    rows,
    calibration,
    predicted: {
      seed: prediction.report.seed,
      traceHash: prediction.report.traceHash,
      network: prediction.scenario.network,
      serviceTimes: prediction.scenario.serviceTimes,
      joinStages: prediction.report.joinStages,
      failover: prediction.failover,
      report: prediction.report,
    },
    measured,
  };
}

/** Writes the JSON and the HTML of a comparison; returns their paths. */
export function writeComparison(report: ComparisonReport, json: string, html: string): void {
  const page = renderPredictedMeasuredHtml({
    title: `Dark Tower: simulator vs local stack, ${report.scenario}`,
    about: [
      `Predicted: the simulator, seed ${report.predicted.seed}, loopback model calibrated ${report.calibration.calibration.measuredAt} (load average ${report.calibration.calibration.loadAverage}; ${'readFrom' in report.calibration ? `read from ${report.calibration.readFrom}` : report.calibration.calibration.source}), trace hash ${report.predicted.traceHash}.`,
      `Measured: AC, GC, a Meeting Controller and ${report.measured.handlers.length} Media Handlers on loopback, started ${report.measured.startedAt}, ${report.measured.wallSeconds} s; ${report.measured.joins.joined} of ${report.measured.joins.attempted} members joined through the controller; machine load average ${report.measured.loadAverage.atStart} at the first join, ${report.measured.loadAverage.atEnd} at the end.`,
    ],
    tolerancePercent: report.tolerancePercent,
    rows: report.rows,
    model: Object.entries({
      ...Object.fromEntries(
        Object.entries(report.predicted.network).map(([k, v]) => [`network.${k}`, v]),
      ),
      ...Object.fromEntries(
        Object.entries(report.predicted.serviceTimes).map(([k, v]) => [`serviceTimes.${k}`, v]),
      ),
    }).map(([parameter, value]) => ({
      parameter,
      value: typeof value === 'number' ? value : JSON.stringify(value),
    })),
  });
  for (const [path, body] of [
    [json, `${JSON.stringify(report, null, 2)}\n`],
    [html, page],
  ] as const) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, body);
  }
}

async function main(): Promise<number> {
  const [name, ...rest] = process.argv.slice(2);
  const usage =
    'usage: npm run load:compare -- <scenario name in loadtest/quic/scenarios or file> [--calibration <file from npm run load:calibrate>]';
  if (name === undefined || name.startsWith('-')) {
    console.error(usage);
    return 2;
  }
  let given: { readonly calibration: LoopbackCalibration; readonly readFrom: string } | undefined;
  if (rest.length > 0) {
    const file = rest[1];
    if (rest[0] !== '--calibration' || file === undefined || rest.length > 2) {
      console.error(usage);
      return 2;
    }
    try {
      given = { calibration: readCalibration(file), readFrom: file };
    } catch (error) {
      console.error((error as Error).message);
      return 2;
    }
  }
  const read = readLoadScenario(name);
  if (!read.ok) {
    console.error(read.message);
    return 2;
  }
  const report = await compare(read.plan, {
    onProgress: (line) => console.log(line),
    ...(given === undefined ? {} : { calibration: given }),
  });
  console.log(renderComparisonRows(read.plan.name, report.rows));
  const load = report.measured.loadAverage;
  console.log(
    `machine load average (1 min) ${load.atStart} at the first join, ${load.atEnd} at the end`,
  );
  const json = `reports/load-compare-${read.plan.name}.json`;
  const html = `reports/load-compare-${read.plan.name}.html`;
  writeComparison(report, json, html);
  if ('samples' in report.calibration) writeCalibration(report.calibration, CALIBRATION_PATH);
  console.log(
    `reports: ${json}, ${html}${'samples' in report.calibration ? `, ${CALIBRATION_PATH}` : ''}`,
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
