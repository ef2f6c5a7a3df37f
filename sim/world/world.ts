import {
  controllerId,
  handlerId,
  regionId,
  type ControllerId,
  type HandlerId,
  type MeetingId,
  type ParticipantId,
  type RegionId,
} from '../../core/ids.ts';
import { createRegistry } from '../../core/placement/index.ts';
import { ControllerEndpoint } from '../../core/mc/endpoint.ts';
import { type HandlerReport } from '../../core/mc/handlers.ts';
import { DEFAULT_MEETING_TIMING, type MeetingOutput } from '../../core/mc/meeting.ts';
import { type LatencyTable } from '../../core/routing/index.ts';
import type { Simulation } from '../engine/simulation.ts';
import type { SimRandom } from '../engine/random.ts';
import { forwardingRandom } from './service-times.ts';
import { seconds, type Micros } from '../engine/time.ts';
import { Network } from '../net/network.ts';
import type { Scenario } from '../scenario/schema.ts';
import { Metrics } from '../report/metrics.ts';
import { DEFAULT_AUTOSCALER_BOUNDS, desiredReplicas } from '../../core/ops/autoscaler.ts';
import { ViolationLog } from '../invariants/violations.ts';
import { AuthController, TokenValidator, USER_SCOPES, signingPolicy } from './auth.ts';
import { MediaHandler } from './media-handler.ts';
import { QUALITY_STAGES } from '../../core/backpressure/quality.ts';
import type { MeetingState } from './meeting.ts';
import { oneWayTable } from './plans.ts';
import { scheduleWorkload } from './workload.ts';
import {
  HEARTBEAT_INTERVAL,
  LOAD_REPORT_INTERVAL,
  UTILISATION_SAMPLE_INTERVAL,
  MEDIA_KEY_GRACE_MS,
  MLS_COMMIT_TIMEOUT_MS,
  type ControllerNode,
  type WorldMutations,
  type RegionServices,
  type Client,
} from './nodes.ts';
import { toController, drive, registryTicks, registerController } from './controllers.ts';
import { heldEpochs } from './keys.ts';
import { scheduleFaults } from './faults.ts';

export type { WorldMutations } from './nodes.ts';

/**
 * The simulated world: per region an Auth Controller, a Global Controller, Meeting Controllers
 * and Media Handlers, and the clients of the workload walking the spec's join flow. Every
 * decision is core's (claims and signing keys, controller placement, layouts, routing plans and
 * their make-before-break transitions, bandwidth state and admission); the world only moves
 * messages through the simulated network and keeps time.
 */
export class World {
  readonly network: Network;
  readonly metrics = new Metrics();
  readonly violations: ViolationLog;
  readonly regions = new Map<RegionId, RegionServices>();
  readonly handlersById = new Map<HandlerId, MediaHandler>();
  readonly meetings = new Map<MeetingId, MeetingState>();
  /** The Global Controllers' assignment of meetings to controllers (shared, as in Redis). */
  readonly controllerOf = new Map<MeetingId, ControllerNode>();
  readonly controllersById = new Map<ControllerId, ControllerNode>();
  readonly clients = new Map<ParticipantId, Client>();
  /** Scratch list for choosing who speaks next (reused: one turn at a time). */
  readonly speakerCandidates: Client[] = [];
  /** Each message sender's network random stream, by sender name. */
  readonly networkStreams = new Map<string, SimRandom>();
  /** The forwarding draws' random stream, asked for only when a draw needs it. */
  readonly forwardingDraws = (): SimRandom => forwardingRandom(this);
  /**
   * With `serviceTimes.queueing`: when each service process (by network node id) is next free;
   * it serves one request at a time, in arrival order.
   */
  readonly busyUntil = new Map<string, Micros>();
  readonly latency: LatencyTable;
  readonly startEpochMs: number;
  readonly streamBps: number;
  readonly layoutNames: string[];
  readonly layoutWeights: number[];
  activeMeetings = 0;
  /** When a partition, heal, failure or recovery last changed the topology. */
  lastTopologyChange: Micros = 0;
  /**
   * The same less handler failures, which the convergence check allows for per meeting (from
   * when the meeting's controller took the handler for lost: `MeetingState.failedHandlers`).
   */
  lastOtherTopologyChange: Micros = 0;
  connectedParticipants = 0;
  /** Streams the handlers carry now, in and out, over every handler. */
  streamsCarried = 0;
  /** The join reply the controller gave during the join being served, if any. */
  joinReply: MeetingOutput | undefined;
  /** The controller's answer to the token request being served, if any. */
  tokenReply: MeetingOutput | undefined;
  /** When the handlers' current load-report interval began (epoch ms). */
  loadTickMs: number;
  /** Connection keys of client sessions, unique in the world. */
  nextConnection = 1;
  /** Connection-token nonces, unique in the world. */
  nextNonce = 1;

