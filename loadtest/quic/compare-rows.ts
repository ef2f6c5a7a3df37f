/**
 * Predicted (the simulator on the loopback model) against measured (the local stack) for one
 * scenario, row by row, with the difference in per cent and, where it is over 10 % or one
 * side is missing, the model parameter that explains it. Pure: the prediction and the
 * measurement in, rows out.
 */
import { LatencyRecorder } from '../../sim/report/metrics.ts';
import type { PredictedMeasuredRow } from '../../sim/report/predicted-measured.ts';
import { summariseLatency, type LatencySummary } from '../../sim/report/summary.ts';
import type { LoopbackCalibration } from '../../sim/scenario/loopback.ts';
import type { Prediction } from './predict.ts';
import type { LoadPlan } from './scenario.ts';
import {
  measuredLatency,
  sampledLatency,
  type MeasuredLatency,
  type SampledLatency,
  type StackFailover,
  type StackResult,
} from './stack-run.ts';
import {
  differencePercent,
  histogramPercentile,
  medianOf,
  mergeBuckets,
  secondsToMs,
} from './stats.ts';

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
  /**
   * A percentile of samples (joins, datagrams) on both sides: several runs pool their samples
   * for it (`pooledRows`). The others have one value per run.
   */
  readonly pooled?: true;
};

/**
 * The rows of the comparison. With several predictions (the same model under several seeds),
 * each row's predicted value is their median: one seed's value is one draw of the model's random
 * phases and service times over a handful of joins, as one run's measurement is of the stack's,
 * and the median of a few seeds is the model's own expectation for that row.
 */
export function comparisonRows(
  plan: LoadPlan,
  prediction: Prediction | readonly Prediction[],
  measured: StackResult,
  calibration?: LoopbackCalibration,
): ComparisonRow[] {
  return evaluatedRows(plan, prediction, measured, calibration).map(({ pooled: _, ...row }) => row);
}

function evaluatedRows(
  plan: LoadPlan,
  prediction: Prediction | readonly Prediction[],
  measured: StackResult,
  calibration?: LoopbackCalibration,
): (ComparisonRow & { readonly pooled: boolean })[] {
  const predictions: readonly Prediction[] = Array.isArray(prediction)
    ? prediction
    : [prediction as Prediction];
  const each = predictions.map((p) => rowDefinitions(plan, p, measured, calibration));
  const rows = (each[0] ?? []).map((row, i) => ({
    ...row,
    predicted: medianOrNull(each.map((defs) => defs[i]?.predicted ?? null)),
  }));
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
      pooled: row.pooled === true,
    };
  });
}

