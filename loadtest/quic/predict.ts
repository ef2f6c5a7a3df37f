/**
 * The simulator's prediction for a load scenario on loopback: the scenario with the loopback
 * model (sim/scenario/loopback.ts: network and calibrated service times) run under seed 1, and
 * for a scenario with a `handler-crash` fault, the failover time the simulator gives: from the
 * crash to the moment each member that was on the crashed handler is on a live one with every
 * stream its layout asks for delivered again, plus the wait for the next frame of one of its
 * publishers (each publisher's frames at its own phase: the least of a uniform draw in one
 * frame interval per publisher, from the probe's own random stream), the handler's forwarding
 * time and the last hop (handler to member). With a calibration (sim/scenario/loopback.ts) the
 * model is the calibrated one. It is read by a probe that looks at the world every 100 us
 * of virtual time after the crash and changes nothing (its events add lines to the trace, so
 * the trace hash of a comparison run is not the scenario's own).
 */
import type { ParticipantId } from '../../core/ids.ts';
import { isDelivered } from '../../sim/invariants/convergence.ts';
import { runScenario } from '../../sim/run.ts';
import type { LatencyRecorder } from '../../sim/report/metrics.ts';
import type { RunReport } from '../../sim/report/summary.ts';
import { loopbackModel, type LoopbackCalibration } from '../../sim/scenario/loopback.ts';
import type { Scenario } from '../../sim/scenario/schema.ts';
import type { World } from '../../sim/world/world.ts';
import { handlerCrashOf, type StackNames } from './stack-run.ts';
import type { LoadPlan } from './scenario.ts';

const PROBE_US = 100;
/** How long the probe keeps looking after the crash (virtual time). */
const PROBE_LIMIT_US = 20_000_000;

export interface PredictedFailover {
  readonly crashedHandler: string;
  readonly crashedAtSeconds: number;
  readonly members: number;
  /** Crash to each member's first frame on its new handler (ms); null: not within the run. */
  readonly crashToFirstFrameMs: readonly (number | null)[];
  readonly maxMs: number | null;
}

/**
 * The run's own latency recorders behind its report's join stages, join-to-media and forwarding
 * (hdr histograms, which merge): several runs of a comparison pool them (compare-rows.ts
 * `pooledRows`). Not written to the comparison's JSON.
 */
export interface PredictionRecorders {
  readonly joinStages: readonly LatencyRecorder[];
  readonly joinToMedia: LatencyRecorder;
  readonly forwarding: LatencyRecorder;
}

export interface Prediction {
  readonly scenario: Scenario;
  readonly report: RunReport;
  readonly failover: PredictedFailover | null;
  readonly recorders: PredictionRecorders;
}

/** Runs the scenario of `plan` in the simulator with the loopback model (calibrated if given). */
export function predict(
  plan: LoadPlan,
  calibration?: LoopbackCalibration,
  seed = 1,
  names?: StackNames,
): Prediction {
  // The load run's members join one after another, meeting by meeting, evenly over its ramp
  // (stack-run.ts), and the simulator's workload does the same.
  const modelled = loopbackModel(plan.scenario, calibration);
  // With the stack's names: its meetings' and handlers' ids, which core's placement hashes to
  // choose among handlers that tie on load (rank.ts `spreadRanks`), so it places as the stack's
  // controller does.
  const scenario: Scenario = {
    ...modelled,
    regions:
      names === undefined
        ? modelled.regions
        : modelled.regions.map((region, i) =>
            i === 0 ? { ...region, mediaHandlerIds: [...names.handlers] } : region,
          ),
    workload: {
      ...modelled.workload,
      arrivals: 'even',
      joinSpreadSeconds: plan.rampSeconds,
      ...(names === undefined ? {} : { meetingIds: [...names.meetings] }),
    },
  };
  const crash = handlerCrashOf(plan);
  let failover: PredictedFailover | null = null;
  let recorders: PredictionRecorders | undefined;
  const { report } = runScenario({
    scenario,
    seed,
    beforeRun: (sim, world) => {
      const metrics = world.metrics;
      recorders = {
        joinStages: metrics.joinStages,
        joinToMedia: metrics.joinToMedia,
        forwarding: metrics.forwarding,
      };
      if (crash === undefined) return;
      const at = Math.round(crash.atSeconds * 1_000_000);
      // Scheduled after the world's own fault event at the same time: the crash has happened.
      sim.at(at, 'compare.failover-probe', 'compare', () => {
        const crashed = [...world.handlersById.values()].find((h) => !h.healthy);
        if (crashed === undefined) return;
        const members = [...world.clients.values()]
          .filter((c) => c.state === 'connected' && c.handler === crashed)
          .map((c) => c.id);
        const back = new Map<ParticipantId, number>();
        const lastHopUs =
          (scenario.network.clientAccessMs + scenario.network.intraRegionMs) * 1000 +
          scenario.serviceTimes.forwardingMs * 1000;
        const frameUs = 1_000_000 / scenario.media.packetsPerSecond;
        const random = sim.random.stream('compare/failover');
        const probe = () => {
          for (const id of members) {
            if (back.has(id)) continue;
            const publishers = restored(world, id, crashed.id);
            if (publishers === 0) continue;
            let wait = frameUs;
            for (let p = 0; p < publishers; p++) wait = Math.min(wait, random.uniform(0, frameUs));
            back.set(id, sim.now - at + wait + lastHopUs);
          }
          failover = {
            crashedHandler: crashed.id,
            crashedAtSeconds: crash.atSeconds,
            members: members.length,
            crashToFirstFrameMs: members.map((id) => {
              const us = back.get(id);
              return us === undefined ? null : Math.round(us) / 1000;
            }),
            maxMs:
              back.size === members.length && members.length > 0
                ? Math.round(Math.max(...back.values())) / 1000
                : null,
          };
          if (back.size < members.length && sim.now - at < PROBE_LIMIT_US)
            sim.after(PROBE_US, 'compare.failover-probe', 'compare', probe);
        };
        probe();
      });
    },
  });
  if (recorders === undefined) throw new Error('the simulator ran without its world');
  return { scenario, report, failover, recorders };
}

/**
 * When the member is on a live handler other than `crashed` and gets every stream it asks for:
 * the number of publishers it receives; 0 until then.
 */
function restored(world: World, id: ParticipantId, crashed: string): number {
  const client = world.clients.get(id);
  if (client === undefined || client.state !== 'connected') return 0;
  const handler = client.handler;
  if (handler === undefined || handler.id === crashed || !handler.healthy) return 0;
  const meeting = world.meetings.get(client.meeting.id);
  const demand = meeting?.machine?.demand ?? [];
  const mine = demand.filter((d) => d.subscriber === id);
  if (meeting === undefined || mine.length === 0) return 0;
  if (!mine.every((d) => isDelivered(meeting.installed, d))) return 0;
  return new Set(mine.map((d) => d.publisher)).size;
}