  constructor(
    readonly sim: Simulation,
    readonly scenario: Scenario,
    readonly mutations: WorldMutations = {},
  ) {
    this.violations = new ViolationLog(sim.seed, () => sim.now);
    this.network = new Network({
      regions: scenario.regions.map((r) => r.name),
      ...scenario.network,
    });
    this.latency = oneWayTable(scenario);
    this.streamBps = scenario.media.streamKbps * 1000;
    this.startEpochMs =
      Math.ceil(1_700_000_000_000 / (scenario.keys.signingRotationSeconds * 1000)) *
        scenario.keys.signingRotationSeconds *
        1000 -
      scenario.keys.startSecondsBeforeRotation * 1000;
    // A warm start is a platform already running: its handlers have reported before the first
    // join, so their first report of the run is at its start, not one interval in (the
    // controllers know a handler only from its reports).
    this.loadTickMs = scenario.workload.warmStart
      ? this.startEpochMs - LOAD_REPORT_INTERVAL / 1000
      : this.startEpochMs;
    this.layoutNames = Object.keys(scenario.workload.layouts).filter(
      (n) => (scenario.workload.layouts[n] ?? 0) > 0,
    );
    this.layoutWeights = this.layoutNames.map((n) => scenario.workload.layouts[n] ?? 0);
    this.buildRegions();
  }

  /** Signing keys retired so far, over every Auth Controller. */
  signingRotations(): number {
    let total = 0;
    for (const region of this.regions.values()) total += region.ac.rotations;
    return total;
  }

  /**
   * Each running meeting's media-key epochs its controller has not erased, the epochs it has
   * ordered erased, and the epochs each member holds now (its pending erasures applied).
   */
  keyHoldings(): {
    readonly live: readonly number[];
    readonly erased: readonly number[];
    readonly members: readonly ReadonlySet<number>[];
  }[] {
    return [...this.meetings.values()].map((meeting) => ({
      live: meeting.machine?.liveEpochs() ?? [],
      erased: [...meeting.erasedEpochs],
      members: [...meeting.memberIds()].flatMap((id) => {
        const client = this.clients.get(id);
        return client === undefined ? [] : [new Set(heldEpochs(this, client))];
      }),
    }));
  }

  /** Epoch milliseconds at the current virtual time: what core's clocks read. */
  epochMs(): number {
    return this.startEpochMs + Math.floor(this.sim.now / 1000);
  }

  /** Schedules the workload, the faults and the periodic reports. */
  start(): void {
    for (const region of this.regions.values()) {
      region.ac.start(this.scenario.workload.warmStart);
      for (const controller of region.controllers) {
        registerController(this, controller);
        drive(this, controller);
      }
    }
    this.sim.after(0, 'gc.tick', 'world', () => registryTicks(this));
    this.sim.after(0, 'world.load-reports', 'world', () => this.loadReports());
    this.sim.after(0, 'world.sample', 'world', () => this.sampleUtilisation());
    scheduleWorkload(this);
    scheduleFaults(this);
    if (this.scenario.autoscaling.enabled) {
      this.sim.after(
        seconds(this.scenario.autoscaling.intervalSeconds),
        'world.autoscale',
        'world',
        () => this.autoscale(),
      );
    }
  }

