/**
 * `npm run load:compare -- <scenario>`: the same scenario in the simulator, on the loopback
 * model (sim/scenario/loopback.ts: one region, 50 us hops, no jitter or loss, service times
 * calibrated on this machine), and against the local stack it starts (AC, GC, a Meeting
 * Controller and the scenario's Media Handlers on loopback; loadtest/quic/stack-run.ts), with
 * members joining through the controller with the Node client library. Prints predicted
 * against measured with the difference in per cent and the model parameter behind each row
 * over 10 %; writes reports/load-compare-<name>.json (the rows, the model, both runs) and
 * reports/load-compare-<name>.html.
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
import { predict, type Prediction } from './predict.ts';
import { readLoadScenario } from './run.ts';
import type { LoadPlan } from './scenario.ts';
import { runAgainstStack, type StackResult } from './stack-run.ts';

/** What reports/load-compare-<name>.json holds. */
export interface ComparisonReport {
  readonly scenario: string;
  readonly tolerancePercent: number;
  readonly within: number;
  readonly rows: readonly ComparisonRow[];
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

/** Runs both sides of the comparison for `plan`; the report and the rendered table. */
export async function compare(
  plan: LoadPlan,
  options: { readonly onProgress?: (line: string) => void } = {},
): Promise<ComparisonReport> {
  const prediction = predict(plan);
  options.onProgress?.(
    `simulated ${plan.durationSeconds} s in ${prediction.report.wallSeconds} s (seed 1, loopback model); now the local stack (${plan.durationSeconds} s)...`,
  );
  const measured = await runAgainstStack(plan, options);
  const rows = comparisonRows(plan, prediction, measured);
  return {
    scenario: plan.name,
    tolerancePercent: EXPLAIN_OVER_PERCENT,
    within: rows.filter((r) => r.within).length,
    rows,
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
      `Predicted: the simulator, seed ${report.predicted.seed}, loopback model, trace hash ${report.predicted.traceHash}.`,
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
  const name = process.argv[2];
  if (name === undefined || name.startsWith('-')) {
    console.error(
      'usage: npm run load:compare -- <scenario name in loadtest/quic/scenarios or file>',
    );
    return 2;
  }
  const read = readLoadScenario(name);
  if (!read.ok) {
    console.error(read.message);
    return 2;
  }
  const report = await compare(read.plan, { onProgress: (line) => console.log(line) });
  console.log(renderComparisonRows(read.plan.name, report.rows));
  const load = report.measured.loadAverage;
  console.log(
    `machine load average (1 min) ${load.atStart} at the first join, ${load.atEnd} at the end`,
  );
  const json = `reports/load-compare-${read.plan.name}.json`;
  const html = `reports/load-compare-${read.plan.name}.html`;
  writeComparison(report, json, html);
  console.log(`reports: ${json}, ${html}`);
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
