import {
  controllerId,
  handlerId,
  meetingId,
  participantId,
  regionId,
  type ControllerId,
  type HandlerId,
  type MeetingId,
  type ParticipantId,
  type RegionId,
} from '../../core/ids.ts';
import { admitParticipant, type HandlerLoadReport } from '../../core/backpressure/admission.ts';
import type { LayoutRequest } from '../../core/layout/types.ts';
import {
  createRegistry,
  handleRegistryEvent,
  type ControllerRegistry,
} from '../../core/placement/index.ts';
import { placeMeeting, type PlacementOptions } from '../../core/gc/placement.ts';
import { ControllerEndpoint, type ControllerInput } from '../../core/mc/endpoint.ts';
import { DEFAULT_HANDLER_VIEW_POLICY, type HandlerReport } from '../../core/mc/handlers.ts';
import {
  DEFAULT_MEETING_TIMING,
  ownerOf,
  type MeetingInput,
  type MeetingMutations,
  type MeetingOutput,
} from '../../core/mc/meeting.ts';
import { createConnectionId } from '../../core/protocol/connection-id.ts';
import {
  routesOf,
  type LatencyTable,
  type PlanStep,
  type Route,
  type StreamDemand,
} from '../../core/routing/index.ts';
import type { StreamPaths } from '../../core/routing/graph.ts';
import type { Simulation, Timer } from '../engine/simulation.ts';
import type { SimRandom } from '../engine/random.ts';
import { formatTime, ms, seconds, type Micros } from '../engine/time.ts';
import { Network, type NetworkNode } from '../net/network.ts';
import type { Scenario } from '../scenario/schema.ts';
import { Metrics } from '../report/metrics.ts';
import { DEFAULT_AUTOSCALER_BOUNDS, desiredReplicas } from '../../core/ops/autoscaler.ts';
import { ViolationLog } from '../invariants/violations.ts';
import { checkNewPlan, checkTransition } from '../invariants/plan.ts';
import { isDelivered } from '../invariants/convergence.ts';
import { checkTokenVerdict } from '../invariants/tokens.ts';
import { checkEpochs } from '../invariants/epochs.ts';
import {
  AuthController,
  TokenValidator,
  USER_SCOPES,
  signingPolicy,
  type SimToken,
} from './auth.ts';
import { MediaHandler } from './media-handler.ts';
import { MeetingState } from './meeting.ts';
import { emptyPlan, firstPublishOf, oneWayTable } from './plans.ts';
import { drawMeetingSize, layoutRequestNamed } from './workload.ts';

const REQUEST_TIMEOUT = seconds(2);
const MAX_ATTEMPTS = 3;
const HEARTBEAT_INTERVAL = seconds(1);
const LOAD_REPORT_INTERVAL = seconds(1);
const UTILISATION_SAMPLE_INTERVAL = seconds(1);
/** A client notices a dead signaling connection after this long without keep-alives. */
const SIGNALING_KEEPALIVE_TIMEOUT = seconds(6);
/** Controllers notice a failed handler when its load reports stop (core/mc's handler view). */
const FAILURE_DETECTION = ms(DEFAULT_HANDLER_VIEW_POLICY.detectionMs);
/** A client whose controller failed is back on a live controller within this (keep-alive, rejoin). */
const FAILOVER_BOUND = SIGNALING_KEEPALIVE_TIMEOUT + seconds(4);
const REQUEST_BYTES = 600;
const MEDIA_KEY_GRACE_MS = 30_000;
const PACKET_BYTES = 1200;

interface ControllerNode {
  readonly id: ControllerId;
  readonly region: RegionId;
  readonly node: NetworkNode;
  readonly validator: TokenValidator;
  /** The controller's machine (core/mc), driven by the world while the controller is up. */
  readonly endpoint: ControllerEndpoint;
  /** The timer armed for the endpoint's deadline, and when it fires. */
  timer: Timer | undefined;
  timerAt: Micros;
  healthy: boolean;
}

/** Deliberate breakages of core's machines, for tests that the simulator notices each. */
export interface WorldMutations {
  readonly meeting?: MeetingMutations;
  readonly placement?: PlacementOptions;
}

interface RegionServices {
  readonly name: RegionId;
  readonly ac: AuthController;
  readonly gcNode: NetworkNode;
  readonly gcValidator: TokenValidator;
  registry: ControllerRegistry;
  readonly controllers: ControllerNode[];
  readonly handlers: MediaHandler[];
  /** The regional store of handler load reports that admission reads. */
  readonly loadReports: Map<HandlerId, HandlerLoadReport>;
  /** Handlers ordered by the autoscaler and not yet taking traffic. */
  provisioning: number;
  lastScaledAtMs: number | null;
}

type ClientState = 'idle' | 'joining' | 'connected' | 'left';

