// `npm run load:compare` on a tiny scenario (scenarios/compare-smoke.yaml): the simulator on the
// loopback model and the local stack (AC, GC, a Meeting Controller, two Media Handlers on
// loopback, started and stopped by the run; PostgreSQL and Redis on 127.0.0.1), a handler
// killed mid-run, after a short calibration of the loopback model on the same stack. Checks
// the report's shape and that every row has both a prediction and a
// measurement; the figures themselves are the run's, not this test's (a shared machine).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compare, writeComparison, type ComparisonReport } from './compare.ts';
import { pooledRows } from './compare-rows.ts';
import { readLoadScenario } from './run.ts';

describe('load:compare smoke run', () => {
  it('writes every row with a predicted and a measured value, and the HTML beside it', async () => {
    const read = readLoadScenario('compare-smoke');
    if (!read.ok) throw new Error(read.message);
    const { report, predictions } = await compare(read.plan);
    const dir = await mkdtemp(join(tmpdir(), 'load-compare-'));
    try {
      writeComparison(report, join(dir, 'r.json'), join(dir, 'r.html'));
      const json = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as ComparisonReport;
      expect(json.scenario).toBe('compare-smoke');
      expect(json.tolerancePercent).toBe(10);
      expect(json.rows.map((r) => r.name)).toEqual(
        expect.arrayContaining([
          'join: meeting info (GC lookup) p50',
          'signaling round trip: join p50',
          'join to first frame p50',
          'forwarding latency p50',
          'handler utilisation mean',
          'failover after a handler kill (last member back)',
        ]),
      );
      for (const row of json.rows) {
        expect(typeof row.predicted, row.name).toBe('number');
        expect(typeof row.measured, row.name).toBe('number');
        expect(typeof row.within, row.name).toBe('boolean');
        if (!row.within) expect(row.explanation, row.name).toMatch(/\w/);
      }
      expect(json.within).toBe(json.rows.filter((r) => r.within).length);
      // Each join's samples are kept, and the simulator's recorders hold its joins: runs pool
      // them. Pooled with itself, a run keeps its own values (the handlers' histograms merged
      // twice give the forwarding the stack run read).
      expect(json.measured.stages.meetingInfo.samplesMs).toHaveLength(3);
      expect(predictions[0]?.recorders.joinToMedia.histogram.totalCount).toBe(
        report.predicted.report.latency.joinToMedia.count,
      );
      const run = { rows: report.rows, predictions, measured: report.measured };
      const twice = pooledRows(read.plan, [run, run]);
      expect(twice.map((r) => [r.predicted, r.measured])).toEqual(
        report.rows.map((r) => [r.predicted, r.measured]),
      );
      expect(json.measured.joins).toMatchObject({ attempted: 3, joined: 3 });
      expect(json.measured.failover?.members).toBe(3);
      // The controller's own time on the joins, in the scenario and in the calibration.
      expect(json.measured.controllerJoinMs).toBeGreaterThan(0);
      expect(json.calibration.calibration.controllerJoinMs).toBeGreaterThan(0);
      // Its lookups at GC in them, a part of that time.
      expect(json.measured.controllerLookupMs).toBeGreaterThan(0);
      expect(json.measured.controllerLookupMs).toBeLessThan(json.measured.controllerJoinMs ?? 0);
      expect(json.calibration.calibration.controllerLookupMs).toBeGreaterThan(0);
      // The killed handler's exit reached its parent, the load run.
      expect(json.measured.failover?.exitedMs).toBeGreaterThan(0);
      // Each handler's forwarding between scrapes: the media flowed through one of them.
      const scrapes = json.measured.handlers.flatMap((h) => h.forwardingByScrape);
      expect(scrapes.some((s) => s.datagrams > 0 && (s.p50Ms ?? 0) > 0)).toBe(true);
      expect(json.predicted.seeds).toEqual([1]);
      expect(json.predicted.serviceTimes.joinProcessingMs).toBeGreaterThan(0);
      // The model came from the calibration run on the stack before the scenario.
      const calibration = json.calibration.calibration;
      expect(calibration.forwarding.at(-1)?.fraction).toBe(1);
      expect(json.predicted.serviceTimes).toMatchObject({
        queueing: true,
        mediaHandshakeRoundTrips: 2,
        forwardingDistribution: calibration.forwarding,
      });
      // The join steps' spread, from the calibration's counted joins.
      expect(calibration.serviceTimeSpread?.joinProcessing?.at(-1)?.fraction).toBe(1);
      expect(json.predicted.serviceTimes.serviceTimeSpread).toEqual(calibration.serviceTimeSpread);
      // By load where a handler forwarded enough in a window (this scenario's one meeting of
      // three at 20 datagrams a second may not).
      expect(json.predicted.serviceTimes.forwardingByLoad).toEqual(
        calibration.forwardingByLoad?.map((p) => ({
          utilisation: p.utilisation,
          distribution: p.forwarding,
        })),
      );
      expect('samples' in json.calibration && json.calibration.samples.joins).toBeGreaterThan(0);
      // Its joins were timed with the earlier members' media flowing, as the scenario's are.
      expect(
        'samples' in json.calibration && json.calibration.samples.datagramsDuringJoins,
      ).toBeGreaterThan(0);
      // One join started every 500 ms or later, as the scenario's three members join over its
      // 1.5 s ramp (Node's timers keep whole milliseconds: a wait may end a little early by
      // the finer clock).
      const starts = 'samples' in json.calibration ? json.calibration.samples.joinStartsMs : [];
      expect(starts.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < starts.length; i++)
        expect((starts[i] ?? 0) - (starts[i - 1] ?? 0)).toBeGreaterThanOrEqual(490);
      expect(await readFile(join(dir, 'r.html'), 'utf8')).toContain(
        'failover after a handler kill',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
