/**
 * `npm run load:compare -- <scenario>`: the same scenario in the simulator (its network made
 * loopback by the scenario: one region, microsecond access links, no jitter or loss) and as a
 * QUIC load run against local handlers; prints predicted against measured with the difference
 * in per cent and the model parameter behind each difference over 10 %. Writes
 * reports/load-compare-<name>.json (both reports and the rows).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runScenario } from '../../sim/run.ts';
import { comparisonRows, renderComparisonRows } from './compare-rows.ts';
import { runLoad } from './load.ts';
import { renderLoadSummary } from './report.ts';
import { handlersFor, readLoadScenario } from './run.ts';

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
  const plan = read.plan;
  const predicted = runScenario({ scenario: plan.scenario, seed: 1 }).report;
  console.log(
    `simulated ${plan.durationSeconds} s in ${predicted.wallSeconds} s (seed 1); now the load run (${plan.durationSeconds} s)...`,
  );
  const handlers = await handlersFor(plan, []);
  let measured;
  try {
    measured = await runLoad({ plan, handlers });
  } finally {
    await handlers.close();
  }
  const rows = comparisonRows(plan, predicted, measured);
  console.log(renderLoadSummary(measured));
  console.log('');
  console.log(renderComparisonRows(plan.name, rows));
  const file = `reports/load-compare-${plan.name}.json`;
  mkdirSync('reports', { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify({ scenario: plan.name, rows, predicted, measured }, null, 2)}\n`,
  );
  console.log(`report: ${file}`);
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
