import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { builtinScenario } from '../../sim/scenario/builtin.ts';
import { quantileOf } from '../../sim/world/service-times.ts';
import { spreadRanks } from '../../core/routing/rank.ts';
import {
  calibratedServiceTimes,
  LOOPBACK_NETWORK,
  LOOPBACK_SERVICE_TIMES,
  type LoopbackCalibration,
} from '../../sim/scenario/loopback.ts';
import {
  distributionOf,
  forwardingByLoad,
  framesDue,
  MIN_POINT_DATAGRAMS,
  MIN_SPREAD_SAMPLES,
  publisherPhases,
  joinStepSpreads,
  readCalibration,
  spreadOf,
  SPREAD_FRACTIONS,
} from './calibrate.ts';
import {
  combineRuns,
  comparisonRows,
  mergeRecorders,
  pooledRows,
  EXPLAIN_OVER_PERCENT,
  renderComparisonRows,
  type ComparisonRow,
} from './compare-rows.ts';
import { predict, type Prediction } from './predict.ts';
import { JOIN_STAGES, LatencyRecorder } from '../../sim/report/metrics.ts';
import { summariseLatency } from '../../sim/report/summary.ts';
import { loadPlanFrom } from './scenario.ts';
import { measuredLatency, sampledLatency, type StackResult } from './stack-run.ts';
import { histogramPercentile, mergeBuckets, secondsToMs } from './stats.ts';

const plan = (() => {
  const read = loadPlanFrom(
    parse(readFileSync(new URL('./scenarios/basic.yaml', import.meta.url), 'utf8')),
  );
  if (!read.ok) throw new Error('basic scenario');
  return read.value;
})();
const prediction = predict(plan);
const { firstFrameMs: _frame, ...LOOPBACK_SERVICE_TIMES_BUT_FIRST_FRAME } = LOOPBACK_SERVICE_TIMES;
const stage = (name: string) =>
  prediction.report.joinStages.find((s) => s.stage === name)?.latency.p50Ms as number;

/** A measurement `factor` times the prediction on every latency, utilisation as predicted. */
function measured(factor: number, failoverMs: number | null): StackResult {
  const at = (ms: number) => sampledLatency([ms * factor]);
  return {
    scenario: 'basic',
    startedAt: '',
    wallSeconds: 1,
    loadAverage: { atStart: 1, atEnd: 1 },
    joinsEventLoopLag: null,
    controllerJoinMs: null,
    controllerLookupMs: null,
    joins: { attempted: 16, joined: 16, failed: {} },
    stages: {
      meetingInfo: at(stage('meeting info')),
      joinAtController: at(stage('join at controller')),
      mediaSession: at(stage('media session')),
      firstFrame: at(stage('first frame')),
    },
    signalingRoundTrip: at(stage('join at controller')),
    joinToFirstFrame: at(prediction.report.latency.joinToMedia.p50Ms - stage('token')),
    forwarding: {
      p50Ms: LOOPBACK_SERVICE_TIMES.forwardingMs * factor,
      p99Ms: LOOPBACK_SERVICE_TIMES.forwardingMs * factor,
    },
    utilisation: {
      meanPercent: prediction.report.utilisation.meanPercent,
      maxPercent: prediction.report.utilisation.maxPercent,
    },
    handlers: [],
    frames: { sent: 1, received: 1, skipped: 0 },
    failover:
      failoverMs === null
        ? null
        : {
            killedHandler: 'load-mh-1',
            killedAtSeconds: 20,
            members: 1,
            killToFirstFrameMs: [failoverMs],
            maxMs: failoverMs,
            moves: [],
            told: [],
            noticedMs: [],
            residentBytes: null,
            exitedMs: null,
          },
  };
}

