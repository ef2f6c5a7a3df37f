/**
 * Capacity and cost model (ADR-0012 "Resource Sizing" and "Cost Estimation"). The
 * derivation, the assumptions and the comparison with the ADR's figures are in
 * docs/cost-model.md; this file is the executable form of that document.
 *
 * Instances per region come from the workload's busy-hour peak, the scaling table's
 * per-instance limits (800 meetings per MC, 8,000 streams per MH, 1,000 req/s per GC) at the
 * utilisation target, and per-region minimums. Compute is priced per vCPU-hour and
 * GiB-hour: shared-pool pods at their requests, MH at its limits (one MH per node in its
 * dedicated node pool). Databases are PostgreSQL (CloudNativePG, 3 instances + 1 DR
 * replica) and a Redis Cluster per region. Bandwidth is the billed inter-region traffic of
 * cascaded meetings during business hours.
 */
import { err, ok } from '../result.ts';
import type { Result } from '../result.ts';

export type CostedService = 'ac' | 'gc' | 'mc' | 'mh';
export const COSTED_SERVICES: readonly CostedService[] = ['ac', 'gc', 'mc', 'mh'];

export interface Workload {
  /** Average concurrent meetings in the busy hours, over all regions. */
  readonly concurrentMeetings: number;
  readonly averageParticipants: number;
  /** Regions the load is spread over evenly. */
  readonly regions: number;
  /** Provisioned peak over the busy-hour average (1.6 = 60 % headroom for peaks). */
  readonly peakFactor: number;
  /** Fraction of each instance's capacity the fleet is sized to use, 0..1. */
  readonly utilisationTarget: number;
  /** Size every region to also absorb an equal share of one failed region's load. */
  readonly regionalFailoverReserve?: boolean;
}

export interface PodSize {
  readonly cpu: number;
  readonly memoryGiB: number;
}

export interface ServiceSizing {
  readonly requests: PodSize;
  readonly limits: PodSize;
  /** Whether pods are billed by their limits (a dedicated node each) or their requests. */
  readonly billedBy: 'requests' | 'limits';
  readonly minPerRegion: number;
}

export interface CostModel {
  readonly hoursPerMonth: number;
  readonly usdPerVcpuHour: number;
  readonly usdPerGiBHour: number;
  readonly usdPerGiBMonthBlock: number;
  readonly usdPerGiBMonthObject: number;
  readonly usdPerGbInterRegion: number;
  readonly sizing: Readonly<Record<CostedService, ServiceSizing>>;
  readonly meetingsPerMc: number;
  readonly streamsPerMh: number;
  readonly requestsPerSecondPerGc: number;
  /** GC requests per participant per second (join, token refresh, metadata). */
  readonly gcRequestsPerParticipantSecond: number;
  /** Streams a participant publishes: audio and camera. */
  readonly publishedStreamsPerParticipant: number;
  /** Most video tiles a layout shows; audio is received from everyone. */
  readonly maxVideoTiles: number;
  readonly postgres: {
    readonly instances: number;
    readonly size: PodSize;
    readonly storageGiB: number;
  };
  readonly redis: {
    readonly meetingsPerMaster: number;
    readonly minMasters: number;
    readonly replicasPerMaster: number;
    readonly size: PodSize;
    readonly storageGiB: number;
  };
  readonly backupGiB: number;
  readonly busyHoursPerMonth: number;
  /** Share of meetings with participants in more than one region. */
  readonly crossRegionMeetingShare: number;
  readonly audioKbps: number;
  /** Video crossing a cascade: the active speaker's stream. */
  readonly cascadeVideoKbps: number;
}

const shared = (cpu: number, memoryGiB: number, limitCpu: number, limitGiB: number) => ({
  requests: { cpu, memoryGiB },
  limits: { cpu: limitCpu, memoryGiB: limitGiB },
  billedBy: 'requests' as const,
  minPerRegion: 2,
});