  /**
   * Core's autoscaler decides each region's media-handler count from the streams and network
   * load its handlers carry (the spec's 8,000 streams / 8 Gbps per instance) and from their
   * bandwidth utilisation standing in for CPU (a forwarding-only handler's CPU follows its
   * throughput; memory is not modelled). Scale-out adds handlers after the provisioning delay;
   * scale-in is not simulated.
   */
  autoscale(): void {
    const config = this.scenario.autoscaling;
    for (const region of this.regions.values()) {
      const healthy = region.handlers.filter((h) => h.healthy);
      const loadBps = healthy.reduce((sum, h) => sum + h.loadBps, 0);
      const initial = this.scenario.regions.find((r) => r.name === region.name)?.mediaHandlers ?? 1;
      const decision = desiredReplicas(
        {
          service: 'mh',
          currentReplicas: healthy.length + region.provisioning,
          metrics: {
            cpu:
              healthy.length === 0
                ? 0
                : loadBps / healthy.reduce((sum, h) => sum + h.capacityBps, 0),
            memory: 0,
            streams: loadBps / this.streamBps,
            networkGbps: loadBps / 1e9,
          },
          lastScaledAt: region.lastScaledAtMs,
        },
        this.epochMs(),
        {
          ...DEFAULT_AUTOSCALER_BOUNDS,
          minReplicas: initial,
          maxReplicas: Math.ceil(initial * config.maxFactor),
        },
      );
      if (!decision.ok) continue;
      const missing = decision.value.desiredReplicas - healthy.length - region.provisioning;
      if (missing <= 0) continue;
      this.metrics.scaleOuts += missing;
      region.lastScaledAtMs = this.epochMs();
      region.provisioning += missing;
      this.sim.note(`scale-out ${region.name} +${missing} (${decision.value.reason.kind})`);
      this.sim.after(
        seconds(config.provisionSeconds),
        'mh.provisioned',
        `region/${region.name}`,
        () => {
          region.provisioning -= missing;
          for (let i = 0; i < missing; i++) this.addHandler(region);
        },
      );
    }
    this.sim.after(seconds(config.intervalSeconds), 'world.autoscale', 'world', () =>
      this.autoscale(),
    );
  }

  /** The id of a region's handler `index`: the scenario's when it names one. */
  private handlerIdAt(region: RegionId, index: number): string {
    const named = this.scenario.regions.find((r) => r.name === region)?.mediaHandlerIds;
    return named?.[index] ?? `mh/${region}/${index}`;
  }

  addHandler(region: RegionServices): MediaHandler {
    const index = region.handlers.length;
    const handler = new MediaHandler(
      handlerId(this.handlerIdAt(region.name, index)),
      region.name,
      `${region.name}-dc${(index % 2) + 1}`,
      this.scenario.media.handlerCapacityMbps * 1_000_000,
      LOAD_REPORT_INTERVAL / 1000,
      this.loadTickMs,
      this.sim.now,
    );
    region.handlers.push(handler);
    this.handlersById.set(handler.id, handler);
    this.metrics.handlerNames = [...this.handlersById.keys()];
    return handler;
  }

  // ---------------------------------------------------------------- construction

  buildRegions(): void {
    const allAcs = this.scenario.regions.map(
      (spec) =>
        new AuthController(
          this.sim,
          spec.name,
          signingPolicy(
            this.scenario.keys.signingRotationSeconds,
            this.scenario.keys.signingOverlapSeconds,
            spec.name,
          ),
          () => this.epochMs(),
        ),
    );
    for (const [index, spec] of this.scenario.regions.entries()) {
      const name = regionId(spec.name);
      const ac = allAcs[index] as AuthController;
      this.regions.set(name, {
        name,
        ac,
        gcNode: { id: `gc/${name}`, region: name, isClient: false },
        gcValidator: new TokenValidator(allAcs, 'dark-tower', USER_SCOPES, () => this.epochMs()),
        registry: createRegistry(),
        controllers: Array.from({ length: spec.meetingControllers }, (_, i) =>
          this.newController(controllerId(`mc/${name}/${i}`), name, allAcs),
        ),
        handlers: [],
        provisioning: 0,
        lastScaledAtMs: null,
      });
      const region = this.regionOf(name);
      for (let i = 0; i < spec.mediaHandlers; i++) this.addHandler(region);
    }
    this.loadTickMs = this.startEpochMs;
  }

