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
  chooseController,
  createRegistry,
  handleRegistryEvent,
  type ControllerRegistry,
} from '../../core/placement/index.ts';
import { createConnectionId } from '../../core/protocol/connection-id.ts';
import {
  planRouting,
  planTransition,
  routesOf,
  type LatencyTable,
  type PlanStep,
  type RoutingHandler,
  type RoutingInput,
  type RoutingPlan,
  type StreamDemand,
} from '../../core/routing/index.ts';
import type { StreamPaths } from '../../core/routing/graph.ts';
import type { Simulation, Timer } from '../engine/simulation.ts';
import type { SimRandom } from '../engine/random.ts';
import { ms, seconds, type Micros } from '../engine/time.ts';
import { Network, type NetworkNode } from '../net/network.ts';
import type { Scenario } from '../scenario/schema.ts';
import { Metrics } from '../report/metrics.ts';
import { DEFAULT_AUTOSCALER_BOUNDS, desiredReplicas } from '../../core/ops/autoscaler.ts';
import { ViolationLog } from '../invariants/violations.ts';
import { checkNewPlan, checkTransition } from '../invariants/plan.ts';
import { isDelivered } from '../invariants/convergence.ts';
import { checkTokenVerdict } from '../invariants/tokens.ts';
import { checkEpochs } from '../invariants/epochs.ts';
import type { MediaKeyEvent } from '../../core/keys/media-epochs.ts';
import {
  AuthController,
  TokenValidator,
  USER_SCOPES,
  signingPolicy,
  type SimToken,
} from './auth.ts';
import { MediaHandler } from './media-handler.ts';
import { MeetingState, type Member, type PlanningInputs } from './meeting.ts';
import { meetingDemand } from './layouts.ts';
import { emptyPlan, firstPublishOf, homeIn, oneWayTable, ownerOf, sameDemand } from './plans.ts';
import { drawMeetingSize, layoutRequestNamed } from './workload.ts';

const REQUEST_TIMEOUT = seconds(2);
const MAX_ATTEMPTS = 3;
const HEARTBEAT_INTERVAL = seconds(1);
const LOAD_REPORT_INTERVAL = seconds(1);
const UTILISATION_SAMPLE_INTERVAL = seconds(1);
/** Retransmission timeout of a route command: above the largest cross-region round trip. */
const COMMAND_RETRY = ms(400);
/** A client notices a dead signaling connection after this long without keep-alives. */
const SIGNALING_KEEPALIVE_TIMEOUT = seconds(6);
/** Controllers notice a failed handler after two missed load reports. */
const FAILURE_DETECTION = 2 * LOAD_REPORT_INTERVAL;
const REQUEST_BYTES = 600;
const MEDIA_KEY_GRACE_MS = 30_000;
const PACKET_BYTES = 1200;

interface ControllerNode {
  readonly id: ControllerId;
  readonly region: RegionId;
  readonly node: NetworkNode;
  readonly validator: TokenValidator;
  healthy: boolean;
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
  private readonly controllerOf = new Map<MeetingId, ControllerNode>();
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
  /** The ids of the media handlers that are down, space-separated (usually none). */
  private unhealthyHandlers = '';