/** Each row of the comparison for one prediction. */
function rowDefinitions(
  plan: LoadPlan,
  prediction: Prediction,
  measured: StackResult,
  calibration?: LoopbackCalibration,
): Row[] {
  const { report, scenario } = prediction;
  const times = scenario.serviceTimes;
  const accessMs = scenario.network.clientAccessMs + scenario.network.intraRegionMs;
  const roundTripMs = 2 * accessMs;
  const connect = times.signalingConnect;
  const connectMs = connect === undefined ? 0 : connect.roundTrips * roundTripMs + connect.cpuMs;
  const handshakeRoundTrips = times.mediaHandshakeRoundTrips ?? 0;
  const stage = (name: string): LatencySummary | undefined =>
    report.joinStages.find((s) => s.stage === name)?.latency;
  const p50 = (summary: LatencySummary | undefined) =>
    summary === undefined || summary.count === 0 ? null : summary.p50Ms;
  const tokenStage = p50(stage('token'));
  const joinToMedia = (p: 'p50Ms' | 'p99Ms') =>
    report.latency.joinToMedia.count === 0 || tokenStage === null
      ? null
      : round(report.latency.joinToMedia[p] - tokenStage);
  const atController = p50(stage('join at controller'));
  const m = (latency: MeasuredLatency, p: 'p50Ms' | 'p99Ms' = 'p50Ms') =>
    latency.count === 0 ? null : latency[p];
  const f = (v: number) => v.toFixed(3);
  const lag = (l: { readonly p50Ms: number; readonly p99Ms: number } | null | undefined) =>
    l === null || l === undefined ? 'not measured' : `p50 ${f(l.p50Ms)} / p99 ${f(l.p99Ms)} ms`;
  const load = `machine load average ${measured.loadAverage.atStart}-${measured.loadAverage.atEnd} during the scenario${calibration === undefined ? '' : `, ${calibration.loadAverage} at the calibration`}; the load process's own event-loop delay during the joins ${lag(measured.joinsEventLoopLag)}${calibration === undefined ? '' : `, ${lag(calibration.joinsEventLoopLag)} in the calibration's`}`;
  const idle = (what: keyof LoopbackCalibration) =>
    calibration === undefined ? 'not calibrated' : `${calibration[what] as number} ms idle`;
  const byLoad = calibration?.forwardingByLoad;
  const forwardingFrom =
    times.forwardingByLoad !== undefined
      ? `serviceTimes.forwardingByLoad, the calibration's media run by handler load (${(byLoad ?? []).map((p) => `${f(p.medianMs)} ms at ${(p.utilisation * 100).toFixed(0)} %`).join(', ') || `${times.forwardingByLoad.length} loads`}), one draw per datagram at its handler's load`
      : times.forwardingDistribution === undefined
        ? `one constant, serviceTimes.forwardingMs ${times.forwardingMs} ms`
        : `serviceTimes.forwardingDistribution, the calibration's media run (median ${times.forwardingMs} ms), one draw per datagram`;
  const rows: Row[] = [
    {
      name: 'join: meeting info (GC lookup) p50',
      unit: 'ms',
      pooled: true,
      predicted: p50(stage('meeting info')),
      measured: m(measured.stages.meetingInfo),
      off: (_p, x) =>
        `serviceTimes.meetingLookupMs (${times.meetingLookupMs} ms: the calibration's lookup, ${idle('meetingLookupMs')}, less a ${roundTripMs} ms round trip); GC answers in ${f(x)} ms in the scenario (HTTP, token check, PostgreSQL; AC and GC share the load run's process), ${load}`,
    },
    {
      name: 'join: at the controller p50',
      unit: 'ms',
      pooled: true,
      predicted: atController,
      measured: m(measured.stages.joinAtController),
      off: (_p, x) =>
        connect === undefined
          ? `serviceTimes.joinProcessingMs (${times.joinProcessingMs} ms) + two hops; the measured ${f(x)} ms also holds the signaling WebSocket's opening, which this model has no step for`
          : `serviceTimes.signalingConnect (${connect.roundTrips} round trips + ${connect.cpuMs} ms CPU: the WebSocket's opening, ${idle('signalingOpenMs')}) + serviceTimes.joinProcessingMs (${times.joinProcessingMs} ms: the JoinRequest's round trip, ${idle('joinRoundTripMs')}), queued at the controller; ${f(x)} ms in the scenario, with media flowing through processes that share the cores (${load}): the model queues requests behind requests, not behind the media the processes also carry`,
    },
    {
      name: 'signaling round trip: join p50',
      unit: 'ms',
      pooled: true,
      predicted: atController === null ? null : round(atController - connectMs),
      measured: m(measured.signalingRoundTrip),
      off: (_p, x) =>
        `serviceTimes.joinProcessingMs (${times.joinProcessingMs} ms: the calibration's JoinRequest round trip, ${idle('joinRoundTripMs')}, one join at a time): ${f(x)} ms in the scenario; the controller's own time on each (mc_join_seconds) ${measured.controllerJoinMs === null ? 'not read' : `${f(measured.controllerJoinMs)} ms`} in the scenario${calibration?.controllerJoinMs === undefined ? '' : `, ${f(calibration.controllerJoinMs)} ms in the calibration`}, of which its meeting lookup at GC (mc_meeting_lookup_seconds) ${measured.controllerLookupMs === null ? 'not read' : `${f(measured.controllerLookupMs)} ms`} in the scenario${calibration?.controllerLookupMs === undefined ? '' : `, ${f(calibration.controllerLookupMs)} ms in the calibration`}; the controller's event loop shared with the members' signaling and the machine with the media (${load})`,
    },
    {
      name: 'join: media session p50',
      unit: 'ms',
      pooled: true,
      predicted: p50(stage('media session')),
      measured: m(measured.stages.mediaSession),
      off: (_p, x) =>
        handshakeRoundTrips === 0
          ? `serviceTimes.mediaConnectMs (${times.mediaConnectMs} ms) + two hops: the model has no step for the WebSocket's handshake (${f(x)} ms measured)`
          : `serviceTimes.mediaHandshakeRoundTrips (${handshakeRoundTrips}: TCP and the WebSocket upgrade, ${roundTripMs} ms each) + serviceTimes.mediaConnectMs (${times.mediaConnectMs} ms: the handler's CPU for the upgrade, the Ed25519 token check and admission, from the calibration's ${idle('mediaSessionMs')}) + the hello's round trip; ${f(x)} ms in the scenario, the handler's event loop busy forwarding the media of the members before (${load})`,
    },
    {
      name: 'join: first frame p50',
      unit: 'ms',
      pooled: true,
      predicted: p50(stage('first frame')),
      measured: m(measured.stages.firstFrame),
      off: () =>
        `serviceTimes.firstFrameMs (${times.firstFrameMs} ms: one frame interval at media.packetsPerSecond ${plan.datagramsPerSecond}/s, a uniform wait in it); the member's first frame waits for the next frame of any publisher already sending (the least of several phases), and the sample is small (members joining while another one publishes)`,
    },
    {
      name: 'join to first frame p50',
      unit: 'ms',
      pooled: true,
      predicted: joinToMedia('p50Ms'),
      measured: m(measured.joinToFirstFrame),
      off: () =>
        'the sum of the stages above (see them); the token stage is out of both sides (the load clients hold an AC-signed token)',
    },
    {
      name: 'join to first frame p99',
      unit: 'ms',
      pooled: true,
      predicted: joinToMedia('p99Ms'),
      measured: m(measured.joinToFirstFrame, 'p99Ms'),
      off: () =>
        `the slowest join of a small sample: the model queues joins that overlap (serviceTimes.queueing) but has no other jitter on loopback (network.jitterMs 0); ${load}`,
    },
    {
      name: 'forwarding latency p50',
      unit: 'ms',
      pooled: true,
      predicted: report.latency.forwarding.count === 0 ? null : report.latency.forwarding.p50Ms,
      measured: measured.forwarding.p50Ms,
      off: (_p, x) =>
        `${forwardingFrom}: the handlers' histogram says ${f(x)} ms in the scenario, with more sessions per handler than the calibration's run and the processes sharing two cores (${load})`,
    },
    {
      name: 'forwarding latency p99',
      unit: 'ms',
      pooled: true,
      predicted: report.latency.forwarding.count === 0 ? null : report.latency.forwarding.p99Ms,
      measured: measured.forwarding.p99Ms,
      off: (_p, x) =>
        `${forwardingFrom}: its tail (garbage collection, the event loop shared with other processes) is ${f(x)} ms in the scenario; the histogram's buckets are coarse there (0.1-0.25-0.5 ms), so a few datagrams move the p99 across a whole bucket (${load})`,
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
        `the failover's chain in the model (${f(p)} ms, ${prediction.failover?.members ?? 0} members on the killed handler): the kill noticed ${times.mediaLossNotice === 'connection-close' ? `once the killed process's host has freed it and closed its connections (serviceTimes.processTeardownMs ${times.processTeardownMs ?? 0} ms${calibration?.processTeardownMs === undefined ? '' : ", a killed process holding the handlers' memory in the calibration"}), one hop later` : 'at the next packet'} (serviceTimes.mediaLossNotice ${times.mediaLossNotice ?? 'next-packet'}), each member's loss report to the controller (serviceTimes.connectionReportMs ${times.connectionReportMs ?? times.joinProcessingMs / 2} ms${calibration === undefined ? '' : `: the calibration's report to move, ${calibration.lossReportMs} ms idle, one at a time`}${times.queueing === true ? ', queued' : ''}), the handler taken for lost at the second report (core/mc mediaLossReports) and the meetings replanned, each move's connection token signed after the one before (serviceTimes.moveTokenMs ${times.moveTokenMs ?? 0} ms${calibration?.moveTokenMs === undefined ? '' : ', a batch signed at once in the calibration'}), route commands to the live handler (serviceTimes.routeCommandMs ${times.routeCommandMs} ms of the handler's work, ${calibration?.routeCommandMs === undefined ? 'not calibrated' : "the handlers' own time on the calibration's route commands"}${calibration?.routeCallMs === undefined ? '' : `; the calibration's route call took ${calibration.routeCallMs} ms idle as the controller sees it, mostly gRPC and the controller's own event loop`}), every member's new media session queued at that handler (${handshakeRoundTrips} handshake round trips + mediaConnectMs ${times.mediaConnectMs} ms each${times.queueing === true ? ', one at a time' : ''}${calibration === undefined ? '' : `; a move's new session took ${calibration.moveSessionMs} ms idle`}), then its publishers' next frame (up to ${times.firstFrameMs} ms); measured ${f(x)} ms (${measured.failover?.members ?? 0} members${measuredChain(measured.failover)}): the members reconnect at once while the live handler forwards the others' media, on processes sharing two cores (${load})`,
      ...(handlerCrashFree(plan) ? { missing: 'the scenario has no handler-crash fault' } : {}),
    },
  ];
  return rows;
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

/** The measured failover's chain by stage: medians over its members, ms from the kill. */
function measuredChain(failover: StackFailover | null | undefined): string {
  if (failover === null || failover === undefined) return '';
  const medianOf = (values: readonly (number | null | undefined)[]): number | null =>
    measuredLatency(values.filter((v): v is number => typeof v === 'number')).p50Ms;
  const stages = [
    ['noticed the loss', medianOf(failover.noticedMs)],
    ['told to move', medianOf(failover.told.map((t) => t[0]?.ms))],
    ['new session up', medianOf(failover.moves.map((m) => m[0]?.ms))],
    ['first frame there', medianOf(failover.killToFirstFrameMs)],
  ] as const;
  const known = stages.filter(([, ms]) => ms !== null);
  // What its host had to free before closing its connections (teardown.ts).
  const held =
    failover.residentBytes === null
      ? ''
      : `; the killed handler held ${(failover.residentBytes / 2 ** 20).toFixed(0)} MiB at its last scrape${failover.exitedMs === null || failover.exitedMs === undefined ? '' : ` and its exit reached its parent ${failover.exitedMs.toFixed(3)} ms after the kill`}`;
  if (known.length === 0) return held;
  const ms3 = (ms: number | null) => (ms ?? 0).toFixed(3);
  return `; medians from the kill: ${known.map(([stage, ms]) => `${stage} ${ms3(ms)} ms`).join(', ')}${held}`;
}

/**
 * The rows of several runs of one comparison as one. Each run's prediction comes from its own
 * calibration, taken on the machine of that minute, so it pairs with that run's measurement
 * alone: each row is the run whose difference is the median of the runs' (for an even count,
 * the two middle runs' predicted and measured values averaged), its difference recomputed, and
 * a row off by more than 10 % keeps that run's explanation, followed by the difference in each
 * run. (Medians of the two columns taken apart would set one run's prediction against another
 * run's measurement.) Runs without both values are left out; a row none of them has keeps the
 * medians of what they have.
 */
export function combineRuns(runs: readonly (readonly ComparisonRow[])[]): ComparisonRow[] {
  const first = runs[0];
  if (first === undefined) return [];
  return first.map((template, index) => {
    const each = runs.map((rows) => rows[index] as ComparisonRow);
    const paired = each
      .filter((r) => r.predicted !== null && r.measured !== null && r.differencePercent !== null)
      .sort((a, b) => (a.differencePercent as number) - (b.differencePercent as number));
    let predicted: number | null;
    let measured: number | null;
    let middle: ComparisonRow | undefined;
    if (paired.length === 0) {
      predicted = medianOrNull(each.map((r) => r.predicted));
      measured = medianOrNull(each.map((r) => r.measured));
      middle = each.find((r) => r.explanation !== null);
    } else {
      const low = paired[Math.floor((paired.length - 1) / 2)] as ComparisonRow;
      const high = paired[Math.floor(paired.length / 2)] as ComparisonRow;
      predicted = round(((low.predicted as number) + (high.predicted as number)) / 2);
      measured = round(((low.measured as number) + (high.measured as number)) / 2);
      middle = high.explanation !== null ? high : low;
    }
    const difference = differencePercent(predicted, measured);
    const within =
      (difference !== null && Math.abs(difference) <= EXPLAIN_OVER_PERCENT) ||
      (predicted !== null && predicted === measured);
    let explanation: string | null = null;
    if (!within) {
      const perRun = runDifferences(each.map((r) => r.differencePercent));
      explanation = `${middle?.explanation ?? 'no run explains it'} (runs: ${perRun})`;
    }
    return {
      name: template.name,
      unit: template.unit,
      predicted,
      measured,
      differencePercent: difference === null ? null : round(difference),
      within,
      explanation,
    };
  });
}

/** Each run's difference, signed and rounded ("n/a" for a run without one), in run order. */
function runDifferences(differences: readonly (number | null | undefined)[]): string {
  return differences
    .map((d) => (d === null || d === undefined ? 'n/a' : `${d >= 0 ? '+' : ''}${Math.round(d)} %`))
    .join(', ');
}

function medianOrNull(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : round(medianOf(known));
}

/** One run of a repeated comparison, as `pooledRows` reads it. */
export interface ComparisonRun {
  readonly rows: readonly ComparisonRow[];
  /** Its predictions, one per seed, with their recorders. */
  readonly predictions: readonly Prediction[];
  readonly measured: StackResult;
  readonly calibration?: LoopbackCalibration;
}

/**
 * The rows of several runs of one comparison as one, each by the estimate its values allow. A
 * row that is a percentile of samples (the joins' stages, the datagrams' forwarding) pools
 * them: the measured percentile over every run's joins (the handlers' histograms merged), the
 * predicted one over every run's seeds (the simulator's histograms merged), so that a median
 * rests on five runs' joins rather than one run's sixteen, whose median moves by about a tenth
 * from one sixteen to the next on this machine. The other rows (utilisation, members, the
 * failover: one value per run) are the run of median difference (`combineRuns`). A pooled
 * row off by more than 10 % says so, with the difference in each run; its explanation names
 * the last run's model and calibration. The join's round trip is told from the controller
 * stage less the signaling opening, the runs' median of it.
 */
export function pooledRows(plan: LoadPlan, runs: readonly ComparisonRun[]): ComparisonRow[] {
  const perRun = combineRuns(runs.map((run) => run.rows));
  const last = runs[runs.length - 1];
  const predictions = runs.flatMap((run) => run.predictions);
  const first = predictions[0];
  if (runs.length < 2 || last === undefined || first === undefined) return perRun;
  const merged = (pick: (p: Prediction) => LatencyRecorder | undefined) =>
    summariseLatency(mergeRecorders(predictions.map(pick)), null);
  // The last run's model names the constants (with its calibration); the signaling opening
  // that the join's round trip is told from is the runs' median (one run's calibration can be
  // far from the others', as a busy minute makes it).
  const template = last.predictions[0] ?? first;
  const times = template.scenario.serviceTimes;
  const connects = runs
    .map((run) => run.predictions[0]?.scenario.serviceTimes.signalingConnect?.cpuMs)
    .filter((ms): ms is number => ms !== undefined);
  const scenario =
    times.signalingConnect === undefined || connects.length === 0
      ? template.scenario
      : {
          ...template.scenario,
          serviceTimes: {
            ...times,
            signalingConnect: { ...times.signalingConnect, cpuMs: round(medianOf(connects)) },
          },
        };
  const prediction: Prediction = {
    ...template,
    scenario,
    report: {
      ...template.report,
      joinStages: template.report.joinStages.map((stage, i) => ({
        stage: stage.stage,
        latency: merged((p) => p.recorders.joinStages[i]),
      })),
      latency: {
        ...template.report.latency,
        joinToMedia: merged((p) => p.recorders.joinToMedia),
        forwarding: merged((p) => p.recorders.forwarding),
      },
    },
  };
  const results = runs.map((run) => run.measured);
  const pool = (pick: (m: StackResult) => SampledLatency) =>
    sampledLatency(results.flatMap((m) => pick(m).samplesMs));
  const forwarding = mergeBuckets(
    results.flatMap((m) => m.handlers.map((h) => h.forwardingBuckets)),
  );
  const measured: StackResult = {
    ...last.measured,
    controllerJoinMs: medianOrNull(results.map((m) => m.controllerJoinMs)),
    controllerLookupMs: medianOrNull(results.map((m) => m.controllerLookupMs)),
    stages: {
      meetingInfo: pool((m) => m.stages.meetingInfo),
      joinAtController: pool((m) => m.stages.joinAtController),
      mediaSession: pool((m) => m.stages.mediaSession),
      firstFrame: pool((m) => m.stages.firstFrame),
    },
    signalingRoundTrip: pool((m) => m.signalingRoundTrip),
    joinToFirstFrame: pool((m) => m.joinToFirstFrame),
    forwarding: {
      p50Ms: secondsToMs(histogramPercentile(forwarding, 50)),
      p99Ms: secondsToMs(histogramPercentile(forwarding, 99)),
    },
  };
  const pooled = evaluatedRows(plan, prediction, measured, last.calibration);
  return perRun.map((row, index) => {
    const evaluated = pooled[index];
    if (evaluated === undefined || !evaluated.pooled) return row;
    const { pooled: _, ...rest } = evaluated;
    if (rest.explanation === null) return rest;
    const each = runDifferences(runs.map((run) => run.rows[index]?.differencePercent));
    return {
      ...rest,
      explanation: `${rest.explanation} (pooled over ${runs.length} runs, the constants named the last run's; runs: ${each})`,
    };
  });
}

/** One recorder holding every sample of `recorders` (hdr histograms and chart buckets added). */
export function mergeRecorders(
  recorders: readonly (LatencyRecorder | undefined)[],
): LatencyRecorder {
  const into = new LatencyRecorder();
  for (const recorder of recorders) {
    if (recorder === undefined) continue;
    into.histogram.add(recorder.histogram);
    recorder.buckets.forEach((count, i) => {
      into.buckets[i] = (into.buckets[i] ?? 0) + count;
    });
  }
  return into;
}