/** The model's stated inputs; docs/cost-model.md explains every value. */
export const DEFAULT_COST_MODEL: CostModel = {
  hoursPerMonth: 730,
  usdPerVcpuHour: 0.037,
  usdPerGiBHour: 0.00275,
  usdPerGiBMonthBlock: 0.08,
  usdPerGiBMonthObject: 0.023,
  usdPerGbInterRegion: 0.02,
  sizing: {
    ac: shared(0.5, 1, 2, 2),
    gc: shared(1, 2, 3, 4),
    mc: shared(2, 6, 4, 8),
    mh: { ...shared(4, 12, 8, 16), billedBy: 'limits' },
  },
  meetingsPerMc: 800,
  streamsPerMh: 8_000,
  requestsPerSecondPerGc: 1_000,
  gcRequestsPerParticipantSecond: 1 / 30,
  publishedStreamsPerParticipant: 2,
  maxVideoTiles: 9,
  postgres: { instances: 4, size: { cpu: 2, memoryGiB: 8 }, storageGiB: 200 },
  redis: {
    meetingsPerMaster: 3_000,
    minMasters: 3,
    replicasPerMaster: 1,
    size: { cpu: 1, memoryGiB: 4 },
    storageGiB: 10,
  },
  backupGiB: 500,
  busyHoursPerMonth: 220,
  crossRegionMeetingShare: 0.1,
  audioKbps: 50,
  cascadeVideoKbps: 2_500,
};

export interface CostEstimate {
  /** Peak meetings each region is sized for. */
  readonly meetingsPerRegion: number;
  readonly streamsPerMeeting: number;
  readonly instancesPerRegion: Readonly<Record<CostedService, number>>;
  /** Monthly USD per service, all regions. */
  readonly computeByService: Readonly<Record<CostedService, number>>;
  readonly database: {
    readonly postgres: number;
    readonly redis: number;
    readonly backups: number;
  };
  readonly interRegionGb: number;
  /** Monthly USD per category and in total. */
  readonly monthly: {
    readonly compute: number;
    readonly database: number;
    readonly bandwidth: number;
    readonly total: number;
  };
}

export type CostModelError = {
  readonly kind: 'invalid-workload';
  readonly field: keyof Workload;
  readonly reason: string;
};

function validate(w: Workload): CostModelError | null {
  const invalid = (field: keyof Workload, reason: string): CostModelError => ({
    kind: 'invalid-workload',
    field,
    reason,
  });
  if (!(w.concurrentMeetings >= 0)) return invalid('concurrentMeetings', 'must be >= 0');
  if (!(w.averageParticipants >= 1)) return invalid('averageParticipants', 'must be >= 1');
  if (!(Number.isInteger(w.regions) && w.regions >= 1)) {
    return invalid('regions', 'must be an integer >= 1');
  }
  if (!(w.peakFactor >= 1)) return invalid('peakFactor', 'must be >= 1');
  if (!(w.utilisationTarget > 0 && w.utilisationTarget <= 1)) {
    return invalid('utilisationTarget', 'must be in (0, 1]');
  }
  if (w.regionalFailoverReserve && w.regions < 2) {
    return invalid('regionalFailoverReserve', 'needs at least 2 regions');
  }
  return null;
}

/** Streams through the MH fleet per meeting: published, plus delivered audio and video. */
export function streamsPerMeeting(participants: number, model: CostModel): number {
  const others = Math.max(0, participants - 1);
  const received = others + Math.min(others, model.maxVideoTiles);
  return participants * (model.publishedStreamsPerParticipant + received);
}

function peakMeetingsPerRegion(w: Workload): number {
  const regionsSharing = w.regionalFailoverReserve ? w.regions - 1 : w.regions;
  return (w.concurrentMeetings * w.peakFactor) / regionsSharing;
}

function instancesPerRegion(
  w: Workload,
  meetings: number,
  model: CostModel,
): Record<CostedService, number> {
  const atTarget = (load: number, capacity: number) =>
    Math.ceil(load / (capacity * w.utilisationTarget));
  const needed: Record<CostedService, number> = {
    ac: 0,
    gc: atTarget(
      meetings * w.averageParticipants * model.gcRequestsPerParticipantSecond,
      model.requestsPerSecondPerGc,
    ),
    mc: atTarget(meetings, model.meetingsPerMc),
    mh: atTarget(meetings * streamsPerMeeting(w.averageParticipants, model), model.streamsPerMh),
  };
  const result = { ...needed };
  for (const service of COSTED_SERVICES) {
    result[service] = Math.max(model.sizing[service].minPerRegion, needed[service]);
  }
  return result;
}