  constructor(
    readonly sim: Simulation,
    readonly scenario: Scenario,
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
      live: meeting.keys.liveEpochs(),
      erased: [...meeting.erasedEpochs],
      members: [...meeting.members.keys()].flatMap((id) => {
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
      for (const controller of region.controllers) this.registerController(controller);
    }
    this.sim.after(0, 'world.heartbeats', 'world', () => this.heartbeats());
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
        controllers: Array.from({ length: spec.meetingControllers }, (_, i) => ({
          id: controllerId(`mc/${name}/${i}`),
          region: name,
          node: { id: `mc/${name}/${i}`, region: name, isClient: false },
          validator: new TokenValidator(allAcs, 'dark-tower', USER_SCOPES, () => this.epochMs()),
          healthy: true,
        })),
        handlers: [],
        loadReports: new Map(),
        provisioning: 0,
        lastScaledAtMs: null,
      });
      const region = this.regionOf(name);
      for (let i = 0; i < spec.mediaHandlers; i++) this.addHandler(region);
    }
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

  /** Meeting Controllers report their meeting counts to every Global Controller. */
  private heartbeats(): void {
    const meetingCounts = new Map<ControllerId, number>();
    for (const controller of this.controllerOf.values()) {
      meetingCounts.set(controller.id, (meetingCounts.get(controller.id) ?? 0) + 1);
    }
    for (const region of this.regions.values()) {
      for (const controller of this.allControllers()) {
        if (!controller.healthy || this.network.isBlocked(controller.region, region.name)) continue;
        const meetingCount = meetingCounts.get(controller.id) ?? 0;
        this.updateRegistry(region, {
          type: 'heartbeat',
          id: controller.id,
          meetingCount,
          healthy: true,
        });
      }
      this.updateRegistry(region, { type: 'tick' });
    }
    this.sim.after(HEARTBEAT_INTERVAL, 'world.heartbeats', 'world', () => this.heartbeats());
  }

  /** Media Handlers refresh their bandwidth state and publish load reports to their region. */
  private loadReports(): void {
    const now = this.epochMs();
    for (const region of this.regions.values()) {
      for (const handler of region.handlers) {
        if (!handler.healthy) continue;
        const state = handler.updateBandwidthState();
        region.loadReports.set(handler.id, {
          handlerId: handler.id,
          region: region.name,
          utilisation: handler.utilisation,
          state,
          reportedAt: now,
        });
      }
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
      {
        rotationIntervalMs: this.scenario.keys.mediaKeyRotationSeconds * 1000,
        deletionGraceMs: MEDIA_KEY_GRACE_MS,
      },
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
        this.signal(client, 'mc.layout', (meeting) => {
          const member = meeting.members.get(client.id);
          if (member !== undefined) member.layout = client.layout;
          this.replan(meeting);
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
        const speakers = [...meeting.members.values()].filter((m) => m.publishes.includes('audio'));
        if (speakers.length > 0) {
          const speaker = random.pick(speakers).id;
          meeting.activeSpeakers = [
            speaker,
            ...meeting.activeSpeakers.filter((p) => p !== speaker),
          ].slice(0, 8);
          this.replan(meeting);
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

  private controllerFor(meeting: MeetingState, gc: RegionServices): ControllerNode | undefined {
    const current = this.controllerOf.get(meeting.id);
    if (current !== undefined && gc.registry.controllers.get(current.id)?.healthy === true)
      return current;
    const chosen = chooseController(gc.registry, meeting.id, meeting.region);
    if (!chosen.ok) return undefined;
    this.updateRegistry(gc, { type: 'meeting-assigned', id: chosen.value.id });
    const controller = this.allControllers().find((c) => c.id === chosen.value.id);
    if (controller !== undefined) this.controllerOf.set(meeting.id, controller);
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
        const epoch = client.meeting.keys.currentEpoch();
        if (epoch !== undefined) client.epochs.add(epoch);
        this.connectHandler(client, home, 1);
      },
      () => this.joinController(client, attempt + 1),
    );
  }

  /** The member's home handler; 'rejected' when the planner finds no room for it. */
  private admitToMeeting(
    client: Client,
    controller: ControllerNode,
  ): MediaHandler | 'rejected' | undefined {
    const meeting = client.meeting;
    if (!controller.healthy || meeting.ended || client.token === undefined) return undefined;
    if (!this.verifyToken(controller.validator, client, controller.node.id)) return undefined;
    if (!meeting.members.has(client.id)) {
      // Erasures ordered before the client was a member are not its to apply.
      client.erasuresApplied = meeting.erasedEpochs.length;
      meeting.members.set(client.id, {
        id: client.id,
        region: client.region,
        joinOrder: meeting.nextJoinOrder++,
        publishes: ['camera', 'audio'],
        layout: client.layout,
        assignment: undefined,
        connectedHandler: undefined,
      });
      if (!this.replan(meeting)) {
        meeting.members.delete(client.id);
        return 'rejected';
      }
      this.mediaKeyEvent(meeting, { type: 'join', participant: client.id });
    } else if (!this.replan(meeting)) {
      return undefined;
    }
    const home = meeting.plan?.homes.find((h) => h.participant === client.id)?.handler;
    return home === undefined ? undefined : this.handlersById.get(home);
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
    const member = client.meeting.members.get(client.id);
    if (member !== undefined && member.connectedHandler !== handler.id) {
      member.connectedHandler = handler.id;
      this.signal(client, 'mc.connected', (meeting) => this.replan(meeting));
    }
    this.checkFirstMedia(client.meeting);
  }

  private othersPublishing(client: Client): boolean {
    for (const other of client.meeting.members.values()) {
      if (other.id !== client.id && this.clients.get(other.id)?.state === 'connected') return true;
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
    this.sim.note(`join-failed ${client.id} ${reason}`);
    this.disconnect(client, 'left');
  }

  // ---------------------------------------------------------------- signaling after join

  /** A client-to-controller request (layout change, connection report) measured as signaling. */
  private signal(client: Client, kind: string, handle: (meeting: MeetingState) => void): void {
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
        handle(client.meeting);
        return true;
      },
      () => this.metrics.signaling.record(this.sim.now - sentAt),
      () => undefined,
    );
  }

  private setScreenShare(client: Client, sharing: boolean): void {
    if (client.state !== 'connected') return;
    this.signal(client, sharing ? 'mc.share-start' : 'mc.share-stop', (meeting) => {
      const member = meeting.members.get(client.id);
      if (member === undefined) return;
      const others = member.publishes.filter((k) => k !== 'screen');
      member.publishes = sharing ? ['screen', ...others] : others;
      this.replan(meeting);
    });
  }

  private leave(client: Client): void {
    if (client.state === 'left') return;
    const meeting = client.meeting;
    this.disconnect(client, 'left');
    // The erasures ordered while it was a member are its last.
    this.heldEpochs(client);
    if (meeting.members.delete(client.id)) {
      meeting.departed.push(client.id);
      meeting.removed.set(client.id, meeting.keys.currentEpoch() ?? -1);
      this.mediaKeyEvent(meeting, { type: 'leave', participant: client.id });
      this.replan(meeting);
    }
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
    const member = client.meeting.members.get(client.id);
    if (member !== undefined) member.connectedHandler = undefined;
  }

  private endMeeting(meeting: MeetingState): void {
    meeting.ended = true;
    for (const member of meeting.members.keys()) {
      const client = this.clients.get(member);
      if (client !== undefined) this.disconnect(client, 'left');
    }
    meeting.members.clear();
    this.applyPlanLoads(meeting, null);
    meeting.plan = null;
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

  // ---------------------------------------------------------------- the Meeting Controller's planning

  /**
   * Recomputes every member's layout and the meeting's routing plan, checks both with core's
   * checkers, and sends the make-before-break transition to the handlers. False when the
   * planner found no room.
   */
  private replan(meeting: MeetingState): boolean {
    if (meeting.ended) return false;
    const demand = meetingDemand(meeting);
    const unchanged = meeting.plan !== null && this.planInputsUnchanged(meeting);
    if (unchanged && sameDemand(meeting.demand, demand)) return true;
    const inputs = unchanged ? meeting.plannedFrom : this.planningInputs(meeting);
    const input = this.routingInput(meeting, demand);
    const planned = planRouting(input);
    if (!planned.ok) {
      this.sim.note(`plan-failed ${meeting.id} ${planned.error.kind}`);
      return false;
    }
    const plan = planned.value;
    meeting.plannedFrom = inputs;
    meeting.planDeliversDemand = checkNewPlan(this.violations, `mc/${meeting.id}`, input, plan);
    this.metrics.reroutes.plans++;
    this.applyPlanLoads(meeting, plan);
    meeting.plan = plan;
    meeting.demand = demand;
    meeting.demandChangedAt = this.sim.now;
    this.scheduleConvergenceCheck(meeting);
    this.startTransition(meeting);
    this.moveClientsToNewHomes(meeting, plan);
    return true;
  }

  /**
   * Moves the handlers from the plan they hold to the latest plan, one transition at a time:
   * core's make-before-break steps, checked by core's transition checker, additions first and
   * removals once every addition is acknowledged. Plans made meanwhile are coalesced into the
   * next transition.
   */
  private startTransition(meeting: MeetingState): void {
    if (
      meeting.transitionInFlight ||
      meeting.ended ||
      meeting.plan === null ||
      meeting.plan === meeting.appliedPlan
    )
      return;
    const from = meeting.appliedPlan;
    const to = meeting.plan;
    const steps = planTransition(from, to);
    checkTransition(
      this.violations,
      `mc/${meeting.id}`,
      from,
      steps,
      meeting.appliedDemand,
      meeting.demand,
    );
    meeting.appliedPlan = to;
    meeting.appliedDemand = meeting.demand;
    meeting.transitionInFlight = true;
    this.sendTransition(meeting, steps, () => {
      meeting.transitionInFlight = false;
      this.checkFirstMedia(meeting);
      this.startTransition(meeting);
    });
  }

  /**
   * What the plan depends on besides the demand and other meetings' load: who is in the meeting,
   * where each is connected if not at its home in the plan in force, and which handlers are
   * down. The controller replans only when this or the demand changes. Not connected and
   * connected at home are the same to the planner: it treats a participant's current handler
   * and its home in the previous plan alike (either earns the existing-connection preference),
   * so a client reaching its home, or dropping from it, changes nothing it reads.
   */
  private planningInputs(meeting: MeetingState): PlanningInputs {
    const members: ParticipantId[] = [];
    const awayAt: (HandlerId | undefined)[] = [];
    for (const member of meeting.members.values()) {
      members.push(member.id);
      awayAt.push(this.awayFromHome(meeting, member));
    }
    return { members, awayAt, unhealthyHandlers: this.unhealthyHandlers };
  }

  /** Whether the meeting's planning inputs are still those its plan was made from. */
  private planInputsUnchanged(meeting: MeetingState): boolean {
    const planned = meeting.plannedFrom;
    if (planned === undefined || planned.unhealthyHandlers !== this.unhealthyHandlers) return false;
    if (planned.members.length !== meeting.members.size) return false;
    let index = 0;
    for (const member of meeting.members.values()) {
      if (planned.members[index] !== member.id) return false;
      if (planned.awayAt[index] !== this.awayFromHome(meeting, member)) return false;
      index++;
    }
    return true;
  }

  /** The handler a member is connected to when that is not its home in the plan in force. */
  private awayFromHome(meeting: MeetingState, member: Member): HandlerId | undefined {
    const connected = member.connectedHandler;
    return connected === undefined || connected === homeIn(meeting.plan, member.id)
      ? undefined
      : connected;
  }

  /** Refreshes {@link unhealthyHandlers} after a handler failed or recovered. */
  private handlerHealthChanged(): void {
    const down: string[] = [];
    for (const handler of this.handlersById.values()) if (!handler.healthy) down.push(handler.id);
    this.unhealthyHandlers = down.join(' ');
  }

  private routingInput(meeting: MeetingState, demand: readonly StreamDemand[]): RoutingInput {
    const regions = new Set<RegionId>([meeting.region]);
    for (const member of meeting.members.values()) regions.add(member.region);
    const thisMeeting = new Map((meeting.plan?.loads ?? []).map((l) => [l.handler, l.meetingBps]));
    const handlers: RoutingHandler[] = [];
    for (const region of regions) {
      for (const handler of this.regionOf(region).handlers) {
        handlers.push({
          id: handler.id,
          region: handler.region,
          site: handler.site,
          capacityBps: handler.capacityBps,
          loadBps: Math.max(0, handler.loadBps - (thisMeeting.get(handler.id) ?? 0)),
          healthy: handler.healthy,
          quality: 1,
          capabilities: [],
        });
      }
    }
    return {
      meeting: meeting.id,
      participants: [...meeting.members.values()].map((m: Member) => ({
        id: m.id,
        region: m.region,
        joinOrder: m.joinOrder,
        ...(m.connectedHandler === undefined ? {} : { currentHandler: m.connectedHandler }),
      })),
      handlers,
      demand,
      latencyMs: this.latency,
      streamBitrateBps: this.streamBps,
      ...(meeting.plan === null ? {} : { previous: meeting.plan }),
    };
  }

  private applyPlanLoads(meeting: MeetingState, next: RoutingPlan | null): void {
    for (const load of meeting.plan?.loads ?? []) {
      const handler = this.handlersById.get(load.handler);
      if (handler !== undefined) handler.loadBps = Math.max(0, handler.loadBps - load.meetingBps);
    }
    for (const load of next?.loads ?? []) {
      const handler = this.handlersById.get(load.handler);
      if (handler !== undefined) handler.loadBps += load.meetingBps;
    }
    let streams = 0;
    for (const handler of this.handlersById.values()) streams += handler.loadBps / this.streamBps;
    this.metrics.peakStreams = Math.max(this.metrics.peakStreams, Math.round(streams));
  }

  /** Sends additions, waits for every handler's acknowledgement, then sends removals. */
  private sendTransition(
    meeting: MeetingState,
    steps: readonly PlanStep[],
    done: () => void,
  ): void {
    const adds = steps.filter((s) => s.op === 'add');
    const removes = steps.filter((s) => s.op === 'remove');
    this.sendCommands(meeting, adds, () => this.sendCommands(meeting, removes, done));
  }

  /** One route command per handler; calls `done` once every handler has acknowledged. */
  private sendCommands(meeting: MeetingState, steps: readonly PlanStep[], done: () => void): void {
    const byHandler = new Map<HandlerId, PlanStep[]>();
    for (const step of steps) {
      const owner = ownerOf(step.route);
      const list = byHandler.get(owner) ?? [];
      list.push(step);
      byHandler.set(owner, list);
    }
    let outstanding = byHandler.size;
    if (outstanding === 0) return done();
    const acknowledged = (): void => {
      outstanding--;
      if (outstanding === 0) done();
    };
    for (const [owner, list] of byHandler) {
      this.metrics.reroutes.commands++;
      this.sendCommand(meeting, owner, list, acknowledged);
    }
  }

  /**
   * A route command on the controller's reliable stream to the handler: retransmitted every
   * COMMAND_RETRY until acknowledged, applied at most once however many copies arrive. A failed
   * handler (or an ended meeting) counts as done: its entries are gone.
   */
  private sendCommand(
    meeting: MeetingState,
    owner: HandlerId,
    steps: readonly PlanStep[],
    acknowledged: () => void,
  ): void {
    const handler = this.handlersById.get(owner);
    const state: { applied: boolean; acked: boolean; retry: Timer | undefined } = {
      applied: false,
      acked: false,
      retry: undefined,
    };
    const finish = (): void => {
      if (state.acked) return;
      state.acked = true;
      if (state.retry !== undefined) this.sim.cancel(state.retry);
      acknowledged();
    };
    const transmit = (): void => {
      const controller = this.controllerOf.get(meeting.id);
      if (handler === undefined || controller === undefined || !handler.healthy || meeting.ended) {
        return finish();
      }
      this.deliver(
        controller.node,
        handler.node,
        'mh.route-command',
        owner,
        controller.id,
        ms(this.scenario.serviceTimes.routeCommandMs),
        () => {
          if (!handler.healthy || meeting.ended) return;
          if (!state.applied) for (const step of steps) this.applyStep(meeting, handler, step);
          state.applied = true;
          this.deliver(
            handler.node,
            controller.node,
            'mc.route-ack',
            controller.id,
            owner,
            0,
            finish,
          );
        },
      );
      state.retry = this.sim.after(COMMAND_RETRY, 'mc.command-retry', owner, () => {
        if (!state.acked) transmit();
      });
    };
    transmit();
  }

  private applyStep(meeting: MeetingState, handler: MediaHandler, step: PlanStep): void {
    if (step.op === 'remove') {
      meeting.installed.remove(step.route);
      meeting.convergence.legRemoved(step.route);
      return;
    }
    meeting.installed.add(step.route);
    handler.meetings.add(meeting.id);
    if (step.route.type === 'cascade') {
      const paths = meeting.installed.paths(step.route);
      const hops = paths === undefined ? 0 : (paths.hops().get(step.route.to) ?? 0);
      this.metrics.recordCascade(hops);
    } else if (step.route.type === 'deliver') {
      this.recordForwarding(meeting, step.route.publisher, step.route.subscriber, handler);
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
    const publishedAt = meeting.plan === null ? undefined : firstPublishOf(meeting.plan, publisher);
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

  /** Clients whose home handler changed (e.g. after a handler failure) connect to the new one. */
  private moveClientsToNewHomes(meeting: MeetingState, plan: RoutingPlan): void {
    for (const home of plan.homes) {
      const client = this.clients.get(home.participant);
      if (
        client === undefined ||
        client.state !== 'connected' ||
        client.handler?.id === home.handler
      )
        continue;
      const handler = this.handlersById.get(home.handler);
      if (handler === undefined) continue;
      client.handler?.sessions.delete(client.id);
      this.connectHandler(client, handler, 1, true);
    }
  }

  // ---------------------------------------------------------------- first media and convergence

  private checkFirstMedia(meeting: MeetingState): void {
    let demandOf: Map<ParticipantId, StreamDemand[]> | undefined;
    for (const member of meeting.members.values()) {
      const client = this.clients.get(member.id);
      if (client === undefined || !client.awaitingFirstMedia || client.handler === undefined)
        continue;
      demandOf ??= demandBySubscriber(meeting.demand);
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
      meeting.convergence.check(
        this.violations,
        meeting.installed,
        meeting.plan ?? emptyPlan(meeting.id),
        meeting.plan !== null && meeting.planDeliversDemand,
        meeting.demand,
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

  /** Demands whose subscriber and publisher are connected and reachable are due. */
  private canBeDelivered(demand: StreamDemand): boolean {
    const sub = this.clients.get(demand.subscriber);
    const pub = this.clients.get(demand.publisher);
    if (sub?.state !== 'connected' || pub?.state !== 'connected') return false;
    if (sub.handler === undefined || pub.handler === undefined) return false;
    const regions = new Set<string>([sub.region, pub.region, sub.meeting.region]);
    const controller = this.controllerOf.get(sub.meeting.id);
    if (controller === undefined || !controller.healthy) return false;
    regions.add(controller.region);
    for (const load of sub.meeting.plan?.loads ?? []) {
      const handler = this.handlersById.get(load.handler);
      if (handler === undefined || !handler.healthy) return false;
      regions.add(handler.region);
    }
    for (const a of regions)
      for (const b of regions) if (this.network.isBlocked(a, b)) return false;
    return true;
  }

  // ---------------------------------------------------------------- media keys

  /** Feeds core's media-key state machine and carries out its effects. */
  private mediaKeyEvent(meeting: MeetingState, event: MediaKeyEvent): void {
    if (meeting.ended) return;
    for (const effect of meeting.keys.handle(event, this.epochMs())) {
      if (effect.type === 'distribute_epoch')
        this.distributeEpoch(meeting, effect.epoch, effect.recipients);
      // Every member is to erase the epoch: each does when its keys are next read or added.
      else meeting.erasedEpochs.push(effect.epoch);
    }
    const deadline = meeting.keys.nextDeadline();
    if (deadline === undefined) return;
    const at = this.sim.now + Math.max(0, deadline - this.epochMs()) * 1000;
    if (
      meeting.keyTickAt !== undefined &&
      meeting.keyTickAt <= at &&
      meeting.keyTickAt >= this.sim.now
    )
      return;
    if (meeting.keyTick !== undefined) this.sim.cancel(meeting.keyTick);
    meeting.keyTickAt = at;
    meeting.keyTick = this.sim.at(at, 'mc.media-key-tick', `meeting/${meeting.id}`, () => {
      meeting.keyTickAt = undefined;
      meeting.keyTick = undefined;
      this.mediaKeyEvent(meeting, { type: 'tick' });
    });
  }

  /** Sends an epoch's key to each recipient over its signaling stream, then checks the settle. */
  private distributeEpoch(
    meeting: MeetingState,
    epoch: number,
    recipients: readonly ParticipantId[],
  ): void {
    this.metrics.rotations.mediaKeys++;
    const controller = this.controllerOf.get(meeting.id);
    for (const recipient of recipients) {
      const client = this.clients.get(recipient);
      if (client === undefined || controller === undefined) continue;
      this.sendKey(controller, client, epoch, 1);
    }
    const settle = seconds(this.scenario.invariants.keySettleSeconds);
    // A newer epoch supersedes the pending check of the previous one (it would stop at once).
    if (meeting.keySettleCheck !== undefined) this.sim.cancel(meeting.keySettleCheck);
    meeting.keySettleCheck = this.sim.after(
      settle,
      'check.media-keys',
      `meeting/${meeting.id}`,
      () => {
        meeting.keySettleCheck = undefined;
        if (meeting.ended || meeting.keys.currentEpoch() !== epoch) return;
        const members = [...meeting.members.keys()]
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

  private sendKey(
    controller: ControllerNode,
    client: Client,
    epoch: number,
    attempt: number,
  ): void {
    if (!controller.healthy || client.state === 'left') return;
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
        if (client.state !== 'idle' && client.meeting.members.has(client.id))
          this.heldEpochs(client).add(epoch);
      },
    );
    if (delivered) return;
    this.sim.after(REQUEST_TIMEOUT, 'mc.media-key-retry', client.entity, () => {
      client.pendingKeys--;
      if (attempt < MAX_ATTEMPTS && client.meeting.keys.currentEpoch() === epoch)
        this.sendKey(controller, client, epoch, attempt + 1);
    });
  }

  /**
   * The epochs the client holds: what it received, less every epoch the controller ordered its
   * members erased while the client was one. The erasures are applied here, in order, when the
   * keys are read or added (or the client leaves) rather than at every member when ordered: the
   * same sets at every read, without touching each member's keys at each erasure.
   */
  private heldEpochs(client: Client): Set<number> {
    const erased = client.meeting.erasedEpochs;
    if (client.meeting.members.has(client.id)) {
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
              this.handlerHealthChanged();
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
            },
          );
        }
      }
    }
  }

  /**
   * A controller dies. Meeting state survives it (the spec keeps it in Redis); its clients
   * notice the lost signaling connection after the keep-alive timeout and rejoin through the
   * Global Controller, whose registry has stopped choosing the dead controller by then.
   */
  private crashController(controller: ControllerNode): void {
    this.lastTopologyChange = this.sim.now;
    controller.healthy = false;
    this.network.fail(controller.node.id);
    for (const client of this.clients.values()) {
      if (client.controller !== controller || client.state !== 'connected') continue;
      client.signalingLost = true;
      const delay = SIGNALING_KEEPALIVE_TIMEOUT + client.random.uniform(0, seconds(1));
      this.sim.after(delay, 'client.controller-lost', client.entity, () => {
        if (client.state !== 'connected' || client.controller?.healthy !== false) return;
        this.metrics.joins.reconnects++;
        this.lookupMeeting(client, 1);
      });
    }
  }

  /** A handler dies: its entries vanish; the controllers notice at the next load report and replan. */
  private crashHandler(handler: MediaHandler): void {
    this.lastTopologyChange = this.sim.now;
    handler.crash();
    this.handlerHealthChanged();
    this.network.fail(handler.id);
    for (const id of handler.meetings) {
      const meeting = this.meetings.get(id);
      if (meeting === undefined) continue;
      for (const plan of [meeting.appliedPlan, meeting.plan]) {
        for (const route of routesOf(plan ?? emptyPlan(meeting.id))) {
          if (ownerOf(route) !== handler.id) continue;
          meeting.installed.remove(route);
          meeting.convergence.legRemoved(route);
        }
      }
    }
    this.sim.after(FAILURE_DETECTION, 'mc.handler-down', handler.id, () => {
      for (const id of handler.meetings) {
        const meeting = this.meetings.get(id);
        if (meeting !== undefined) this.replan(meeting);
      }
      handler.meetings.clear();
    });
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