describe('predicted vs measured', () => {
  it('predicts a failover for the scenario with a handler crash, and every other row', () => {
    expect(prediction.failover?.members).toBeGreaterThan(0);
    expect(prediction.failover?.maxMs).toBeGreaterThan(0);
    // The loopback model, not the scenario file's service times.
    expect(prediction.scenario.serviceTimes).toMatchObject(LOOPBACK_SERVICE_TIMES_BUT_FIRST_FRAME);
    expect(prediction.scenario.serviceTimes.firstFrameMs).toBe(1000 / 50);
    // Its members join as the load run's do: one after another, meeting by meeting, over the
    // ramp (the scenario file's own arrivals are random).
    expect(plan.scenario.workload.arrivals).toBe('random');
    expect(prediction.scenario.workload).toMatchObject({
      arrivals: 'even',
      joinSpreadSeconds: plan.rampSeconds,
    });
  });

  it('predicts each row as the median over the seeds it is given', () => {
    const seeds = [prediction, predict(plan, undefined, 2), predict(plan, undefined, 3)];
    const x = measured(1, 80);
    const alone = seeds.map((p) => comparisonRows(plan, p, x));
    const together = comparisonRows(plan, seeds, x);
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[1];
    let differing = 0;
    together.forEach((row, i) => {
      const each = alone.map((rows) => rows[i]?.predicted as number);
      if (new Set(each).size > 1) differing++;
      expect(row.predicted, row.name).toBe(median(each));
      expect(row.measured).toBe(alone[0]?.[i]?.measured);
    });
    // The seeds draw other phases and service times: some rows differ between them.
    expect(differing).toBeGreaterThan(2);
  });

  it('marks rows within 10 % and explains the others by their model parameter', () => {
    const close = comparisonRows(plan, prediction, measured(1.05, prediction.failover?.maxMs ?? 1));
    for (const row of close) {
      expect(row.predicted, row.name).not.toBeNull();
      expect(row.measured, row.name).not.toBeNull();
      // The p99 row: one sample in the fake, so p99 is p50 and the prediction's p99 differs.
      if (row.name.endsWith('p99') && row.name.startsWith('join')) continue;
      expect(row.within, row.name).toBe(true);
      expect(row.explanation, row.name).toBeNull();
    }
    const far = comparisonRows(plan, prediction, measured(3, 60));
    const row = (name: string) => far.find((r) => r.name === name);
    expect(row('signaling round trip: join p50')?.differencePercent).toBeCloseTo(200, 0);
    expect(row('signaling round trip: join p50')?.within).toBe(false);
    expect(row('signaling round trip: join p50')?.explanation).toContain(
      'serviceTimes.joinProcessingMs',
    );
    expect(row('forwarding latency p50')?.explanation).toContain('serviceTimes.forwardingMs');
    expect(row('failover after a handler kill (last member back)')?.explanation).toContain(
      'mediaLossReports',
    );
    expect(Math.abs(row('handler utilisation mean')?.differencePercent ?? 99)).toBeLessThanOrEqual(
      EXPLAIN_OVER_PERCENT,
    );
    const text = renderComparisonRows('basic', far);
    expect(text).toContain('signaling round trip: join p50');
    expect(text).toMatch(/\[\d+\] serviceTimes\.joinProcessingMs/);
  });

  it("names the load process's own delay and the controller's time beside a join row that is off", () => {
    const slow = {
      ...measured(1.5, 80),
      joinsEventLoopLag: { p50Ms: 1.2, p99Ms: 9.5, maxMs: 20 },
      controllerJoinMs: 3.5,
      controllerLookupMs: 1.25,
    };
    const rows = comparisonRows(plan, prediction, slow, {
      ...calibration,
      joinsEventLoopLag: { p50Ms: 1.1, p99Ms: 4.25, maxMs: 6 },
      controllerJoinMs: 2.75,
      controllerLookupMs: 1,
    });
    // And the controller's own time on each join, on both sides.
    expect(rows.find((r) => r.name === 'signaling round trip: join p50')?.explanation).toContain(
      "the controller's own time on each (mc_join_seconds) 3.500 ms in the scenario, 2.750 ms in the calibration, of which its meeting lookup at GC (mc_meeting_lookup_seconds) 1.250 ms in the scenario, 1.000 ms in the calibration",
    );
    expect(rows.find((r) => r.name === 'signaling round trip: join p50')?.explanation).toContain(
      "the load process's own event-loop delay during the joins p50 1.200 / p99 9.500 ms, p50 1.100 / p99 4.250 ms in the calibration's",
    );
  });

  it('gives the measured failover by stage when the row is off', () => {
    const base = measured(1, 80);
    const failover = {
      ...(base.failover as NonNullable<StackResult['failover']>),
      members: 2,
      killToFirstFrameMs: [60, 80],
      noticedMs: [20, 22],
      told: [[{ ms: 30, handler: 'load-mh-2' }], [{ ms: 34, handler: 'load-mh-2' }]],
      moves: [[{ ms: 50, handler: 'load-mh-2' }], [{ ms: 52, handler: 'load-mh-2' }]],
      residentBytes: 200 * 2 ** 20,
      exitedMs: 19.5,
    };
    const rows = comparisonRows(plan, prediction, { ...base, failover });
    const explanation = rows.find((r) => r.name.startsWith('failover'))?.explanation ?? '';
    expect(explanation).toContain('measured 80.000 ms (2 members; medians from the kill:');
    expect(explanation).toMatch(
      /noticed the loss 2\d\.\d{3} ms, told to move 3\d\.\d{3} ms, new session up 5\d\.\d{3} ms, first frame there [678]\d\.\d{3} ms; the killed handler held 200 MiB at its last scrape and its exit reached its parent 19\.500 ms after the kill/,
    );
  });

  it('says why a side is missing', () => {
    const rows = comparisonRows(plan, prediction, measured(1, null));
    const failover = rows.find((r) => r.name.startsWith('failover'));
    expect(failover).toMatchObject({ measured: null, differencePercent: null, within: false });
    expect(failover?.explanation).toContain('not measured');
  });

  it('adds handlers’ forwarding buckets', () => {
    expect(
      mergeBuckets([
        { bounds: [1, 2], cumulative: [1, 3] },
        { bounds: [1, 2], cumulative: [2, 2] },
      ]),
    ).toEqual({ bounds: [1, 2], cumulative: [3, 5] });
    expect(mergeBuckets([])).toEqual({ bounds: [], cumulative: [] });
  });
});

describe('the loopback model', () => {
  it("gives basic.yaml the built-in loopback scenario's topology, network and service times", () => {
    const loopback = builtinScenario('loopback');
    const { name: _a, description: _b, ...predicted } = prediction.scenario;
    const { name: _c, description: _d, ...builtin } = loopback as NonNullable<typeof loopback>;
    expect(predicted).toEqual(builtin);
  });
});

