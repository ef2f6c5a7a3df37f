/**
 * Predicted (the simulator on the loopback model) against measured (the local stack) for one
 * scenario, row by row, with the difference in per cent and, where it is over 10 % or one
 * side is missing, the model parameter that explains it. Pure: the prediction and the
 * measurement in, rows out.
 */
import type { PredictedMeasuredRow } from '../../sim/report/predicted-measured.ts';
import type { LatencySummary } from '../../sim/report/summary.ts';
import type { Prediction } from './predict.ts';
import type { LoadPlan } from './scenario.ts';
import type { MeasuredLatency, StackResult } from './stack-run.ts';
import { differencePercent } from './stats.ts';

/** A difference past this (per cent) is explained. */
export const EXPLAIN_OVER_PERCENT = 10;

/** One row of the comparison: the simulator's prediction, the measurement, and why they differ
 * (set when over 10 %, or when one side is missing). */
export type ComparisonRow = PredictedMeasuredRow;

type Row = Pick<ComparisonRow, 'name' | 'unit' | 'predicted' | 'measured'> & {
  /** The model parameter behind this row, for when it is off. */
  readonly off: (predicted: number, measured: number) => string;
  /** Why a side is missing. */
  readonly missing?: string;
};

/** The rows of the comparison. */
export function comparisonRows(
  plan: LoadPlan,
  prediction: Prediction,
  measured: StackResult,
): ComparisonRow[] {
  const { report, scenario } = prediction;
  const times = scenario.serviceTimes;
  const accessMs = scenario.network.clientAccessMs;
  const stage = (name: string): LatencySummary | undefined =>
    report.joinStages.find((s) => s.stage === name)?.latency;
  const p50 = (summary: LatencySummary | undefined) =>
    summary === undefined || summary.count === 0 ? null : summary.p50Ms;
  const tokenStage = p50(stage('token'));
  const joinToMedia = (p: 'p50Ms' | 'p99Ms') =>
    report.latency.joinToMedia.count === 0 || tokenStage === null
      ? null
      : round(report.latency.joinToMedia[p] - tokenStage);
  const m = (latency: MeasuredLatency, p: 'p50Ms' | 'p99Ms' = 'p50Ms') =>
    latency.count === 0 ? null : latency[p];
  const f = (v: number) => v.toFixed(3);
  const rows: Row[] = [
    {
      name: 'join: meeting info (GC lookup) p50',
      unit: 'ms',
      predicted: p50(stage('meeting info')),
      measured: m(measured.stages.meetingInfo),
      off: (_p, x) =>
        `serviceTimes.meetingLookupMs (${times.meetingLookupMs} ms, not calibrated: no benchmark of GC's lookup) + two ${accessMs} ms hops; GC answers in ${f(x)} ms here (HTTP, token check, PostgreSQL)`,
    },
    {
      name: 'join: at the controller p50',
      unit: 'ms',
      predicted: p50(stage('join at controller')),
      measured: m(measured.stages.joinAtController),
      off: (_p, x) =>
        `serviceTimes.joinProcessingMs (${times.joinProcessingMs} ms, from bench:mc one join at a time) + two hops; the measured ${f(x)} ms also holds the signaling WebSocket's opening, which the model has no step for, and the controller's Redis writes under this run's load`,
    },
    {
      name: 'signaling round trip: join p50',
      unit: 'ms',
      predicted: p50(stage('join at controller')),
      measured: m(measured.signalingRoundTrip),
      off: (_p, x) =>
        `serviceTimes.joinProcessingMs (${times.joinProcessingMs} ms, bench:mc one join at a time on an idle controller): JoinRequest to answer takes ${f(x)} ms in this run, with media flowing and the machine shared`,
    },
    {
      name: 'join: media session p50',
      unit: 'ms',
      predicted: p50(stage('media session')),
      measured: m(measured.stages.mediaSession),
      off: (_p, x) =>
        `serviceTimes.mediaConnectMs (${times.mediaConnectMs} ms, bench:mh's CPU per admitted hello) + two hops; the client's connect is a WebSocket upgrade and a hello answered (${f(x)} ms), with the handler's event loop shared with media; the model counts CPU, not the connection's round trips`,
    },
    {
      name: 'join: first frame p50',
      unit: 'ms',
      predicted: p50(stage('first frame')),
      measured: m(measured.stages.firstFrame),
      off: () =>
        `serviceTimes.firstFrameMs (${times.firstFrameMs} ms: one frame interval at media.packetsPerSecond ${plan.datagramsPerSecond}/s); the member's first frame waits for the next frame of any publisher already sending, and the sample is small (members joining while another one publishes)`,
    },
    {
      name: 'join to first frame p50',
      unit: 'ms',
      predicted: joinToMedia('p50Ms'),
      measured: m(measured.joinToFirstFrame),
      off: () =>
        'the sum of the stages above (see them); the token stage is out of both sides (the load clients hold an AC-signed token)',
    },
    {
      name: 'join to first frame p99',
      unit: 'ms',
      predicted: joinToMedia('p99Ms'),
      measured: m(measured.joinToFirstFrame, 'p99Ms'),
      off: () =>
        'the slowest join of a small sample: the model has no queueing or jitter on loopback (network.jitterMs 0), the machine does',
    },
    {
      name: 'forwarding latency p50',
      unit: 'ms',
      predicted: report.latency.forwarding.count === 0 ? null : times.forwardingMs,
      measured: measured.forwarding.p50Ms,
      off: (_p, x) =>
        `serviceTimes.forwardingMs (${times.forwardingMs} ms, bench:mh-ingress's mean inside a running handler, at saturation, WebSocket and UDP ingress): the handler's histogram says ${f(x)} ms here, with the handler's event loop shared with its WebSocket sessions and other processes on two cores. The model has one forwardingMs for every transport and load`,
    },
    {
      name: 'forwarding latency p99',
      unit: 'ms',
      predicted: report.latency.forwarding.count === 0 ? null : times.forwardingMs,
      measured: measured.forwarding.p99Ms,
      off: (_p, x) =>
        `serviceTimes.forwardingMs is one constant: the model has no tail; the handler's p99 (${f(x)} ms) is garbage collection and the event loop shared with the other processes on two cores`,
    },
    {
      name: 'handler utilisation mean',
      unit: '%',
      predicted: report.utilisation.meanPercent,
      measured: measured.utilisation.meanPercent,
      off: () =>
        `when the load arrives: the simulator's members arrive at random over workload.joinSpreadSeconds (${plan.scenario.workload.joinSpreadSeconds} s) after their meeting's random start, the load run's one at a time over the ramp; and media.streamKbps counts the stream's payload rate while a handler counts the bytes it carries`,
    },
    {
      name: 'handler utilisation max',
      unit: '%',
      predicted: report.utilisation.maxPercent,
      measured: measured.utilisation.maxPercent,
      off: () =>
        "placement: which handler carries which meetings before and after the failover (core's planner on both sides, from the handlers' reports; the reports' timing differs)",
    },
    {
      name: 'members joined',
      unit: '',
      predicted: report.joins.admitted,
      measured: measured.joins.joined,
      off: () =>
        `admission: the simulator admitted ${report.joins.admitted} of ${report.joins.attempted}, the stack ${measured.joins.joined} of ${measured.joins.attempted} (failures: ${JSON.stringify(measured.joins.failed)})`,
    },
    {
      name: 'failover after a handler kill (last member back)',
      unit: 'ms',
      predicted: prediction.failover?.maxMs ?? null,
      measured: measured.failover?.maxMs ?? null,
      off: (p, x) =>
        `on both sides the members report their lost media sessions and two reports (core/mc mediaLossReports 2) take the handler for lost; a simulated member notices within a packet interval (20 ms) and a round trip of the kill, and the move's signaling, new session, route commands and first frame take their service times with no queueing (${f(p)} ms here); the stack's members notice the closed connection at once, then open a new connection and wait on processes sharing two cores (${f(x)} ms)`,
      ...(handlerCrashFree(plan) ? { missing: 'the scenario has no handler-crash fault' } : {}),
    },
  ];
  return rows.map((row) => {
    const difference = differencePercent(row.predicted, row.measured);
    const within = difference !== null && Math.abs(difference) <= EXPLAIN_OVER_PERCENT;
    let explanation: string | null = null;
    if (row.predicted === null || row.measured === null) {
      explanation =
        row.missing ??
        `${row.predicted === null ? 'no prediction' : 'not measured'} in this run (too few samples)`;
    } else if (difference === null) {
      explanation =
        row.predicted === row.measured
          ? null
          : `the simulator predicts 0: ${row.off(0, row.measured)}`;
    } else if (!within) {
      explanation = row.off(row.predicted, row.measured);
    }
    return {
      name: row.name,
      unit: row.unit,
      predicted: row.predicted,
      measured: row.measured,
      differencePercent: difference === null ? null : round(difference),
      within: within || (row.predicted !== null && row.predicted === row.measured),
      explanation,
    };
  });
}

function handlerCrashFree(plan: LoadPlan): boolean {
  return !plan.scenario.faults.some((f) => f.kind === 'handler-crash');
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
    `Predicted (simulator, loopback model) vs measured (local stack): ${name}`,
    `${''.padEnd(50)}${'predicted'.padStart(14)}${'measured'.padStart(14)}  difference`,
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
      `${row.name.padEnd(50)}${cell(row.predicted, row.unit).padStart(14)}${cell(row.measured, row.unit).padStart(14)}  ${difference}${row.within ? ' ok' : ''}${mark}`,
    );
  }
  const within = rows.filter((r) => r.within).length;
  lines.push(`${within} of ${rows.length} rows within ${EXPLAIN_OVER_PERCENT} %`);
  notes.forEach((note, i) => lines.push(`  [${i + 1}] ${note}`));
  return lines.join('\n');
}
