/**
 * Predicted (the simulator) against measured (the QUIC load run) for one scenario, row by row,
 * with the difference in per cent and, where it is over 10 %, the model parameter that explains
 * it. Pure: the two reports in, rows out.
 */
import type { RunReport } from '../../sim/report/summary.ts';
import type { LoadResult } from './load.ts';
import type { LoadPlan } from './scenario.ts';
import { differencePercent, histogramPercentile, type Buckets } from './stats.ts';

/** A difference past this (per cent) is explained. */
export const EXPLAIN_OVER_PERCENT = 10;

export interface ComparisonRow {
  readonly name: string;
  readonly unit: string;
  readonly predicted: number | null;
  readonly measured: number | null;
  readonly differencePercent: number | null;
  /** Why the two differ (set when over 10 %, or when one side cannot be measured). */
  readonly explanation: string | null;
}

/** Every handler's forwarding buckets added together (they share bounds). */
export function mergeBuckets(all: readonly Buckets[]): Buckets {
  const first = all.find((b) => b.bounds.length > 0);
  if (first === undefined) return { bounds: [], cumulative: [] };
  const cumulative = first.bounds.map((_, i) =>
    all.reduce(
      (sum, b) => sum + (b.bounds.length === first.bounds.length ? (b.cumulative[i] ?? 0) : 0),
      0,
    ),
  );
  return { bounds: first.bounds, cumulative };
}

const ms = (seconds: number | null) => (seconds === null ? null : seconds * 1000);

/** The rows of the comparison. */
export function comparisonRows(
  plan: LoadPlan,
  predicted: RunReport,
  measured: LoadResult,
): ComparisonRow[] {
  const scenario = plan.scenario;
  const forwarding = mergeBuckets(measured.handlers.map((h) => h.forwardingBuckets));
  const e2e = measured.endToEndLatencyUs;
  const handlerMeans = measured.handlers.map((h) => h.utilisation.meanPercent);
  const measuredMean = handlerMeans.reduce((a, b) => a + b, 0) / Math.max(1, handlerMeans.length);
  const measuredMax = Math.max(0, ...measured.handlers.map((h) => h.utilisation.maxPercent));
  const accessMs = scenario.network.clientAccessMs;
  const forwardingMs = scenario.serviceTimes.forwardingMs;
  const rows: Omit<ComparisonRow, 'differencePercent' | 'explanation'>[] = [
    {
      name: 'forwarding latency p50',
      unit: 'ms',
      predicted: predicted.latency.forwarding.p50Ms,
      measured: ms(histogramPercentile(forwarding, 50)),
    },
    {
      name: 'forwarding latency p99',
      unit: 'ms',
      predicted: predicted.latency.forwarding.p99Ms,
      measured: ms(histogramPercentile(forwarding, 99)),
    },
    {
      name: 'media path (end to end) p50',
      unit: 'ms',
      predicted: predicted.latency.mediaPath.p50Ms,
      measured: e2e.count === 0 ? null : e2e.p50 / 1000,
    },
    {
      name: 'media path (end to end) p99',
      unit: 'ms',
      predicted: predicted.latency.mediaPath.p99Ms,
      measured: e2e.count === 0 ? null : e2e.p99 / 1000,
    },
    {
      name: 'handler utilisation mean',
      unit: '%',
      predicted: predicted.utilisation.meanPercent,
      measured: round(measuredMean),
    },
    {
      name: 'handler utilisation max',
      unit: '%',
      predicted: predicted.utilisation.maxPercent,
      measured: measuredMax,
    },
    {
      name: 'sessions admitted',
      unit: '',
      predicted: predicted.joins.admitted,
      measured: measured.sessions.accepted,
    },
    {
      name: 'sessions redirected',
      unit: '',
      predicted: predicted.joins.redirected,
      measured: measured.sessions.redirectsFollowed + measured.sessions.redirectedMidMeeting,
    },
    {
      name: 'sessions refused',
      unit: '',
      predicted: predicted.joins.rejected,
      measured: Object.values(measured.sessions.refused).reduce((a, b) => a + b, 0),
    },
    {
      name: 'join-to-media p99',
      unit: 'ms',
      predicted: predicted.latency.joinToMedia.p99Ms,
      measured: null,
    },
    { name: 'failover time after a handler kill', unit: 's', predicted: null, measured: null },
  ];
  return rows.map((row) => {
    const difference = differencePercent(row.predicted, row.measured);
    return {
      ...row,
      differencePercent: difference === null ? null : round(difference),
      explanation: explain(row.name, row.predicted, row.measured, difference, {
        accessMs,
        forwardingMs,
        plan,
        admittedPredicted: predicted.joins.admitted,
        admittedMeasured: measured.sessions.accepted,
      }),
    };
  });
}