  newController(
    id: ControllerId,
    region: RegionId,
    acs: readonly AuthController[],
  ): ControllerNode {
    const controller: ControllerNode = {
      id,
      region,
      node: { id, region, isClient: false },
      validator: new TokenValidator(acs, 'dark-tower', USER_SCOPES, () => this.epochMs()),
      endpoint: new ControllerEndpoint(
        {
          controller: id,
          region,
          heartbeatIntervalMs: HEARTBEAT_INTERVAL / 1000,
          meetings: {
            ...DEFAULT_MEETING_TIMING,
            crossRegion: this.scenario.media.crossRegion,
            latencyMs: this.latency,
            streamBitrateBps: this.streamBps,
            keyPolicy: {
              rotationIntervalMs: this.scenario.keys.mediaKeyRotationSeconds * 1000,
              deletionGraceMs: MEDIA_KEY_GRACE_MS,
            },
            ...(this.scenario.keys.mls
              ? {
                  mls: {
                    commitTimeoutMs: MLS_COMMIT_TIMEOUT_MS,
                    rotationIntervalMs: this.scenario.keys.mediaKeyRotationSeconds * 1000,
                  },
                }
              : {}),
            ...(this.mutations.meeting === undefined ? {} : { mutations: this.mutations.meeting }),
          },
        },
        this.epochMs(),
      ),
      timer: undefined,
      timerAt: 0,
      signingUntil: 0,
      healthy: true,
      handlersLostAt: new Map(),
    };
    this.controllersById.set(id, controller);
    return controller;
  }

  /**
   * Each Media Handler's forwarder closes its reporting interval (the traffic it carried over
   * it, its bandwidth band with hysteresis) and publishes a load report to its region's store;
   * the handlers of a region read each other's reports (for redirects) and every controller
   * reads the reports of the regions it can reach. A controller knows handlers only from
   * these reports and their silence.
   */
  loadReports(): void {
    const now = this.epochMs();
    this.loadTickMs = now;
    const fresh = new Map<RegionId, HandlerReport[]>();
    for (const region of this.regions.values()) {
      const reports: HandlerReport[] = [];
      for (const handler of region.handlers) {
        if (!handler.healthy) continue;
        for (const out of handler.tick(
          this.sim.now,
          now,
          this.scenario.serviceTimes.forwardingMs,
        )) {
          if (out.type === 'band-changed') {
            this.sim.note(`band ${handler.id} ${out.from}->${out.to}`);
          } else if (out.type === 'quality-changed') {
            this.sim.note(`quality ${handler.id} ${out.from}->${out.to}`);
            if (QUALITY_STAGES.indexOf(out.to) > QUALITY_STAGES.indexOf(out.from))
              this.metrics.qualityEscalations++;
          } else if (out.type === 'load-report') {
            const report: HandlerReport = {
              ...out.report,
              site: handler.site,
              capacityBps: handler.capacityBps,
            };
            reports.push(report);
          }
        }
      }
      for (const handler of region.handlers) {
        if (!handler.healthy) continue;
        for (const report of reports)
          if (report.handlerId !== handler.id)
            handler.forwarder.handle({ type: 'peer-load-report', report }, now);
      }
      fresh.set(region.name, reports);
    }
    for (const controller of this.controllersById.values()) {
      if (!controller.healthy) continue;
      const reports: HandlerReport[] = [];
      for (const [region, list] of fresh) {
        if (!this.network.isBlocked(region, controller.region)) reports.push(...list);
      }
      toController(this, controller, { type: 'load-reports', reports });
    }
    this.sim.after(LOAD_REPORT_INTERVAL, 'world.load-reports', 'world', () => this.loadReports());
  }

  sampleUtilisation(): void {
    this.metrics.utilisation.push({
      time: this.sim.now,
      byHandler: [...this.handlersById.values()].map((h) => (h.healthy ? h.utilisation : 0)),
    });
    this.sim.after(UTILISATION_SAMPLE_INTERVAL, 'world.sample', 'world', () =>
      this.sampleUtilisation(),
    );
  }

  regionOf(name: RegionId | string): RegionServices {
    const region = this.regions.get(name as RegionId);
    if (region === undefined) throw new Error(`unknown region ${name}`);
    return region;
  }

  allControllers(): ControllerNode[] {
    return [...this.regions.values()].flatMap((r) => r.controllers);
  }
}