const monthlyPodCost = (size: PodSize, model: CostModel): number =>
  (size.cpu * model.usdPerVcpuHour + size.memoryGiB * model.usdPerGiBHour) * model.hoursPerMonth;

function databaseCost(w: Workload, meetings: number, model: CostModel): CostEstimate['database'] {
  const { postgres, redis } = model;
  const postgresCost =
    postgres.instances *
    (monthlyPodCost(postgres.size, model) + postgres.storageGiB * model.usdPerGiBMonthBlock);
  const masters = Math.max(redis.minMasters, Math.ceil(meetings / redis.meetingsPerMaster));
  const redisNodes = masters * (1 + redis.replicasPerMaster) * w.regions;
  const redisCost =
    redisNodes * (monthlyPodCost(redis.size, model) + redis.storageGiB * model.usdPerGiBMonthBlock);
  return {
    postgres: postgresCost,
    redis: redisCost,
    backups: model.backupGiB * model.usdPerGiBMonthObject,
  };
}

/** GB crossing regions per month: cascades carry every audio stream and one video stream. */
function interRegionGb(w: Workload, model: CostModel): number {
  if (w.regions < 2) return 0;
  const cascadeKbps = w.averageParticipants * model.audioKbps + model.cascadeVideoKbps;
  const cascadeMeetingHours =
    w.concurrentMeetings * model.crossRegionMeetingShare * model.busyHoursPerMonth;
  return (cascadeMeetingHours * cascadeKbps * 3_600) / 8 / 1e6;
}

/** Monthly cost and capacity of a workload, per category and per service. */
export function estimateMonthlyCost(
  workload: Workload,
  model: CostModel = DEFAULT_COST_MODEL,
): Result<CostEstimate, CostModelError> {
  const invalid = validate(workload);
  if (invalid) return err(invalid);
  const meetings = peakMeetingsPerRegion(workload);
  const instances = instancesPerRegion(workload, meetings, model);
  const computeByService = { ac: 0, gc: 0, mc: 0, mh: 0 };
  for (const service of COSTED_SERVICES) {
    const sizing = model.sizing[service];
    computeByService[service] =
      instances[service] * workload.regions * monthlyPodCost(sizing[sizing.billedBy], model);
  }
  const database = databaseCost(workload, meetings, model);
  const gb = interRegionGb(workload, model);
  const compute = COSTED_SERVICES.reduce((sum, s) => sum + computeByService[s], 0);
  const databaseTotal = database.postgres + database.redis + database.backups;
  const bandwidth = gb * model.usdPerGbInterRegion;
  return ok({
    meetingsPerRegion: meetings,
    streamsPerMeeting: streamsPerMeeting(workload.averageParticipants, model),
    instancesPerRegion: instances,
    computeByService,
    database,
    interRegionGb: gb,
    monthly: {
      compute,
      database: databaseTotal,
      bandwidth,
      total: compute + databaseTotal + bandwidth,
    },
  });
}

/** The ADR's baseline workload under the model's assumptions. */
export const ADR_BASELINE_WORKLOAD: Workload = {
  concurrentMeetings: 1_000,
  averageParticipants: 10,
  regions: 3,
  peakFactor: 1.6,
  utilisationTarget: 0.7,
};

export interface CostScenario {
  readonly name: string;
  readonly workload: Workload;
  /** The ADR's monthly total for the scenario, USD. */
  readonly adrMonthlyUsd: number;
}

/** The ADR's four cost rows and how each is expressed as a workload. */
export const ADR_COST_SCENARIOS: readonly CostScenario[] = [
  { name: 'baseline', workload: ADR_BASELINE_WORKLOAD, adrMonthlyUsd: 16_995 },
  {
    name: 'regional failover',
    workload: { ...ADR_BASELINE_WORKLOAD, regionalFailoverReserve: true },
    adrMonthlyUsd: 23_360,
  },
  {
    name: '2x traffic spike',
    workload: { ...ADR_BASELINE_WORKLOAD, concurrentMeetings: 2_000 },
    adrMonthlyUsd: 31_268,
  },
  {
    name: 'low utilisation (20 %)',
    workload: { ...ADR_BASELINE_WORKLOAD, concurrentMeetings: 200 },
    adrMonthlyUsd: 4_756,
  },
];