function explain(
  name: string,
  predicted: number | null,
  measured: number | null,
  difference: number | null,
  model: {
    accessMs: number;
    forwardingMs: number;
    plan: LoadPlan;
    admittedPredicted: number;
    admittedMeasured: number;
  },
): string | null {
  if (name.startsWith('join-to-media')) {
    return 'not measured: joins go through the Meeting Controller stack (AC token, GC lookup, MC signaling); the load client mints connection tokens itself';
  }
  if (name.startsWith('failover')) {
    return "not measured: rerouting after a handler dies is the Meeting Controller's (its handler view and replan); without it the load run can only count the streams lost";
  }
  if (difference === null || Math.abs(difference) <= EXPLAIN_OVER_PERCENT) {
    return predicted !== null && measured !== null && predicted === 0 && measured !== 0
      ? 'the simulator predicts none'
      : null;
  }
  const m = measured as number;
  if (name.startsWith('forwarding')) {
    return `serviceTimes.forwardingMs (${model.forwardingMs} ms, one constant per handler): the handler measures ${m.toFixed(3)} ms from arrival to last send; set forwardingMs near it for this machine`;
  }
  if (name.startsWith('media path')) {
    return `network.clientAccessMs (${model.accessMs} ms each way) + serviceTimes.forwardingMs model the wire and the handler only; measured end to end adds the clients' QUIC stacks and the load process's event loop (${m.toFixed(3)} ms here, on a machine shared with other work), which the model has no parameter for`;
  }
  if (name.startsWith('handler utilisation')) {
    if (model.admittedPredicted !== model.admittedMeasured) {
      return `admission, not the load per stream: the simulator admitted ${model.admittedPredicted} sessions, the load run ${model.admittedMeasured} (see the sessions rows); media.streamKbps x legs is the same on both sides`;
    }
    return `placement: the simulator's controller places meetings with core's planner (co-location, 80 % limit, load bands), the load run by load.placement (${model.plan.placement}); media.streamKbps x legs is the same on both sides, so the difference is where the meetings went`;
  }
  if (name.startsWith('sessions')) {
    return `admission: the simulator admits at the controller, which plans only on handlers it has a load report from (core/mc/handlers.ts; reports every second), so a join before the first report is refused "no room in the routing plan"; the load run asks the handlers directly (core's admission on the handler's last report). workload.joinSpreadSeconds and load.rampSeconds against the 1 s report interval decide how many joins come that early`;
  }
  return null;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The rows as a table for the terminal. */
export function renderComparisonRows(name: string, rows: readonly ComparisonRow[]): string {
  const cell = (value: number | null, unit: string) =>
    value === null
      ? '-'
      : `${Number.isInteger(value) ? value : value.toFixed(3)}${unit === '' ? '' : ` ${unit}`}`;
  const lines = [
    `Predicted (simulator) vs measured (QUIC load run): ${name}`,
    `${''.padEnd(38)}${'predicted'.padStart(14)}${'measured'.padStart(14)}  difference`,
  ];
  const notes: string[] = [];
  for (const row of rows) {
    const difference =
      row.differencePercent === null
        ? ''
        : `${row.differencePercent >= 0 ? '+' : ''}${row.differencePercent.toFixed(0)}%`;
    const mark = row.explanation === null ? '' : ` [${notes.length + 1}]`;
    if (row.explanation !== null) notes.push(row.explanation);
    lines.push(
      `${row.name.padEnd(38)}${cell(row.predicted, row.unit).padStart(14)}${cell(row.measured, row.unit).padStart(14)}  ${difference}${mark}`,
    );
  }
  notes.forEach((note, i) => lines.push(`  [${i + 1}] ${note}`));
  return lines.join('\n');
}