interface Client {
  readonly id: ParticipantId;
  readonly entity: string;
  readonly meeting: MeetingState;
  readonly region: RegionId;
  readonly node: NetworkNode;
  readonly random: SimRandom;
  layout: LayoutRequest;
  state: ClientState;
  token: SimToken | undefined;
  controller: ControllerNode | undefined;
  handler: MediaHandler | undefined;
  joinStartedAt: Micros;
  awaitingFirstMedia: boolean;
  /** Bumped on every disconnect so stale callbacks of an earlier attempt do nothing. */
  generation: number;
  /** Whether the client has been admitted once (reconnects are not new admissions). */
  admitted: boolean;
  /**
   * Media-key epochs the client received, less the erasures it has applied: read it through
   * `heldEpochs`, which applies the erasures the controller ordered since.
   */
  readonly epochs: Set<number>;
  /** How many of its meeting's `erasedEpochs` the client has applied to `epochs`. */
  erasuresApplied: number;
  /** Key deliveries sent to the client and not yet received. */
  pendingKeys: number;
  /** The client's controller failed and the client has not rejoined another yet. */
  signalingLost: boolean;
  /** The client's last join attempt failed (it did not leave of its own accord). */
  gaveUp: boolean;
  /** The handler the client last told its controller it is connected to. */
  reportedHandler: HandlerId | undefined;
  /** This join already went back to the Global Controller after its controller did not answer. */
  lookedUpAgain: boolean;
}

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
  private readonly regions = new Map<RegionId, RegionServices>();
  private readonly handlersById = new Map<HandlerId, MediaHandler>();
  private readonly meetings = new Map<MeetingId, MeetingState>();
  /** The Global Controllers' assignment of meetings to controllers (shared, as in Redis). */
  private readonly controllerOf = new Map<MeetingId, ControllerNode>();
  private readonly controllersById = new Map<ControllerId, ControllerNode>();
  private readonly clients = new Map<ParticipantId, Client>();
  /** Each message sender's network random stream, by sender name. */
  private readonly networkStreams = new Map<string, SimRandom>();
  private readonly latency: LatencyTable;
  private readonly startEpochMs: number;
  private readonly streamBps: number;
  private readonly layoutNames: string[];
  private readonly layoutWeights: number[];
  private activeMeetings = 0;
  /** When a partition, heal, failure or recovery last changed the topology. */
  private lastTopologyChange: Micros = 0;
  private connectedParticipants = 0;
  /** Streams the handlers carry now, in and out, over every handler. */
  private streamsCarried = 0;
  /** The join reply the controller gave during the join being served, if any. */
  private joinReply: MeetingOutput | undefined;

  constructor(
    readonly sim: Simulation,
    readonly scenario: Scenario,
    private readonly mutations: WorldMutations = {},
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
        return client === undefined ? [] : [new Set(this.heldEpochs(client))];
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
      region.ac.start();
      for (const controller of region.controllers) {
        this.registerController(controller);
        this.drive(controller);
      }
    }
    this.sim.after(0, 'gc.tick', 'world', () => this.registryTicks());
    this.sim.after(0, 'world.load-reports', 'world', () => this.loadReports());
    this.sim.after(0, 'world.sample', 'world', () => this.sampleUtilisation());
    this.scheduleWorkload();
    this.scheduleFaults();
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
  private autoscale(): void {
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

  private addHandler(region: RegionServices): MediaHandler {
    const index = region.handlers.length;
    const handler = new MediaHandler(
      handlerId(`mh/${region.name}/${index}`),
      region.name,
      `${region.name}-dc${(index % 2) + 1}`,
      this.scenario.media.handlerCapacityMbps * 1_000_000,
    );
    region.handlers.push(handler);
    this.handlersById.set(handler.id, handler);
    this.metrics.handlerNames = [...this.handlersById.keys()];
    return handler;
  }

  // ---------------------------------------------------------------- construction

  private buildRegions(): void {
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
        loadReports: new Map(),
        provisioning: 0,
        lastScaledAtMs: null,
      });
      const region = this.regionOf(name);
      for (let i = 0; i < spec.mediaHandlers; i++) this.addHandler(region);
    }
  }

  private newController(
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
            latencyMs: this.latency,
            streamBitrateBps: this.streamBps,
            keyPolicy: {
              rotationIntervalMs: this.scenario.keys.mediaKeyRotationSeconds * 1000,
              deletionGraceMs: MEDIA_KEY_GRACE_MS,
            },
            ...(this.mutations.meeting === undefined ? {} : { mutations: this.mutations.meeting }),
          },
        },
        this.epochMs(),
      ),
      timer: undefined,
      timerAt: 0,
      healthy: true,
    };
    this.controllersById.set(id, controller);
    return controller;
  }

  private registerController(controller: ControllerNode): void {
    for (const region of this.regions.values()) {
      this.updateRegistry(region, {
        type: 'register',
        id: controller.id,
        region: controller.region,
        endpoint: controller.node.id,
      });
    }
  }

  private updateRegistry(
    region: RegionServices,
    event: Parameters<typeof handleRegistryEvent>[1],
  ): void {
    region.registry = handleRegistryEvent(region.registry, event, this.epochMs()).registry;
  }

  // ---------------------------------------------------------------- periodic work

  /** Each Global Controller's registry marks controllers silent past the timeout unhealthy. */
  private registryTicks(): void {
    for (const region of this.regions.values()) this.updateRegistry(region, { type: 'tick' });
    this.sim.after(HEARTBEAT_INTERVAL, 'gc.tick', 'world', () => this.registryTicks());
  }

  /** A controller's heartbeat reaches every Global Controller its region can reach. */
  private heartbeat(controller: ControllerNode, meetingCount: number): void {
    for (const region of this.regions.values()) {
      if (this.network.isBlocked(controller.region, region.name)) continue;
      this.updateRegistry(region, {
        type: 'heartbeat',
        id: controller.id,
        meetingCount,
        healthy: true,
      });
    }
  }

  /**
   * Media Handlers refresh their bandwidth state and publish load reports to their region's
   * store; every controller reads the reports of the regions it can reach. A controller knows
   * handlers only from these reports and their silence.
   */
  private loadReports(): void {
    const now = this.epochMs();
    const fresh = new Map<RegionId, HandlerReport[]>();
    for (const region of this.regions.values()) {
      const reports: HandlerReport[] = [];
      for (const handler of region.handlers) {
        if (!handler.healthy) continue;
        const state = handler.updateBandwidthState();
        const report: HandlerReport = {
          handlerId: handler.id,
          region: region.name,
          site: handler.site,
          capacityBps: handler.capacityBps,
          utilisation: handler.utilisation,
          state,
          reportedAt: now,
        };
        region.loadReports.set(handler.id, report);
        reports.push(report);
      }
      fresh.set(region.name, reports);
    }
    for (const controller of this.controllersById.values()) {
      if (!controller.healthy) continue;
      const reports: HandlerReport[] = [];
      for (const [region, list] of fresh) {
        if (!this.network.isBlocked(region, controller.region)) reports.push(...list);
      }
      this.toController(controller, { type: 'load-reports', reports });
    }
    this.sim.after(LOAD_REPORT_INTERVAL, 'world.load-reports', 'world', () => this.loadReports());
  }

  private sampleUtilisation(): void {
    this.metrics.utilisation.push({
      time: this.sim.now,
      byHandler: [...this.handlersById.values()].map((h) => (h.healthy ? h.utilisation : 0)),
    });
    this.sim.after(UTILISATION_SAMPLE_INTERVAL, 'world.sample', 'world', () =>
      this.sampleUtilisation(),
    );
  }

  // ---------------------------------------------------------------- workload

  private scheduleWorkload(): void {
    const workload = this.scenario.workload;
    const random = this.sim.random.stream('workload');
    const arrivalMean = seconds(workload.meanMeetingSeconds) / workload.concurrentMeetings;
    let index = 0;
    if (workload.warmStart) {
      for (; index < workload.concurrentMeetings; index++) {
        const start = random.uniform(0, seconds(workload.joinSpreadSeconds));
        const meetingIndex = index;
        this.sim.at(start, 'meeting.start', `meeting/m${meetingIndex}`, () =>
          this.startMeeting(meetingIndex),
        );
      }
    }
    const arrive = (at: Micros): void => {
      const meetingIndex = index++;
      this.sim.at(at, 'meeting.start', `meeting/m${meetingIndex}`, () => {
        this.startMeeting(meetingIndex);
        arrive(this.sim.now + random.exponential(arrivalMean));
      });
    };
    arrive(random.exponential(arrivalMean));
  }

  private startMeeting(index: number): void {
    const workload = this.scenario.workload;
    const random = this.sim.random.stream(`meeting/m${index}`);
    const region = this.pickRegion(random);
    const meeting = new MeetingState(
      meetingId(`m${index}`),
      region,
      random.chance(this.scenario.media.packetSample),
    );
    this.meetings.set(meeting.id, meeting);
    this.activeMeetings++;
    this.metrics.meetingsStarted++;
    this.metrics.peakMeetings = Math.max(this.metrics.peakMeetings, this.activeMeetings);
    const size = drawMeetingSize(random, workload.participants);
    const duration = random.exponential(seconds(workload.meanMeetingSeconds));
    for (let p = 0; p < size; p++) {
      const client = this.createClient(meeting, p, random);
      this.sim.after(
        random.uniform(0, seconds(workload.joinSpreadSeconds)),
        'client.arrive',
        client.entity,
        () => this.beginJoin(client),
      );
      this.scheduleClientLife(client, duration);
    }
    this.sim.after(duration, 'meeting.end', `meeting/${meeting.id}`, () =>
      this.endMeeting(meeting),
    );
    this.scheduleSpeakerTurn(meeting, random);
    if (meeting.packetSampled) this.schedulePacketRound(meeting);
  }

  // ---------------------------------------------------------------- per-packet sample

  /**
   * A sampled meeting sends one packet per published stream every 1/packetsPerSecond seconds.
   * Each copy a subscriber should get crosses the legs the handlers have installed (uplink,
   * handler-to-handler, downlink), each leg a datagram through the simulated network with its
   * own jitter and loss: the report's packet loss and per-packet latencies come from here.
   */
  private schedulePacketRound(meeting: MeetingState): void {
    const interval = seconds(1 / this.scenario.media.packetsPerSecond);
    const random = this.sim.random.stream(`packets/${meeting.id}`);
    const round = (): void => {
      if (meeting.ended) return;
      for (const paths of meeting.installed.allPaths()) this.sendSampledPacket(paths, random);
      this.sim.after(interval, 'packet.round', `meeting/${meeting.id}`, round);
    };
    this.sim.after(interval, 'packet.round', `meeting/${meeting.id}`, round);
  }

  private sendSampledPacket(paths: StreamPaths, random: SimRandom): void {
    const publisher = this.clients.get(paths.stream.publisher);
    const firstId = paths.publishedAt[0];
    const first = firstId === undefined ? undefined : this.handlersById.get(firstId);
    if (publisher?.state !== 'connected' || first === undefined || !first.healthy) return;
    const hops = paths.hops();
    const forwarding = ms(this.scenario.serviceTimes.forwardingMs);
    for (const [subscriberId, handlers] of paths.deliveries) {
      const subscriber = this.clients.get(subscriberId);
      const lastId = handlers[0];
      const last = lastId === undefined ? undefined : this.handlersById.get(lastId);
      if (subscriber?.state !== 'connected' || last === undefined) continue;
      this.metrics.packets.sent++;
      const legs: [NetworkNode, NetworkNode][] = [[publisher.node, first.node]];
      const cascadeHops = hops.get(last.id) ?? 0;
      for (let hop = 0; hop < cascadeHops; hop++) legs.push([first.node, last.node]);
      legs.push([last.node, subscriber.node]);
      let total = 0;
      let lost = false;
      for (const [from, to] of legs) {
        const transit = this.network.send(from, to, PACKET_BYTES, false, random);
        if (!transit.delivered) {
          lost = true;
          break;
        }
        total += transit.delay;
      }
      if (lost) {
        this.metrics.packets.lost++;
        continue;
      }
      const handlerPart =
        forwarding * (cascadeHops + 1) +
        (cascadeHops > 0 ? this.network.baseLatency(first.node, last.node) * cascadeHops : 0);
      this.metrics.forwarding.record(handlerPart);
      this.metrics.mediaPath.record(total + forwarding * (cascadeHops + 1));
    }
  }

  private pickRegion(random: SimRandom): RegionId {
    const specs = this.scenario.regions;
    const total = specs.reduce((sum, r) => sum + r.userWeight, 0);
    let draw = random.uniform(0, total);
    for (const spec of specs) {
      draw -= spec.userWeight;
      if (draw < 0) return regionId(spec.name);
    }
    return regionId(specs[specs.length - 1]?.name ?? '');
  }

  private createClient(meeting: MeetingState, index: number, meetingRandom: SimRandom): Client {
    const id = participantId(`${meeting.id}/p${index}`);
    const entity = `client/${id}`;
    const random = this.sim.random.stream(entity);
    const region = meetingRandom.chance(this.scenario.workload.crossRegionFraction)
      ? this.pickRegion(random)
      : meeting.region;
    const client: Client = {
      id,
      entity,
      meeting,
      region,
      node: { id: entity, region, isClient: true },
      random,
      layout: this.drawLayout(random),
      state: 'idle',
      token: undefined,
      controller: undefined,
      handler: undefined,
      joinStartedAt: 0,
      awaitingFirstMedia: false,
      generation: 0,
      admitted: false,
      epochs: new Set(),
      erasuresApplied: 0,
      pendingKeys: 0,
      signalingLost: false,
      gaveUp: false,
      reportedHandler: undefined,
      lookedUpAgain: false,
    };
    this.clients.set(id, client);
    return client;
  }

  private drawLayout(random: SimRandom): LayoutRequest {
    const total = this.layoutWeights.reduce((a, b) => a + b, 0);
    let draw = random.uniform(0, total);
    let name = this.layoutNames[0] ?? 'grid';
    for (let i = 0; i < this.layoutNames.length; i++) {
      draw -= this.layoutWeights[i] ?? 0;
      if (draw < 0) {
        name = this.layoutNames[i] ?? name;
        break;
      }
    }
    return layoutRequestNamed(name);
  }

  /** Leaves, reconnects, layout changes and screen shares of one client. */
  private scheduleClientLife(client: Client, meetingDuration: Micros): void {
    const workload = this.scenario.workload;
    const random = client.random;
    if (random.chance(workload.earlyLeaveProbability)) {
      this.sim.after(random.uniform(0, meetingDuration), 'client.leave', client.entity, () =>
        this.leave(client),
      );
    }
    if (random.chance(workload.reconnectProbability)) {
      this.sim.after(random.uniform(0, meetingDuration), 'client.drop', client.entity, () =>
        this.dropAndReconnect(client),
      );
    }
    if (random.chance(workload.screenShareProbability)) {
      const start = random.uniform(0, meetingDuration);
      const stop = start + random.exponential(seconds(workload.meanScreenShareSeconds));
      this.sim.after(start, 'client.share-start', client.entity, () =>
        this.setScreenShare(client, true),
      );
      this.sim.after(stop, 'client.share-stop', client.entity, () =>
        this.setScreenShare(client, false),
      );
    }
    const changeLayout = (): void => {
      if (client.state === 'left') return;
      if (client.state === 'connected') {
        client.layout = this.drawLayout(random);
        this.signal(client, 'mc.layout', {
          type: 'layout',
          participant: client.id,
          layout: client.layout,
        });
      }
      this.sim.after(
        random.exponential(seconds(workload.meanLayoutChangeSeconds)),
        'client.layout',
        client.entity,
        changeLayout,
      );
    };
    this.sim.after(
      random.exponential(seconds(workload.meanLayoutChangeSeconds)),
      'client.layout',
      client.entity,
      changeLayout,
    );
  }

  private scheduleSpeakerTurn(meeting: MeetingState, random: SimRandom): void {
    this.sim.after(
      random.exponential(seconds(this.scenario.workload.meanSpeakerTurnSeconds)),
      'meeting.speaker',
      `meeting/${meeting.id}`,
      () => {
        if (meeting.ended) return;
        // Voice activity: a connected member who publishes audio starts speaking; its client
        // tells the controller.
        const speakers = [...(meeting.machine?.roster.members.values() ?? [])].filter(
          (m) => m.publishes.includes('audio') && this.clients.get(m.id)?.state === 'connected',
        );
        if (speakers.length > 0) {
          const speaker = this.clients.get(random.pick(speakers).id);
          if (speaker !== undefined)
            this.signal(speaker, 'mc.speaker', { type: 'speaker', participant: speaker.id });
        }
        this.scheduleSpeakerTurn(meeting, random);
      },
    );
  }

  // ---------------------------------------------------------------- join flow (spec 003 steps 1-8)

  private beginJoin(client: Client): void {
    if (client.meeting.ended || client.state !== 'idle') return;
    client.state = 'joining';
    client.joinStartedAt = this.sim.now;
    this.metrics.joins.attempted++;
    this.requestToken(client, 1);
  }

  /** Step 2: the client asks its region's Auth Controller for a user token. */
  private requestToken(client: Client, attempt: number): void {
    const region = this.regionOf(client.region);
    this.rpc(
      client,
      region.ac.node,
      ms(this.scenario.serviceTimes.tokenIssueMs),
      'ac.token',
      attempt,
      () => region.ac.issue(client.id),
      (token) => {
        if (token === undefined) return this.failJoin(client, 'no signing key available');
        this.metrics.tokens.issued++;
        client.token = token;
        this.lookupMeeting(client, 1);
      },
      () => this.requestToken(client, attempt + 1),
    );
  }

  /** Step 3: the Global Controller validates the token and names the meeting's controller. */
  private lookupMeeting(client: Client, attempt: number): void {
    const region = this.regionOf(client.region);
    this.rpc(
      client,
      region.gcNode,
      ms(this.scenario.serviceTimes.meetingLookupMs),
      'gc.lookup',
      attempt,
      () =>
        this.verifyToken(region.gcValidator, client, region.gcNode.id)
          ? this.controllerFor(client.meeting, region)
          : undefined,
      (controller) => {
        if (controller === undefined) return this.failJoin(client, 'meeting lookup refused');
        client.controller = controller;
        this.joinController(client, 1);
      },
      () => this.lookupMeeting(client, attempt + 1),
    );
  }

  /** The Global Controller's choice (core/gc): the meeting's controller, placed if need be. */
  private controllerFor(meeting: MeetingState, gc: RegionServices): ControllerNode | undefined {
    const placement = placeMeeting(
      gc.registry,
      meeting.id,
      meeting.region,
      this.controllerOf.get(meeting.id)?.id,
      this.epochMs(),
      this.mutations.placement,
    );
    if (!placement.ok) return undefined;
    gc.registry = placement.value.registry;
    const controller = this.controllersById.get(placement.value.controller.id);
    if (controller !== undefined && placement.value.placed)
      this.controllerOf.set(meeting.id, controller);
    return controller;
  }

  /** Step 4: the Meeting Controller validates the token, adds the member and plans routes. */
  private joinController(client: Client, attempt: number): void {
    const controller = client.controller;
    if (controller === undefined) return;
    const sentAt = this.sim.now;
    this.rpc(
      client,
      controller.node,
      ms(this.scenario.serviceTimes.joinProcessingMs),
      'mc.join',
      attempt,
      () => this.admitToMeeting(client, controller),
      (home) => {
        this.metrics.signaling.record(this.sim.now - sentAt);
        if (home === 'rejected')
          return this.failJoin(client, 'no room in the routing plan', 'rejected');
        if (home === undefined) return this.failJoin(client, 'meeting controller refused the join');
        client.signalingLost = false;
        client.gaveUp = false;
        client.lookedUpAgain = false;
        if (home.epoch !== undefined) client.epochs.add(home.epoch);
        this.connectHandler(client, home.handler, 1);
      },
      () => {
        // Before its last attempt the client asks the Global Controller again: the controller
        // it remembers may have failed while it was away.
        if (attempt + 1 < MAX_ATTEMPTS || client.lookedUpAgain)
          return this.joinController(client, attempt + 1);
        client.lookedUpAgain = true;
        this.lookupMeeting(client, 1);
      },
    );
  }

  /**
   * The controller's answer to a join: the member's home handler, 'rejected' when the planner
   * finds no room, undefined when the controller refuses (down, token refused, meeting over).
   */
  private admitToMeeting(
    client: Client,
    controller: ControllerNode,
  ): { readonly handler: MediaHandler; readonly epoch: number | undefined } | 'rejected' | undefined {
    const meeting = client.meeting;
    if (!controller.healthy || meeting.ended || client.token === undefined) return undefined;
    if (!this.verifyToken(controller.validator, client, controller.node.id)) return undefined;
    this.takeOver(meeting, controller);
    const newMember = !meeting.isMember(client.id);
    const epochBefore = meeting.machine?.currentEpoch();
    this.joinReply = undefined;
    this.toController(controller, {
      type: 'meeting',
      meeting: meeting.id,
      meetingRegion: meeting.region,
      input: { type: 'join', participant: client.id, region: client.region, layout: client.layout },
    });
    meeting.machine ??= controller.endpoint.meeting(meeting.id);
    meeting.owner ??= controller.id;
    const reply = this.joinReply as MeetingOutput | undefined;
    this.joinReply = undefined;
    if (reply?.type === 'join-rejected') return reply.reason === 'no-capacity' ? 'rejected' : undefined;
    if (reply?.type !== 'join-accepted') return undefined;
    if (reply.epoch === undefined) {
      this.violations.report(
        'media-key-epoch',
        `client/${client.id}`,
        `admitted to ${meeting.id} without a media key`,
      );
    }
    if (newMember) {
      // Erasures ordered before the client was a member are not its to apply.
      client.erasuresApplied = meeting.erasedEpochs.length;
      if (epochBefore !== undefined && reply.epoch === epochBefore) {
        this.violations.report(
          'media-key-epoch',
          `client/${client.id}`,
          `joined ${meeting.id} and was given epoch ${epochBefore}, which began before it joined`,
        );
      }
    }
    const handler = this.handlersById.get(reply.handler);
    return handler === undefined ? undefined : { handler, epoch: reply.epoch };
  }

  /**
   * A controller serving a meeting that another controller ran reads the meeting's state from
   * the shared store and takes it over; the other stops running it.
   */
  private takeOver(meeting: MeetingState, controller: ControllerNode): void {
    const machine = meeting.machine;
    if (machine === undefined || meeting.owner === controller.id) return;
    const previous = meeting.owner === undefined ? undefined : this.controllersById.get(meeting.owner);
    if (previous !== undefined) previous.endpoint.handle({ type: 'release', meeting: meeting.id }, this.epochMs());
    meeting.owner = controller.id;
    this.metrics.reroutes.failovers++;
    this.toController(controller, { type: 'adopt', machine });
  }

  /** Step 5: the client opens its media session; the handler applies core's admission. */
  private connectHandler(
    client: Client,
    handler: MediaHandler,
    attempt: number,
    redirected = false,
  ): void {
    const generation = client.generation;
    const region = this.regionOf(handler.region);
    this.rpc(
      client,
      handler.node,
      ms(this.scenario.serviceTimes.mediaConnectMs),
      'mh.connect',
      attempt,
      () => {
        if (!handler.healthy) return undefined;
        const connectionId = createConnectionId(this.epochMs(), client.random);
        if (!connectionId.ok) return undefined;
        return admitParticipant(
          handler.asLocal(),
          [...region.loadReports.values()],
          this.epochMs(),
        );
      },
      (decision) => {
        if (generation !== client.generation || client.state === 'left') return;
        if (decision === undefined)
          return this.failJoin(client, `handler ${handler.id} unavailable`);
        if (decision.kind === 'accept') return this.sessionEstablished(client, handler);
        if (decision.kind === 'redirect' && !redirected) {
          this.metrics.joins.redirected++;
          const target = this.handlersById.get(decision.to);
          if (target !== undefined) return this.connectHandler(client, target, 1, true);
        }
        this.failJoin(client, `handler ${handler.id} rejected the participant`, 'rejected');
      },
      () => this.connectHandler(client, handler, attempt + 1, redirected),
    );
  }

  /** Steps 6-8: media flows once the session exists and the handlers forward to it. */
  private sessionEstablished(client: Client, handler: MediaHandler): void {
    const joining = client.state === 'joining';
    client.state = 'connected';
    client.handler = handler;
    handler.sessions.set(client.id, this.sim.now);
    if (joining) {
      if (!client.admitted) this.metrics.joins.admitted++;
      client.admitted = true;
      this.connectedParticipants++;
      this.metrics.peakParticipants = Math.max(
        this.metrics.peakParticipants,
        this.connectedParticipants,
      );
      client.awaitingFirstMedia = this.othersPublishing(client);
    }
    if (client.reportedHandler !== handler.id) {
      client.reportedHandler = handler.id;
      this.signal(client, 'mc.connected', {
        type: 'connected',
        participant: client.id,
        handler: handler.id,
      });
    }
    this.checkFirstMedia(client.meeting);
  }

  private othersPublishing(client: Client): boolean {
    for (const other of client.meeting.memberIds()) {
      if (other !== client.id && this.clients.get(other)?.state === 'connected') return true;
    }
    return false;
  }

  private failJoin(
    client: Client,
    reason: string,
    outcome: 'failed' | 'rejected' = 'failed',
  ): void {
    if (client.state !== 'joining') return;
    this.metrics.joins[outcome]++;
    client.gaveUp = true;
    this.sim.note(`join-failed ${client.id} ${reason}`);
    this.disconnect(client, 'left');
  }

  // ---------------------------------------------------------------- signaling after join

  /** A client-to-controller request (layout change, connection report) measured as signaling. */
  private signal(client: Client, kind: string, input: MeetingInput): void {
    const controller = client.controller;
    if (controller === undefined) return;
    const sentAt = this.sim.now;
    const generation = client.generation;
    this.rpc(
      client,
      controller.node,
      ms(this.scenario.serviceTimes.joinProcessingMs / 2),
      kind,
      MAX_ATTEMPTS,
      () => {
        if (!controller.healthy || generation !== client.generation) return false;
        this.toController(controller, { type: 'meeting', meeting: client.meeting.id, input });
        return true;
      },
      () => this.metrics.signaling.record(this.sim.now - sentAt),
      () => undefined,
    );
  }

  private setScreenShare(client: Client, sharing: boolean): void {
    if (client.state !== 'connected') return;
    this.signal(client, sharing ? 'mc.share-start' : 'mc.share-stop', {
      type: 'screen-share',
      participant: client.id,
      sharing,
    });
  }

  /** The client leaves: it tells its controller (reliably) and hangs up. */
  private leave(client: Client): void {
    if (client.state === 'left') return;
    const meeting = client.meeting;
    const controller = client.controller;
    this.disconnect(client, 'left');
    client.gaveUp = false;
    // The erasures ordered while it was a member are its last.
    this.heldEpochs(client);
    if (!meeting.isMember(client.id)) return;
    meeting.removed.set(client.id, meeting.machine?.currentEpoch() ?? -1);
    if (controller === undefined) return;
    this.deliver(
      client.node,
      controller.node,
      'mc.leave',
      controller.id,
      client.entity,
      ms(this.scenario.serviceTimes.joinProcessingMs / 2),
      () => {
        if (controller.healthy)
          this.toController(controller, {
            type: 'meeting',
            meeting: meeting.id,
            input: { type: 'leave', participant: client.id },
          });
      },
    );
  }

  private dropAndReconnect(client: Client): void {
    if (client.state !== 'connected') return;
    this.disconnect(client, 'idle');
    this.metrics.joins.reconnects++;
    this.sim.after(
      client.random.uniform(seconds(1), seconds(5)),
      'client.reconnect',
      client.entity,
      () => {
        if (client.meeting.ended || client.state !== 'idle') return;
        client.state = 'joining';
        client.joinStartedAt = this.sim.now;
        if (client.token !== undefined && client.controller !== undefined)
          this.joinController(client, 1);
        else this.requestToken(client, 1);
      },
    );
  }

  private disconnect(client: Client, next: ClientState): void {
    if (client.state === 'connected') this.connectedParticipants--;
    client.handler?.sessions.delete(client.id);
    client.handler = undefined;
    client.awaitingFirstMedia = false;
    client.generation++;
    client.state = next;
    client.reportedHandler = undefined;
  }

  private endMeeting(meeting: MeetingState): void {
    meeting.ended = true;
    for (const member of meeting.memberIds()) {
      const client = this.clients.get(member);
      if (client !== undefined) this.disconnect(client, 'left');
    }
    // The Global Controller ends the meeting at its controller; the handlers drop its entries.
    const owner = meeting.owner === undefined ? undefined : this.controllersById.get(meeting.owner);
    if (owner !== undefined) this.toController(owner, { type: 'end-meeting', meeting: meeting.id });
    meeting.machine?.end();
    for (const [handlerId, bps] of meeting.handlerLoads) {
      const handler = this.handlersById.get(handlerId);
      if (handler !== undefined) handler.loadBps = Math.max(0, handler.loadBps - bps);
      handler?.meetings.delete(meeting.id);
    }
    meeting.handlerLoads.clear();
    this.activeMeetings--;
    this.meetings.delete(meeting.id);
    this.controllerOf.delete(meeting.id);
    for (const [id, client] of this.clients) {
      if (client.meeting !== meeting) continue;
      this.clients.delete(id);
      this.sim.random.release(client.entity);
      this.sim.random.release(`net/${client.entity}`);
      this.networkStreams.delete(client.entity);
    }
    this.sim.random.release(`packets/${meeting.id}`);
  }

  // ---------------------------------------------------------------- driving the controllers

  /** Hands an input to a controller's machine and carries out what it asks. */
  private toController(controller: ControllerNode, input: ControllerInput): void {
    if (!controller.healthy) return;
    controller.endpoint.handle(input, this.epochMs());
    this.drive(controller);
  }

  /** Sends what the controller's machine asks for and arms its timer for its next deadline. */
  private drive(controller: ControllerNode): void {
    const endpoint = controller.endpoint;
    for (let out = endpoint.pollOutput(); out !== null; out = endpoint.pollOutput()) {
      if (out.type === 'meeting') {
        const meeting = this.meetings.get(out.meeting.id);
        if (meeting !== undefined) this.meetingOutput(controller, meeting, out.output);
      } else if (out.type === 'heartbeat') {
        this.heartbeat(controller, out.meetingCount);
      } else if (out.type === 'handler-lost') {
        this.sim.note(`handler-lost ${controller.id} ${out.handler}`);
      } else {
        this.sim.note(`unknown-meeting ${controller.id} ${out.meeting}`);
      }
    }
    const deadline = endpoint.pollTimeout();
    if (deadline === null || !controller.healthy) return;
    const at = this.sim.now + Math.max(0, deadline - this.epochMs()) * 1000;
    if (controller.timer !== undefined && controller.timerAt <= at && controller.timerAt >= this.sim.now)
      return;
    if (controller.timer !== undefined) this.sim.cancel(controller.timer);
    controller.timerAt = at;
    controller.timer = this.sim.at(at, 'mc.timeout', controller.id, () => {
      controller.timer = undefined;
      if (!controller.healthy) return;
      endpoint.handleTimeout(this.epochMs());
      this.drive(controller);
    });
  }

  private meetingOutput(controller: ControllerNode, meeting: MeetingState, out: MeetingOutput): void {
    switch (out.type) {
      case 'join-accepted':
      case 'join-rejected':
        this.joinReply = out;
        return;
      case 'route-command':
        if (out.resend) this.metrics.reroutes.resends++;
        else this.metrics.reroutes.commands++;
        return this.sendRouteCommand(controller, meeting, out.id, out.handler, out.steps);
      case 'move': {
        const client = this.clients.get(out.participant);
        const handler = this.handlersById.get(out.handler);
        if (client?.state !== 'connected' || handler === undefined || client.handler === handler)
          return;
        client.handler?.sessions.delete(client.id);
        return this.connectHandler(client, handler, 1, true);
      }
      case 'key':
        return this.distributeEpoch(controller, meeting, out.epoch, out.recipients, out.resend);
      case 'erase-epoch':
        // Every member is to erase the epoch: each does when its keys are next read or added.
        meeting.erasedEpochs.push(out.epoch);
        return;
      case 'planned':
        meeting.planDeliversDemand = checkNewPlan(
          this.violations,
          `mc/${meeting.id}`,
          out.input,
          out.plan,
        );
        this.metrics.reroutes.plans++;
        meeting.demandChangedAt = this.sim.now;
        return this.scheduleConvergenceCheck(meeting);
      case 'plan-failed':
        return this.sim.note(`plan-failed ${meeting.id} ${out.error.kind}`);
      case 'transition':
        return checkTransition(
          this.violations,
          `mc/${meeting.id}`,
          out.from,
          out.steps,
          out.demandBefore,
          out.demandAfter,
        );
      case 'transition-done':
        return this.checkFirstMedia(meeting);
      case 'member-expired':
        return this.sim.note(`session-expired ${meeting.id} ${out.participant}`);
      case 'session-write':
      case 'session-delete':
        // The shared store holds the machine itself: its writes are in it already.
        return;
    }
  }

  /**
   * A route command on the controller's reliable stream to the handler. The handler applies a
   * meeting's commands at most once, in id order (a controller sends a handler a meeting's next
   * command only after the previous one is acknowledged), and acknowledges every copy.
   */
  private sendRouteCommand(
    controller: ControllerNode,
    meeting: MeetingState,
    id: number,
    owner: HandlerId,
    steps: readonly PlanStep[],
  ): void {
    const handler = this.handlersById.get(owner);
    if (handler === undefined) return;
    this.deliver(
      controller.node,
      handler.node,
      'mh.route-command',
      owner,
      controller.id,
      ms(this.scenario.serviceTimes.routeCommandMs),
      () => {
        if (!handler.healthy || meeting.ended) return;
        const applied = handler.appliedCommands.get(meeting.id) ?? 0;
        if (id > applied) {
          handler.appliedCommands.set(meeting.id, id);
          for (const step of steps) this.applyStep(meeting, handler, step);
        }
        this.deliver(handler.node, controller.node, 'mc.route-ack', controller.id, owner, 0, () =>
          this.toController(controller, {
            type: 'meeting',
            meeting: meeting.id,
            input: { type: 'route-ack', command: id },
          }),
        );
      },
    );
  }

  /** A handler installs or removes one leg; the legs it carries set its flow-level load. */
  private applyStep(meeting: MeetingState, handler: MediaHandler, step: PlanStep): void {
    const route = step.route;
    if (step.op === 'remove') {
      this.checkRemoval(meeting, route);
      if (!meeting.installed.remove(route)) return;
      meeting.convergence.legRemoved(route);
      this.carry(meeting, route, -this.streamBps);
      return;
    }
    if (!meeting.installed.add(route)) return;
    this.carry(meeting, route, this.streamBps);
    handler.meetings.add(meeting.id);
    if (route.type === 'cascade') {
      const paths = meeting.installed.paths(route);
      const hops = paths === undefined ? 0 : (paths.hops().get(route.to) ?? 0);
      this.metrics.recordCascade(hops);
    } else if (route.type === 'deliver') {
      this.recordForwarding(meeting, route.publisher, route.subscriber, handler);
    }
  }

  /**
   * Make-before-break, checked on the installed entries as each removal is applied: a pair the
   * controller's transition keeps demanding and the handlers deliver must stay delivered.
   */
  private checkRemoval(meeting: MeetingState, route: Route): void {
    const machine = meeting.machine;
    if (machine === undefined || !meeting.installed.has(route)) return;
    const kept = machine.appliedDemand;
    const reached: StreamDemand[] = [];
    for (const pair of kept) {
      if (pair.publisher !== route.publisher || pair.kind !== route.kind) continue;
      if (route.type === 'deliver' && pair.subscriber !== route.subscriber) continue;
      if (isDelivered(meeting.installed, pair)) reached.push(pair);
    }
    if (reached.length === 0) return;
    meeting.installed.remove(route);
    for (const pair of reached) {
      if (isDelivered(meeting.installed, pair)) continue;
      this.violations.report(
        'make-before-break',
        `mc/${meeting.id}`,
        `removing ${route.type} of ${route.publisher} ${route.kind} at ${ownerOf(route)} cut ${pair.subscriber} off a stream it still shows`,
      );
    }
    meeting.installed.add(route);
  }

  /** Adds `bps` to every handler a leg runs through (a cascade loads both ends). */
  private carry(meeting: MeetingState, route: Route, bps: number): void {
    if (route.type === 'cascade') {
      this.carryAt(meeting, route.from, bps);
      this.carryAt(meeting, route.to, bps);
    } else {
      this.carryAt(meeting, route.handler, bps);
    }
  }

  private carryAt(meeting: MeetingState, id: HandlerId, bps: number): void {
    const handler = this.handlersById.get(id);
    if (handler === undefined) return;
    handler.loadBps = Math.max(0, handler.loadBps + bps);
    meeting.handlerLoads.set(id, (meeting.handlerLoads.get(id) ?? 0) + bps);
    if (bps > 0) {
      this.streamsCarried++;
      this.metrics.peakStreams = Math.max(this.metrics.peakStreams, this.streamsCarried);
    } else {
      this.streamsCarried--;
    }
  }

  /** Flow-level latency of one delivered stream: uplink, handler hops, downlink. */
  private recordForwarding(
    meeting: MeetingState,
    publisher: ParticipantId,
    subscriber: ParticipantId,
    last: MediaHandler,
  ): void {
    const pub = this.clients.get(publisher);
    const sub = this.clients.get(subscriber);
    const plan = meeting.machine?.plan ?? null;
    const publishedAt = plan === null ? undefined : firstPublishOf(plan, publisher);
    const first = publishedAt === undefined ? undefined : this.handlersById.get(publishedAt);
    if (pub === undefined || sub === undefined || first === undefined) return;
    const forwardingMs = this.scenario.serviceTimes.forwardingMs;
    const interHandler = first === last ? 0 : this.network.baseLatency(first.node, last.node);
    const handlerPart = ms(forwardingMs) * (first === last ? 1 : 2) + interHandler;
    const endToEnd =
      this.network.baseLatency(pub.node, first.node) +
      handlerPart +
      this.network.baseLatency(last.node, sub.node);
    this.metrics.forwarding.record(handlerPart);
    this.metrics.mediaPath.record(endToEnd);
  }

  // ---------------------------------------------------------------- first media and convergence

  private checkFirstMedia(meeting: MeetingState): void {
    let demandOf: Map<ParticipantId, StreamDemand[]> | undefined;
    for (const member of meeting.memberIds()) {
      const client = this.clients.get(member);
      if (client === undefined || !client.awaitingFirstMedia || client.handler === undefined)
        continue;
      demandOf ??= demandBySubscriber(meeting.machine?.demand ?? []);
      const stream = demandOf.get(client.id)?.find((d) => isDelivered(meeting.installed, d));
      if (stream === undefined) continue;
      client.awaitingFirstMedia = false;
      const generation = client.generation;
      const frameWait = client.random.uniform(0, ms(this.scenario.serviceTimes.firstFrameMs));
      const path =
        this.network.baseLatency(client.handler.node, client.node) +
        ms(this.scenario.serviceTimes.forwardingMs);
      this.sim.after(frameWait + path, 'client.first-frame', client.entity, () => {
        if (generation === client.generation)
          this.metrics.joinToMedia.record(this.sim.now - client.joinStartedAt);
      });
    }
  }

  /**
   * Checks convergence `bound` after the routing last changed (new demand or new plan), or after
   * the last fault or heal plus the failure-detection delay if that came later: the bound is a
   * promise about a stable network.
   */
  private scheduleConvergenceCheck(meeting: MeetingState, at?: Micros): void {
    const bound = seconds(this.scenario.invariants.convergenceSeconds);
    const changedAt = meeting.demandChangedAt;
    // A later change supersedes the pending check (it would find the demand changed and stop).
    if (meeting.convergenceCheck !== undefined) this.sim.cancel(meeting.convergenceCheck);
    const check = (): void => {
      meeting.convergenceCheck = undefined;
      if (meeting.ended || meeting.demandChangedAt !== changedAt) return;
      const settledFrom = Math.max(changedAt, this.lastTopologyChange + FAILURE_DETECTION);
      if (this.sim.now < settledFrom + bound)
        return this.scheduleConvergenceCheck(meeting, settledFrom + bound);
      const plan = meeting.machine?.plan ?? null;
      meeting.convergence.check(
        this.violations,
        meeting.installed,
        plan ?? emptyPlan(meeting.id),
        plan !== null && meeting.planDeliversDemand,
        meeting.machine?.demand ?? [],
        (d) => this.canBeDelivered(d),
        changedAt,
        bound,
      );
    };
    meeting.convergenceCheck = this.sim.at(
      at ?? changedAt + bound,
      'check.convergence',
      `meeting/${meeting.id}`,
      check,
    );
  }

  /**
   * Demands whose subscriber and publisher are connected and reachable, in a meeting whose
   * controller is up, are due. A failed handler exempts nothing: once the controllers have had
   * the detection time, no plan may route through it.
   */
  private canBeDelivered(demand: StreamDemand): boolean {
    const sub = this.clients.get(demand.subscriber);
    const pub = this.clients.get(demand.publisher);
    if (sub?.state !== 'connected' || pub?.state !== 'connected') return false;
    if (sub.handler === undefined || pub.handler === undefined) return false;
    const meeting = sub.meeting;
    const regions = new Set<string>([sub.region, pub.region, meeting.region]);
    const owner = meeting.owner === undefined ? undefined : this.controllersById.get(meeting.owner);
    if (owner === undefined || !owner.healthy) return false;
    regions.add(owner.region);
    for (const load of meeting.machine?.plan?.loads ?? []) {
      const handler = this.handlersById.get(load.handler);
      if (handler !== undefined) regions.add(handler.region);
    }
    for (const a of regions)
      for (const b of regions) if (this.network.isBlocked(a, b)) return false;
    return true;
  }

  // ---------------------------------------------------------------- media keys

  /**
   * Sends an epoch's key to each recipient over its signaling stream (the controller resends
   * until the client acknowledges); a fresh epoch's settle is checked later.
   */
  private distributeEpoch(
    controller: ControllerNode,
    meeting: MeetingState,
    epoch: number,
    recipients: readonly ParticipantId[],
    resend: boolean,
  ): void {
    for (const recipient of recipients) {
      const client = this.clients.get(recipient);
      if (client !== undefined) this.sendKey(controller, meeting, client, epoch);
    }
    if (resend) return;
    this.metrics.rotations.mediaKeys++;
    const settle = seconds(this.scenario.invariants.keySettleSeconds);
    // A newer epoch supersedes the pending check of the previous one (it would stop at once).
    if (meeting.keySettleCheck !== undefined) this.sim.cancel(meeting.keySettleCheck);
    meeting.keySettleCheck = this.sim.after(
      settle,
      'check.media-keys',
      `meeting/${meeting.id}`,
      () => {
        meeting.keySettleCheck = undefined;
        if (meeting.ended || meeting.machine?.currentEpoch() !== epoch) return;
        const members = [...meeting.memberIds()]
          .map((id) => this.clients.get(id))
          .filter(
            (c): c is Client =>
              c !== undefined &&
              c.state === 'connected' &&
              c.pendingKeys === 0 &&
              this.keyReachable(c),
          );
        const removed = [...meeting.removed].flatMap(([participant, lastAllowedEpoch]) => {
          const gone = this.clients.get(participant);
          return gone === undefined
            ? []
            : [{ participant, held: this.heldEpochs(gone), lastAllowedEpoch }];
        });
        checkEpochs(
          this.violations,
          meeting.id,
          epoch,
          members.map((c) => ({ participant: c.id, held: this.heldEpochs(c) })),
          removed,
        );
      },
    );
  }

  /** One key message to a client, which acknowledges it to the controller. */
  private sendKey(
    controller: ControllerNode,
    meeting: MeetingState,
    client: Client,
    epoch: number,
  ): void {
    if (client.state === 'left') return;
    client.pendingKeys++;
    const delivered = this.deliver(
      controller.node,
      client.node,
      'client.media-key',
      client.entity,
      controller.id,
      0,
      () => {
        client.pendingKeys--;
        if (client.state === 'idle' || !meeting.isMember(client.id)) return;
        this.heldEpochs(client).add(epoch);
        // The key travels on the client's reliable signaling stream, whose acknowledgement
        // the controller's transport reports; the simulator hands it over on delivery rather
        // than simulate the stream's acknowledgement as a message of its own.
        this.toController(controller, {
          type: 'meeting',
          meeting: meeting.id,
          input: { type: 'key-ack', participant: client.id, epoch },
        });
      },
    );
    if (delivered) return;
    // Lost: the controller sends it again when the acknowledgement does not come.
    this.sim.after(
      ms(DEFAULT_MEETING_TIMING.keyRetryMs),
      'client.media-key-lost',
      client.entity,
      () => client.pendingKeys--,
    );
  }

  /**
   * The epochs the client holds: what it received, less every epoch the controller ordered its
   * members erased while the client was one. The erasures are applied here, in order, when the
   * keys are read or added (or the client leaves) rather than at every member when ordered: the
   * same sets at every read, without touching each member's keys at each erasure.
   */
  private heldEpochs(client: Client): Set<number> {
    const erased = client.meeting.erasedEpochs;
    if (client.meeting.isMember(client.id)) {
      for (let i = client.erasuresApplied; i < erased.length; i++)
        client.epochs.delete(erased[i] as number);
      client.erasuresApplied = erased.length;
    }
    return client.epochs;
  }

  /** A member the controller cannot currently reach is exempt from the settle check. */
  private keyReachable(client: Client): boolean {
    const controller = client.controller;
    return (
      controller !== undefined &&
      controller.healthy &&
      !client.signalingLost &&
      !this.network.isBlocked(controller.region, client.region)
    );
  }

  // ---------------------------------------------------------------- tokens

  /** Verifies a client's token at a service; a refusal of an unexpired token is a violation. */
  private verifyToken(validator: TokenValidator, client: Client, service: string): boolean {
    const token = client.token;
    if (token === undefined) return false;
    const refusal = validator.verify(token);
    if (refusal === undefined) {
      this.metrics.tokens.verified++;
      return true;
    }
    checkTokenVerdict(this.violations, service, client.id, token, refusal);
    if (refusal.kind === 'expired') client.token = undefined;
    return false;
  }

  // ---------------------------------------------------------------- faults

  private scheduleFaults(): void {
    for (const fault of this.scenario.faults) {
      const at = seconds(fault.atSeconds);
      if (fault.kind === 'partition') {
        const partition = { from: fault.from, to: fault.to, symmetric: fault.symmetric };
        this.sim.at(at, 'fault.partition', fault.from.join('+'), () => {
          this.lastTopologyChange = this.sim.now;
          this.network.partition(partition);
        });
        this.sim.at(at + seconds(fault.durationSeconds), 'fault.heal', fault.from.join('+'), () => {
          this.lastTopologyChange = this.sim.now;
          this.network.heal(partition);
        });
      } else if (fault.kind === 'handler-crash') {
        const handler = this.regionOf(regionId(fault.region)).handlers[fault.index];
        if (handler === undefined) continue;
        this.sim.at(at, 'fault.handler-crash', handler.id, () => this.crashHandler(handler));
        if (fault.durationSeconds !== undefined) {
          this.sim.at(
            at + seconds(fault.durationSeconds),
            'fault.handler-restore',
            handler.id,
            () => {
              this.lastTopologyChange = this.sim.now;
              handler.healthy = true;
              this.network.restore(handler.id);
            },
          );
        }
      } else {
        const controller = this.regionOf(regionId(fault.region)).controllers[fault.index];
        if (controller === undefined) continue;
        this.sim.at(at, 'fault.controller-crash', controller.id, () =>
          this.crashController(controller),
        );
        if (fault.durationSeconds !== undefined) {
          this.sim.at(
            at + seconds(fault.durationSeconds),
            'fault.controller-restore',
            controller.id,
            () => {
              this.lastTopologyChange = this.sim.now;
              controller.healthy = true;
              this.network.restore(controller.node.id);
              this.drive(controller);
            },
          );
        }
      }
    }
  }

  /**
   * A controller dies. Meeting state survives it (in the shared store, as the spec keeps it in
   * Redis); its clients notice the lost signaling connection after the keep-alive timeout and
   * rejoin through the Global Controller, whose registry has stopped choosing the dead
   * controller by then, and the controller they reach takes the meeting over. Within
   * FAILOVER_BOUND every such client must be back on a live controller.
   */
  private crashController(controller: ControllerNode): void {
    this.lastTopologyChange = this.sim.now;
    controller.healthy = false;
    if (controller.timer !== undefined) this.sim.cancel(controller.timer);
    controller.timer = undefined;
    this.network.fail(controller.node.id);
    const affected: Client[] = [];
    for (const client of this.clients.values()) {
      if (client.controller !== controller || client.state !== 'connected') continue;
      affected.push(client);
      client.signalingLost = true;
      const delay = SIGNALING_KEEPALIVE_TIMEOUT + client.random.uniform(0, seconds(1));
      this.sim.after(delay, 'client.controller-lost', client.entity, () => {
        if (client.state !== 'connected' || client.controller?.healthy !== false) return;
        this.metrics.joins.reconnects++;
        this.lookupMeeting(client, 1);
      });
    }
    this.sim.after(FAILOVER_BOUND, 'check.failover', controller.id, () => {
      for (const client of affected) {
        if (client.meeting.ended || client.state === 'idle') continue;
        if (client.state === 'left' && !client.gaveUp) continue;
        if (client.state === 'connected' && client.controller?.healthy === true) continue;
        this.violations.report(
          'failover',
          client.entity,
          `not back on a live controller ${formatTime(FAILOVER_BOUND)} after ${controller.id} failed (${client.state})`,
        );
      }
    });
  }

  /**
   * A handler dies: its entries vanish. The controllers notice when its load reports stop and
   * replan; every pair of the meetings it carried must be delivered again once they have had
   * the detection time and the convergence bound.
   */
  private crashHandler(handler: MediaHandler): void {
    this.lastTopologyChange = this.sim.now;
    handler.crash();
    this.network.fail(handler.id);
    for (const id of handler.meetings) {
      const meeting = this.meetings.get(id);
      if (meeting === undefined) continue;
      const machine = meeting.machine;
      for (const plan of [machine?.appliedPlan ?? null, machine?.plan ?? null]) {
        for (const route of routesOf(plan ?? emptyPlan(meeting.id))) {
          if (ownerOf(route) !== handler.id || !meeting.installed.remove(route)) continue;
          meeting.convergence.legRemoved(route);
          this.carry(meeting, route, -this.streamBps);
        }
      }
      this.scheduleConvergenceCheck(meeting);
    }
    handler.meetings.clear();
  }

  // ---------------------------------------------------------------- messaging

  /** Sends one message; runs `handle` at the receiver after `processing`, unless it is lost. */
  private deliver(
    from: NetworkNode,
    to: NetworkNode,
    kind: string,
    entity: string,
    randomName: string,
    processing: Micros,
    handle: () => void,
  ): boolean {
    const transit = this.network.send(
      from,
      to,
      REQUEST_BYTES,
      true,
      this.networkRandom(randomName),
    );
    if (!transit.delivered) return false;
    this.sim.after(transit.delay + processing, kind, entity, handle);
    return true;
  }

  /**
   * A client request and its response. `serve` runs at the server when the request arrives;
   * `respond` runs at the client when the response arrives. A lost message is retried after a
   * timeout, up to MAX_ATTEMPTS, then the join fails.
   */
  private rpc<T>(
    client: Client,
    server: NetworkNode,
    processing: Micros,
    kind: string,
    attempt: number,
    serve: () => T,
    respond: (value: T) => void,
    retry: () => void,
  ): void {
    const generation = client.generation;
    const lost = (): void => {
      this.sim.after(REQUEST_TIMEOUT, `${kind}.timeout`, client.entity, () => {
        if (generation !== client.generation) return;
        if (attempt >= MAX_ATTEMPTS) this.failJoin(client, `${kind} timed out`);
        else retry();
      });
    };
    const sent = this.deliver(
      client.node,
      server,
      kind,
      server.id,
      client.entity,
      processing,
      () => {
        const value = serve();
        const back = this.deliver(
          server,
          client.node,
          `${kind}.reply`,
          client.entity,
          client.entity,
          0,
          () => {
            if (generation === client.generation) respond(value);
          },
        );
        if (!back) lost();
      },
    );
    if (!sent) lost();
  }

  /**
   * The random stream `net/<sender>` of a message sender, looked up by the sender's name alone
   * (the name's hash is kept with the string, a composed name would be hashed on every message).
   */
  private networkRandom(sender: string): SimRandom {
    let stream = this.networkStreams.get(sender);
    if (stream === undefined) {
      stream = this.sim.random.stream(`net/${sender}`);
      this.networkStreams.set(sender, stream);
    }
    return stream;
  }

  private regionOf(name: RegionId | string): RegionServices {
    const region = this.regions.get(name as RegionId);
    if (region === undefined) throw new Error(`unknown region ${name}`);
    return region;
  }

  private allControllers(): ControllerNode[] {
    return [...this.regions.values()].flatMap((r) => r.controllers);
  }
}

/** Each subscriber's demanded pairs, in demand order. */
function demandBySubscriber(demand: readonly StreamDemand[]): Map<ParticipantId, StreamDemand[]> {
  const bySubscriber = new Map<ParticipantId, StreamDemand[]>();
  for (const pair of demand) {
    const pairs = bySubscriber.get(pair.subscriber);
    if (pairs === undefined) bySubscriber.set(pair.subscriber, [pair]);
    else pairs.push(pair);
  }
  return bySubscriber;
}