/** Unit costs as a calibration run would give them (client-side times, round trips included). */
const calibration: LoopbackCalibration = {
  measuredAt: '2026-12-05T00:00:00.000Z',
  loadAverage: 1,
  source: 'fixture',
  meetingLookupMs: 4,
  signalingOpenMs: 2.5,
  joinRoundTripMs: 6,
  mediaSessionMs: 3.5,
  lossReportMs: 2,
  moveSessionMs: 3.5,
  forwarding: [
    { upToMs: 0.025, fraction: 0.1 },
    { upToMs: 0.05, fraction: 0.6 },
    { upToMs: 0.1, fraction: 0.85 },
    { upToMs: 0.25, fraction: 0.97 },
    { upToMs: 0.5, fraction: 1 },
  ],
  forwardingMedianMs: 0.04,
};

describe('the calibrated loopback model', () => {
  const calibrated = predict(plan, calibration);
  const stageOf = (name: string) =>
    calibrated.report.joinStages.find((s) => s.stage === name)?.latency.p50Ms ?? NaN;
  const rows = comparisonRows(plan, calibrated, measured(1, 1), calibration);
  const row = (name: string) => rows.find((r) => r.name === name);

  it('composes the unit costs back into the join stages it predicts', () => {
    // One join at a time in the calibration; the scenario's joins rarely overlap, so each
    // stage's median is the unit cost, round trips and handshakes included once.
    expect(stageOf('meeting info')).toBeCloseTo(calibration.meetingLookupMs, 1);
    expect(stageOf('join at controller')).toBeCloseTo(
      calibration.signalingOpenMs + calibration.joinRoundTripMs,
      1,
    );
    // The hello may wait at the handler behind the route commands of the same join (queueing).
    expect(stageOf('media session')).toBeGreaterThanOrEqual(calibration.mediaSessionMs - 0.05);
    expect(stageOf('media session')).toBeLessThanOrEqual(
      calibration.mediaSessionMs + (calibrated.scenario.serviceTimes.routeCommandMs + 0.05),
    );
    expect(row('signaling round trip: join p50')?.predicted).toBeCloseTo(
      calibration.joinRoundTripMs,
      1,
    );
  });

  it("carries the calibration's join-step spread and forwarding by load into the model", () => {
    const spread = [
      { factor: 0.9, fraction: 0 },
      { factor: 1, fraction: 0.5 },
      { factor: 1.6, fraction: 1 },
    ];
    const byLoad = [
      { utilisation: 0.2, forwarding: calibration.forwarding, medianMs: 0.05, datagrams: 600 },
    ];
    const t = calibratedServiceTimes({
      ...calibration,
      serviceTimeSpread: { joinProcessing: spread, mediaConnect: spread },
      forwardingByLoad: byLoad,
    });
    expect(t.serviceTimeSpread).toEqual({ joinProcessing: spread, mediaConnect: spread });
    expect(t.forwardingByLoad).toEqual([
      { utilisation: 0.2, distribution: calibration.forwarding },
    ]);
    // A calibration made before either was measured: neither.
    expect(calibratedServiceTimes(calibration)).not.toHaveProperty('serviceTimeSpread');
    expect(calibratedServiceTimes(calibration)).not.toHaveProperty('forwardingByLoad');
  });

  it('takes out of each measured time the round trips the simulator adds itself', () => {
    const t = calibratedServiceTimes(calibration);
    const rtt = 2 * (LOOPBACK_NETWORK.intraRegionMs + LOOPBACK_NETWORK.clientAccessMs);
    const handshake = t.mediaHandshakeRoundTrips ?? NaN;
    expect(t.mediaConnectMs + (1 + handshake) * rtt).toBeCloseTo(calibration.mediaSessionMs, 6);
    expect(t.joinProcessingMs + rtt).toBeCloseTo(calibration.joinRoundTripMs, 6);
    expect(t.meetingLookupMs + rtt).toBeCloseTo(calibration.meetingLookupMs, 6);
    expect((t.connectionReportMs ?? NaN) + rtt).toBeCloseTo(calibration.lossReportMs, 6);
    const connect = t.signalingConnect;
    expect((connect?.cpuMs ?? NaN) + (connect?.roundTrips ?? NaN) * rtt).toBeCloseTo(
      calibration.signalingOpenMs,
      6,
    );
  });

  it("draws each datagram's forwarding time from the calibrated distribution", () => {
    expect(calibrated.report.latency.forwarding.count).toBeGreaterThan(10_000);
    const p50 = row('forwarding latency p50')?.predicted ?? NaN;
    const p99 = row('forwarding latency p99')?.predicted ?? NaN;
    expect(p50 / quantileOf(calibration.forwarding, 0.5)).toBeCloseTo(1, 1);
    expect(p99 / quantileOf(calibration.forwarding, 0.99)).toBeCloseTo(1, 1);
  });

  it("draws each datagram's forwarding time at its handler's load when the calibration has it", () => {
    // Without the stack's names the basic scenario's handlers carry two meetings each (31 % of
    // capacity) until the kill, then the survivor all four (61 %): two thirds of the datagrams
    // at 31 %, a third at 61 %. Made-up points tell the two loads apart: one time up to 40 %,
    // another from 41 %.
    const constant = (ms: number) => [
      { upToMs: ms, fraction: 0 },
      { upToMs: ms, fraction: 1 },
    ];
    const byLoad = (from: number, low: number, high: number) =>
      predict(plan, {
        ...calibration,
        forwardingByLoad: [
          { utilisation: from, forwarding: constant(low), medianMs: low, datagrams: 900 },
          { utilisation: from + 0.01, forwarding: constant(high), medianMs: high, datagrams: 900 },
        ],
      }).report.latency.forwarding;
    const split = byLoad(0.4, 0.01, 0.2);
    expect(split.p50Ms).toBeCloseTo(0.01, 3);
    expect(split.p99Ms).toBeCloseTo(0.2, 3);
    // Every handler below the first point, or past the second.
    expect(byLoad(0.7, 0.2, 0.01).p99Ms).toBeCloseTo(0.2, 3);
    expect(byLoad(0.7, 0.2, 0.01).p50Ms).toBeCloseTo(0.2, 3);
    expect(byLoad(0.01, 0.2, 0.01).p99Ms).toBeCloseTo(0.01, 3);
  });

  it('models the failover step by step and is deterministic', () => {
    const failover = calibrated.failover?.maxMs ?? NaN;
    // At least: the new session (handshake and hello) of each member moved, one at a time.
    const members = calibrated.failover?.members ?? 0;
    expect(members).toBeGreaterThan(1);
    expect(failover).toBeGreaterThan(members * (calibration.mediaSessionMs - 0.6));
    expect(predict(plan, calibration).report.traceHash).toBe(calibrated.report.traceHash);
    expect(row('failover after a handler kill (last member back)')).toMatchObject({
      predicted: failover,
    });
  });

  it("keeps the handler's route command time: the calibrated route call is the controller's view", () => {
    const withCall = { ...calibration, routeCallMs: 4 };
    expect(calibratedServiceTimes(withCall).routeCommandMs).toBe(
      LOOPBACK_SERVICE_TIMES.routeCommandMs,
    );
    const rows = comparisonRows(plan, predict(plan, withCall), measured(1, 80), withCall);
    expect(rows.find((r) => r.name.startsWith('failover'))?.explanation).toContain(
      "the calibration's route call took 4 ms idle",
    );
  });

  it("takes the handlers' own time on a route command when the calibration has it", () => {
    const timed = { ...calibration, routeCallMs: 4, routeCommandMs: 0.2 };
    expect(calibratedServiceTimes(timed).routeCommandMs).toBe(0.2);
    const rows = comparisonRows(plan, predict(plan, timed), measured(1, 80), timed);
    expect(rows.find((r) => r.name.startsWith('failover'))?.explanation).toContain(
      "serviceTimes.routeCommandMs 0.2 ms of the handler's work, the handlers' own time on the calibration's route commands",
    );
    // The joins' hellos wait less behind the route commands at the handler.
    const slower = predict(plan, { ...timed, routeCommandMs: 3 });
    const mediaSession = (p: typeof slower) =>
      p.report.joinStages.find((s) => s.stage === 'media session')?.latency.p50Ms ?? NaN;
    expect(mediaSession(slower)).toBeGreaterThan(mediaSession(predict(plan, timed)));
  });

  it("signs the moves' tokens one after another: the last member moves that many tokens later", () => {
    const signMs = 5;
    const signing = predict(plan, { ...calibration, moveTokenMs: signMs });
    expect(signing.scenario.serviceTimes.moveTokenMs).toBe(signMs);
    expect(calibrated.scenario.serviceTimes.moveTokenMs).toBeUndefined();
    const members = calibrated.failover?.members ?? 0;
    expect(members).toBeGreaterThan(1);
    expect(signing.failover?.members).toBe(members);
    // Serial: the last move leaves members x signMs after the replan; the new sessions, no
    // longer queued behind each other at the live handler, win part of that back.
    const before = calibrated.failover?.maxMs ?? NaN;
    const after = signing.failover?.maxMs ?? NaN;
    expect(after - before).toBeGreaterThanOrEqual(2 * signMs);
    expect(after - before).toBeLessThanOrEqual(members * signMs + 1);
    const rows = comparisonRows(plan, signing, measured(1, 80), { ...calibration, moveTokenMs: 5 });
    expect(rows.find((r) => r.name.startsWith('failover'))?.explanation).toContain(
      'serviceTimes.moveTokenMs 5 ms, a batch signed at once in the calibration',
    );
  });

  it('hears a killed handler only once its host has freed it (the calibrated teardown)', () => {
    const teardownMs = 30;
    const slow = predict(plan, { ...calibration, processTeardownMs: teardownMs });
    expect(slow.scenario.serviceTimes.processTeardownMs).toBe(teardownMs);
    expect(calibrated.scenario.serviceTimes.processTeardownMs).toBe(0);
    const before = calibrated.failover?.crashToFirstFrameMs ?? [];
    const after = slow.failover?.crashToFirstFrameMs ?? [];
    expect(after.length).toBe(before.length);
    expect(after.length).toBeGreaterThan(1);
    // Every member is back that much later (its next frame's phase drawn the same way).
    for (let i = 0; i < after.length; i++) {
      expect((after[i] ?? NaN) - (before[i] ?? NaN)).toBeCloseTo(teardownMs, 0);
    }
    const rows = comparisonRows(plan, slow, measured(1, 80));
    expect(rows.find((r) => r.name.startsWith('failover'))?.explanation).toContain(
      `serviceTimes.processTeardownMs ${teardownMs} ms`,
    );
  });

  it('turns a handler histogram into the distribution', () => {
    expect(
      distributionOf({
        bounds: [0.000_025, 0.000_05, 0.000_1, 0.000_25, Infinity],
        cumulative: [0, 30, 90, 99, 100],
      }),
    ).toEqual([
      { upToMs: 0.025, fraction: 0 },
      { upToMs: 0.05, fraction: 0.3 },
      { upToMs: 0.1, fraction: 0.9 },
      { upToMs: 0.25, fraction: 1 },
    ]);
    expect(distributionOf({ bounds: [0.001, Infinity], cumulative: [0, 0] })).toEqual([]);
  });

  it("gives the forwarding time by load from the handlers' windows, enough datagrams each", () => {
    const bounds = [0.000_025, 0.000_05, 0.000_1, Infinity];
    const window = (utilisation: number, counts: [number, number, number]) => {
      const cumulative = [counts[0], counts[0] + counts[1], counts[0] + counts[1] + counts[2]];
      return {
        utilisation,
        buckets: { bounds, cumulative: [...cumulative, cumulative[2] as number] },
      };
    };
    const points = forwardingByLoad([
      window(0.461, [0, 1800, 0]),
      window(0.0769, [0, 100, MIN_POINT_DATAGRAMS]),
      // Too few datagrams to say anything: left out.
      window(0.03, [0, 0, MIN_POINT_DATAGRAMS - 1]),
      window(0.1534, [0, 300, 300]),
      // Two handlers at one load (to 0.1 %): one point of both.
      window(0.1536, [0, 0, 600]),
    ]);
    expect(points.map((p) => p.utilisation)).toEqual([0.077, 0.153, 0.154, 0.461]);
    expect(points.map((p) => p.datagrams)).toEqual([300, 600, 600, 1800]);
    const merged = forwardingByLoad([window(0.1534, [0, 300, 300]), window(0.1531, [0, 0, 600])]);
    expect(merged).toHaveLength(1);
    expect(merged[0]?.datagrams).toBe(1200);
    expect(merged[0]?.forwarding).toEqual([
      { upToMs: 0.025, fraction: 0 },
      { upToMs: 0.05, fraction: 0.25 },
      { upToMs: 0.1, fraction: 1 },
    ]);
    // Slower at the lower load, as measured.
    expect(points[0]?.medianMs).toBeGreaterThan(points[3]?.medianMs ?? Infinity);
  });

  it("measures each join step's spread as its samples over its median", () => {
    // 20 samples, 0.8 to 2.7 (median 1.75), and ten times as large: the same spread.
    const shape = Array.from({ length: 20 }, (_, i) => 0.8 + i * 0.1);
    const spread = spreadOf(shape);
    expect(spreadOf(shape.map((v) => v * 10))).toEqual(spread);
    expect(spread.map((s) => s.fraction)).toEqual(SPREAD_FRACTIONS);
    expect(spread[0]).toEqual({ factor: 0.4571, fraction: 0 });
    expect(spread.at(-1)).toEqual({ factor: 1.5429, fraction: 1 });
    // Half the ratios are at most the tenth sample's: 1.7 / 1.75.
    expect(spread[10]).toEqual({ factor: 0.9714, fraction: 0.5 });
    for (let i = 1; i < spread.length; i++)
      expect(spread[i]?.factor).toBeGreaterThanOrEqual(spread[i - 1]?.factor ?? Infinity);
    expect(spreadOf([1, 2, 3])).toEqual([]);
    expect(spreadOf(Array.from({ length: MIN_SPREAD_SAMPLES }, () => 4)).at(-1)).toEqual({
      factor: 1,
      fraction: 1,
    });
  });

  it('keeps the tail of a spread at every hundredth: one pause among many stays one', () => {
    // 199 samples at 1 to 1.5 and one pause at 18 times the median.
    const samples = [...Array.from({ length: 199 }, (_, i) => 1 + i / 398), 22];
    const spread = spreadOf(samples);
    const at = (fraction: number) => spread.find((s) => s.fraction === fraction)?.factor;
    expect(at(1)).toBeGreaterThan(17);
    // The next fraction below 1 is 0.995 (the 199th sample): the pause reaches at most one draw
    // in two hundred, where steps of a twentieth put one in forty above ten times the median.
    expect(at(0.995)).toBeLessThan(1.3);
    expect(at(0.99)).toBeLessThan(1.3);
  });

  it('reads a calibration file, and gives an older one-for-all spread to every step', () => {
    const dir = mkdtempSync(join(tmpdir(), 'calibration-'));
    try {
      const pooled = [
        { factor: 0.8, fraction: 0 },
        { factor: 3, fraction: 1 },
      ];
      const file = join(dir, 'c.json');
      const base = { ...calibration, serviceTimeSpread: pooled };
      writeFileSync(file, JSON.stringify({ calibration: base, samples: {} }));
      expect(readCalibration(file).serviceTimeSpread).toEqual({
        meetingLookup: pooled,
        signalingConnect: pooled,
        joinProcessing: pooled,
        mediaConnect: pooled,
      });
      const byStep = { joinProcessing: pooled };
      writeFileSync(
        file,
        JSON.stringify({ calibration: { ...calibration, serviceTimeSpread: byStep } }),
      );
      expect(readCalibration(file).serviceTimeSpread).toEqual(byStep);
      writeFileSync(file, JSON.stringify({ rows: [] }));
      expect(() => readCalibration(file)).toThrow(/no loopback calibration/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives each model step its own spread, and none to a step with too few samples', () => {
    const many = (scale: number) =>
      Array.from({ length: 20 }, (_, i) => scale * (1 + (i % 5) / 10));
    const spreads = joinStepSpreads({
      lookup: many(3),
      open: [1, 2],
      roundTrip: [...many(6).slice(0, 19), 60],
      media: many(4),
    });
    expect(Object.keys(spreads).sort()).toEqual([
      'joinProcessing',
      'mediaConnect',
      'meetingLookup',
    ]);
    expect(spreads.meetingLookup).toEqual(spreadOf(many(3)));
    // The round trip's pause stays the round trip's.
    expect(spreads.joinProcessing?.at(-1)?.factor).toBeGreaterThan(8);
    expect(spreads.meetingLookup?.at(-1)?.factor).toBeLessThan(1.5);
  });

  it("spreads the media run's publishers over one frame interval, each sending at its phase", () => {
    // 16 publishers at 50 frames a second: one every 1.25 ms of the 20 ms interval.
    const phases = publisherPhases(16, 20);
    expect(phases).toHaveLength(16);
    phases.forEach((phase, i) => expect(phase).toBeCloseTo(1.25 * i, 9));
    // Over any whole interval each sends one frame, and no two send at the same instant.
    const sentIn = (from: number, to: number) =>
      phases.map((phase) => framesDue(to, phase, 20) - framesDue(from, phase, 20));
    expect(sentIn(0, 20)).toEqual(phases.map(() => 1));
    expect(sentIn(33, 53)).toEqual(phases.map(() => 1));
    // By 1 ms only the first has sent (its first frame at once).
    expect(phases.map((phase) => framesDue(1, phase, 20))).toEqual(
      phases.map((_, i) => (i === 0 ? 1 : 0)),
    );
    expect(framesDue(0, 0, 20)).toBe(1);
    expect(framesDue(4.9, 5, 20)).toBe(0);
    expect(framesDue(45, 5, 20)).toBe(3);
  });
});

describe('repeated runs', () => {
  const row = (
    name: string,
    predicted: number | null,
    measured: number | null,
    explanation: string | null = null,
  ): ComparisonRow => {
    const difference =
      predicted === null || measured === null ? null : (100 * (measured - predicted)) / predicted;
    return {
      name,
      unit: 'ms',
      predicted,
      measured,
      differencePercent: difference,
      within: difference !== null && Math.abs(difference) <= 10,
      explanation,
    };
  };

  it('takes for each row the run whose difference is the median, and recomputes it', () => {
    const rows = combineRuns([
      [row('a', 11, 30, 'a run 1'), row('b', 1, 1)],
      [row('a', 12, 11, 'a run 2'), row('b', 1, 2, 'b run 2')],
      [row('a', 10, 14, 'a run 3'), row('b', 1, 1)],
      [row('a', 11, 9, 'a run 4'), row('b', 1, 1)],
      [row('a', 11, 40, 'a run 5'), row('b', 1, 1)],
    ]);
    // a: +173, -8, +40, -18, +264 % -> run 3's +40 % (10 predicted, 14 measured), off.
    expect(rows[0]).toMatchObject({ name: 'a', predicted: 10, measured: 14, within: false });
    expect(rows[0]?.differencePercent).toBeCloseTo(40, 3);
    // That run's explanation, then each run's difference.
    expect(rows[0]?.explanation).toBe('a run 3 (runs: +173 %, -8 %, +40 %, -18 %, +264 %)');
    // b: 1 against 1 in four runs of five: within, whatever run 2 said.
    expect(rows[1]).toMatchObject({ predicted: 1, measured: 1, within: true, explanation: null });
  });

  it("pairs each run's prediction with its own measurement", () => {
    // Each run's calibration moves with the machine, and its measurement with it: every run
    // within 8 %, and one far off. Medians of the columns apart (4.0 against 3.4) would say -15 %.
    const rows = combineRuns([
      [row('a', 4.0, 3.7)],
      [row('a', 3.4, 3.3)],
      [row('a', 4.5, 4.2)],
      [row('a', 3.5, 3.4)],
      [row('a', 4.4, 3.4, 'run 5')],
    ]);
    expect(rows[0]).toMatchObject({ predicted: 4.5, measured: 4.2, within: true });
    expect(rows[0]?.differencePercent).toBeCloseTo(-6.667, 3);
  });

  it('takes the middle two of an even count, and skips the runs without a value', () => {
    const rows = combineRuns([
      [row('a', 10, 10)],
      [row('a', 10, null, 'not measured')],
      [row('a', 10, 12)],
      [row('a', 10, 11)],
    ]);
    expect(rows[0]).toMatchObject({ predicted: 10, measured: 11, within: true });
    // Four runs with both: the middle two (+10 and +20 %) averaged.
    const even = combineRuns([
      [row('a', 10, 13)],
      [row('a', 10, 10)],
      [row('a', 10, 12, 'run 3')],
      [row('a', 10, 11)],
    ]);
    expect(even[0]).toMatchObject({ predicted: 10, measured: 11.5, within: false });
    expect(even[0]?.explanation).toBe('run 3 (runs: +30 %, +0 %, +20 %, +10 %)');
    expect(combineRuns([[row('a', null, null, 'none')]])[0]).toMatchObject({
      predicted: null,
      measured: null,
      within: false,
      explanation: 'none (runs: n/a)',
    });
    expect(combineRuns([])).toEqual([]);
  });
});

describe('runs pooled', () => {
  /** A recorder holding `ms` (one sample each), as the simulator records a latency. */
  const recorderOf = (ms: readonly number[]) => {
    const recorder = new LatencyRecorder();
    for (const v of ms) recorder.record(v * 1000);
    return recorder;
  };
  const MEDIA = JOIN_STAGES.indexOf('media session');
  /** The prediction with the media session's samples replaced by `ms`. */
  const predictedWith = (ms: readonly number[]): Prediction => ({
    ...prediction,
    recorders: {
      ...prediction.recorders,
      joinStages: prediction.recorders.joinStages.map((r, i) => (i === MEDIA ? recorderOf(ms) : r)),
    },
  });
  /** A handler's forwarding histogram (seconds): 60 datagrams under 40 us, 40 under 100 us. */
  const forwardingBuckets = { bounds: [0.00004, 0.0001, Infinity], cumulative: [60, 100, 100] };
  /** A measurement whose meeting lookups took `ms`, its handler forwarding as `buckets`. */
  const lookups = (
    ms: readonly number[],
    failoverMs: number,
    buckets = forwardingBuckets,
  ): StackResult => {
    const base = measured(1, failoverMs);
    return {
      ...base,
      stages: { ...base.stages, meetingInfo: sampledLatency(ms) },
      forwarding: {
        p50Ms: secondsToMs(histogramPercentile(buckets, 50)),
        p99Ms: secondsToMs(histogramPercentile(buckets, 99)),
      },
      handlers: [
        {
          id: 'load-mh-1',
          forwardingBuckets: buckets,
          forwardingP50Ms: null,
          forwardingP99Ms: null,
          utilisationMeanPercent: 0,
          utilisationMaxPercent: 0,
          killed: false,
          forwardingByScrape: [],
        },
      ],
    };
  };
  const runOf = (predictions: readonly Prediction[], x: StackResult) => ({
    rows: comparisonRows(plan, predictions, x),
    predictions,
    measured: x,
  });
  const named = (rows: readonly ComparisonRow[], name: string) =>
    rows.find((r) => r.name === name) as ComparisonRow;

  it('merges recorders: every sample of each, in the histogram and the chart buckets', () => {
    const merged = mergeRecorders([recorderOf([1, 2]), undefined, recorderOf([3, 40, 50])]);
    expect(merged.histogram.totalCount).toBe(5);
    expect(summariseLatency(merged, null).p50Ms).toBeCloseTo(3, 2);
    expect(merged.buckets.reduce((a, b) => a + b, 0)).toBe(5);
    expect(merged.buckets).toEqual(recorderOf([1, 2, 3, 40, 50]).buckets);
  });

  it("takes a join row's percentiles over every run's samples, on both sides", () => {
    const failover = prediction.failover?.maxMs ?? 60;
    // The second run's handler forwarded all its datagrams under 40 us.
    const fast = { bounds: forwardingBuckets.bounds, cumulative: [100, 100, 100] };
    const runs = [
      runOf([predictedWith([3, 3, 3])], lookups([2, 2.1, 2.2], failover)),
      runOf([predictedWith([5, 5]), predictedWith([5, 5])], lookups([4, 4.1, 4.2], failover, fast)),
    ];
    const rows = pooledRows(plan, runs);
    const lookup = named(rows, 'join: meeting info (GC lookup) p50');
    // The median of the six lookups, where the run of median difference would average the
    // two runs' medians (3.1 ms).
    expect(lookup.measured).toBe(measuredLatency([2, 2.1, 2.2, 4, 4.1, 4.2]).p50Ms);
    expect(named(combineRuns(runs.map((r) => r.rows)), lookup.name).measured).toBeCloseTo(3.1, 1);
    // The media session over the seeds of both runs: three at 3 ms and four at 5 ms.
    const media = named(rows, 'join: media session p50');
    expect(media.predicted).toBeCloseTo(5, 2);
    expect(named(pooledRows(plan, [runs[0], runs[0]] as never), media.name).predicted).toBeCloseTo(
      3,
      2,
    );
    // The forwarding over both runs' handlers' histograms merged.
    const both = mergeBuckets([forwardingBuckets, fast]);
    expect(named(rows, 'forwarding latency p99').measured).toBe(
      secondsToMs(histogramPercentile(both, 99)),
    );
    expect(named(rows, 'forwarding latency p99').measured).not.toBe(
      runs[1]?.measured.forwarding.p99Ms,
    );
    // A pooled row off by more than 10 % says so, with each run's difference.
    expect(lookup.within).toBe(false);
    expect(lookup.explanation).toMatch(
      /\(pooled over 2 runs, the constants named the last run's; runs: [-+]\d+ %, [-+]\d+ %\)$/,
    );
  });

  it("tells the join's round trip from the pooled controller stage less the runs' median signaling opening", () => {
    /** The prediction with the signaling connection's CPU at `cpuMs`. */
    const opening = (cpuMs: number): Prediction => {
      const times = prediction.scenario.serviceTimes;
      const connect = times.signalingConnect ?? { roundTrips: 2, cpuMs: 0 };
      return {
        ...prediction,
        scenario: {
          ...prediction.scenario,
          serviceTimes: {
            ...times,
            signalingConnect: { ...connect, cpuMs },
            meetingLookupMs: cpuMs + 0.5,
          },
        },
      };
    };
    const x = lookups([30], 60);
    const runs = [1, 9, 2].map((cpu) => runOf([opening(cpu)], x));
    const rows = pooledRows(plan, runs);
    const connect = prediction.scenario.serviceTimes.signalingConnect;
    const network = prediction.scenario.network;
    const roundTrip = 2 * (network.clientAccessMs + network.intraRegionMs);
    // The median opening (2 ms), not the last run's (2) by chance: the first run's is 1, the
    // second's 9.
    const atController = named(rows, 'join: at the controller p50').predicted as number;
    expect(named(rows, 'signaling round trip: join p50').predicted).toBeCloseTo(
      atController - ((connect?.roundTrips ?? 2) * roundTrip + 2),
      3,
    );
    // The constants an explanation names are the last run's model's.
    expect(named(rows, 'join: meeting info (GC lookup) p50').explanation).toContain(
      'serviceTimes.meetingLookupMs (2.5 ms',
    );
    const reordered = pooledRows(plan, [runs[1], runs[2], runs[0]] as never);
    expect(named(reordered, 'join: meeting info (GC lookup) p50').explanation).toContain(
      'serviceTimes.meetingLookupMs (1.5 ms',
    );
    expect(named(reordered, 'signaling round trip: join p50').predicted).toBeCloseTo(
      atController - ((connect?.roundTrips ?? 2) * roundTrip + 2),
      3,
    );
  });

  it('gives a run pooled with itself its own values, and the per-run rows by combineRuns', () => {
    const run = runOf([prediction], lookups([2, 2.5, 3, 3.5], 70));
    const alone = run.rows;
    const twice = pooledRows(plan, [run, run]);
    twice.forEach((row, i) => {
      expect(row.predicted, row.name).toBe(alone[i]?.predicted);
      expect(row.measured, row.name).toBe(alone[i]?.measured);
    });
    // The failover (one value a run) is the run of median difference.
    const other = runOf([prediction], lookups([2, 2.5, 3, 3.5], 90));
    const third = runOf([prediction], lookups([2, 2.5, 3, 3.5], 200));
    const failover = 'failover after a handler kill (last member back)';
    expect(named(pooledRows(plan, [run, other, third]), failover).measured).toBe(90);
    // One run: its own rows.
    expect(pooledRows(plan, [run])).toEqual(combineRuns([alone]));
  });
});

describe("the stack's names in the prediction", () => {
  const handlers = ['load-mh-1', 'load-mh-2'];
  /** The handler core's tie-break prefers for a meeting (the lower spread rank). */
  const preferred = (meeting: string) => {
    const ranks = spreadRanks(
      meeting,
      handlers.map((id) => ({ id }) as never),
    );
    return (ranks[0] as number) <= (ranks[1] as number) ? 0 : 1;
  };

  it('names the simulated meetings and handlers as the stack did, so they are placed as there', () => {
    // Meeting ids whose tie-breaks put three meetings on one handler, and two on each.
    const ids = Array.from(
      { length: 64 },
      (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    );
    const onFirst = ids.filter((id) => preferred(id) === 0);
    const onSecond = ids.filter((id) => preferred(id) === 1);
    const threeOnFirst = [onFirst[0], onFirst[1], onFirst[2], onSecond[0]] as string[];
    const threeOnSecond = [onSecond[1], onFirst[3], onSecond[2], onSecond[3]] as string[];
    const twoTwo = [onFirst[4], onSecond[4], onFirst[5], onSecond[5]] as string[];
    for (const [meetings, members, crashed] of [
      [threeOnFirst, 12, 'load-mh-1'],
      [threeOnSecond, 12, 'load-mh-2'],
      [twoTwo, 8, undefined],
    ] as const) {
      const named = predict(plan, undefined, 1, { meetings, handlers });
      expect(named.scenario.workload.meetingIds).toEqual(meetings);
      expect(named.scenario.regions[0]?.mediaHandlerIds).toEqual(handlers);
      expect(named.failover?.members).toBe(members);
      if (crashed !== undefined) expect(named.failover?.crashedHandler).toBe(crashed);
    }
  });
});
