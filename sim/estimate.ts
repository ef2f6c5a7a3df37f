import type { Scenario } from './scenario/schema.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/**
 * What a run costs, measured on the machine the simulator runs on (2 cores, 24 GiB, Node 20,
 * the bundled CLI with `--max-semi-space-size=128`), one run of each size under seed 1: peak
 * resident memory from `process.resourceUsage().maxRSS`, the heap from `process.memoryUsage()`
 * (heap, external and array buffers) read every 50,000 events and at the end, CPU time from
 * `process.cpuUsage()`.
 *
 * | run                                                   | participants | streams each | heap MiB | RSS MiB | joins  | CPU s |
 * | ----------------------------------------------------- | -----------: | -----------: | -------: | ------: | -----: | ----: |
 * | default, 60 s                                          |          143 |          4.9 |        - |      87 |    152 |   0.5 |
 * | baseline, 40 s                                         |       10,019 |          8.0 |      206 |     492 | 10,094 |  16.0 |
 * | baseline, 120 s                                        |       10,056 |          8.0 |      263 |     554 | 10,598 |  15.1 |
 * | baseline, 300 s                                        |       10,068 |          8.0 |      368 |     603 | 11,707 |  35.9 |
 * | baseline, 3,000 meetings, 30 handlers a region, 60 s   |       29,112 |          8.0 |      623 |     910 | 29,830 |  53.1 |
 * | baseline, 6,000 meetings, 60 handlers a region, 25 s   |       41,704 |          8.0 |      939 |   1,151 | 42,234 |  68.3 |
 * | 8,000 meetings of 2-6 (mean 3), speaker layout, 45 s   |       23,348 |          2.0 |      370 |     696 | 23,725 |  23.6 |
 * | default, 60 s, packet sample 1 (1.4 M packet copies)   |          143 |          4.9 |       27 |     105 |    152 |   2.3 |
 * | default, 60 s, sample 1 at 200 packets/s (5.7 M copies) |          143 |          4.9 |       40 |     139 |    152 |   4.2 |
 *
 * "Streams each" is the streams a participant's layout demands (see {@link demandedStreams}).
 * The heap grows by about 10.6 KiB per participant and 1.0 KiB per demanded stream (the
 * participant rows against the small-meeting row); the constants below round both up, and
 * resident memory adds about 400 MiB to the heap once V8's young generation is in use. The
 * model is above every measured peak (by 5-25 % on the runs whose participants had all joined;
 * the 25 s run ended with two thirds of them in) and, for runs far past the largest measured
 * one, an extrapolation. Packet copies: 0.6-1.3 microseconds each.
 *
 * The machine was shared while measuring (load average 7 to 10 on its 2 cores), so the CPU
 * figures are pessimistic: on an idle machine the same runs take a third to a fifth of them
 * (see docs/simulator.md, "Speed"). They vary by a third between runs of one size, so the CPU
 * estimate is the order of magnitude, not a prediction.
 */
export const RUN_COST = {
  baseMemoryBytes: 400 * MiB,
  memoryBytesPerParticipant: 12 * 1024,
  memoryBytesPerDemandedStream: 1.2 * 1024,
  /** One utilisation sample a second: the handlers' loads as an array of doubles. */
  memoryBytesPerUtilisationSample: 64,
  memoryBytesPerHandlerSample: 8,
  baseCpuSeconds: 0.3,
  /** A join replans its meeting: a fixed part and a part that grows with the meeting's demand. */
  cpuSecondsPerJoin: 0.8e-3,
  cpuSecondsPerJoinPerMeetingStream: 6e-6,
  /** The steady state, per demanded stream and simulated second, at the default speaker turn. */
  cpuSecondsPerStreamSecond: 1e-6,
  /** One packet of the packet sample delivered to one subscriber (all its legs). */
  cpuSecondsPerPacketCopy: 0.8e-6,
  /** Speaker changes take two thirds of the steady state at 8 s turns (docs/simulator.md). */
  speakerTurnShare: 2 / 3,
  referenceSpeakerTurnSeconds: 8,
  /** Meetings start and end at random: the peak runs above the mean. */
  peakFactor: 1.1,
  /** A trace line kept in a determinism-check window: an upper figure (lines run to 200 characters). */
  bytesPerTraceLine: 512,
} as const;

/** What a run is expected to need. */
export interface RunEstimate {
  readonly peakParticipants: number;
  readonly peakStreams: number;
  readonly joins: number;
  readonly memoryBytes: number;
  readonly cpuSeconds: number;
}

/** The mean of a meeting's size: the minimum plus an exponential excess capped at the maximum. */
export function expectedMeetingSize(participants: {
  mean: number;
  min: number;
  max: number;
}): number {
  const excess = participants.mean - participants.min;
  const cap = participants.max - participants.min;
  if (excess <= 0 || cap <= 0) return participants.min;
  return participants.min + excess * (1 - Math.exp(-cap / excess));
}

/** Tiles a layout shows: `speaker` one plus four thumbnails, `grid` 3x3, `gridRxC` R times C. */
function layoutTiles(name: string): number {
  if (name === 'speaker') return 5;
  const grid = /^grid(\d+)x(\d+)$/.exec(name);
  return grid === null ? 9 : Number(grid[1]) * Number(grid[2]);
}

/** Streams one participant's layout demands on average: its tiles, or everybody else if fewer. */
export function demandedStreams(scenario: Scenario, meetingSize: number): number {
  const layouts = Object.entries(scenario.workload.layouts);
  const total = layouts.reduce((sum, [, weight]) => sum + weight, 0);
  if (total === 0) return 0;
  const others = Math.max(0, meetingSize - 1);
  return layouts.reduce(
    (sum, [name, weight]) => sum + (weight / total) * Math.min(others, layoutTiles(name)),
    0,
  );
}

/** The estimate for one run of `scenario` for `durationSeconds` of simulated time. */
export function estimateRun(
  scenario: Scenario,
  durationSeconds = scenario.durationSeconds,
): RunEstimate {
  const c = RUN_COST;
  const workload = scenario.workload;
  const size = expectedMeetingSize(workload.participants);
  const perParticipant = demandedStreams(scenario, size);
  const peakParticipants = workload.concurrentMeetings * size * c.peakFactor;
  const peakStreams = peakParticipants * perParticipant;
  const meetingsStarted =
    (workload.warmStart ? workload.concurrentMeetings : 0) +
    (workload.concurrentMeetings * durationSeconds) / workload.meanMeetingSeconds;
  const joins = meetingsStarted * size * (1 + workload.reconnectProbability);
  const maxHandlers = scenario.regions.reduce(
    (sum, region) =>
      sum +
      (scenario.autoscaling.enabled
        ? Math.ceil(region.mediaHandlers * scenario.autoscaling.maxFactor)
        : region.mediaHandlers),
    0,
  );
  const samples = Math.ceil(durationSeconds);
  const memoryBytes =
    c.baseMemoryBytes +
    peakParticipants * c.memoryBytesPerParticipant +
    peakStreams * c.memoryBytesPerDemandedStream +
    samples * (c.memoryBytesPerUtilisationSample + maxHandlers * c.memoryBytesPerHandlerSample);
  const speakerFactor =
    1 -
    c.speakerTurnShare +
    (c.speakerTurnShare * c.referenceSpeakerTurnSeconds) / workload.meanSpeakerTurnSeconds;
  const streamSeconds = peakStreams * durationSeconds;
  const packetCopies =
    scenario.media.packetSample * streamSeconds * scenario.media.packetsPerSecond;
  const cpuSeconds =
    c.baseCpuSeconds +
    joins * (c.cpuSecondsPerJoin + size * perParticipant * c.cpuSecondsPerJoinPerMeetingStream) +
    streamSeconds * c.cpuSecondsPerStreamSecond * speakerFactor +
    packetCopies * c.cpuSecondsPerPacketCopy;
  return { peakParticipants, peakStreams, joins, memoryBytes, cpuSeconds };
}

/** Runs one after another (a swarm): the largest memory, the sum of the CPU time. */
export function inSequence(estimates: readonly RunEstimate[]): RunEstimate {
  return {
    peakParticipants: Math.max(0, ...estimates.map((e) => e.peakParticipants)),
    peakStreams: Math.max(0, ...estimates.map((e) => e.peakStreams)),
    joins: estimates.reduce((sum, e) => sum + e.joins, 0),
    memoryBytes: Math.max(0, ...estimates.map((e) => e.memoryBytes)),
    cpuSeconds: estimates.reduce((sum, e) => sum + e.cpuSeconds, 0),
  };
}

/**
 * The determinism check: two runs whose outcomes are held together (the first is kept while the
 * second runs), each keeping a window of `hashEvery` trace lines: twice the memory and the CPU
 * time, plus the windows.
 */
export function determinismCheck(estimate: RunEstimate, hashEvery: number): RunEstimate {
  return {
    ...estimate,
    joins: estimate.joins * 2,
    memoryBytes: estimate.memoryBytes * 2 + 2 * hashEvery * RUN_COST.bytesPerTraceLine,
    cpuSeconds: estimate.cpuSeconds * 2,
  };
}

/** What the machine offers a run: its memory and the Node heap's limit. */
export interface MachineLimits {
  readonly totalMemoryBytes: number;
  readonly heapLimitBytes: number;
}

/** A run may use this share of the machine's memory (it is shared with other processes). */
export const MEMORY_SHARE = 0.7;
/** Above either figure the estimate is printed before the run. */
export const LARGE_RUN = { memoryBytes: 1 * GiB, cpuSeconds: 60 } as const;
/** A run estimated to take more CPU time than this is refused (the machine is shared). */
export const MAX_CPU_SECONDS = 24 * 3600;

export type Verdict =
  | { readonly kind: 'small' }
  | { readonly kind: 'large' }
  | { readonly kind: 'too-large'; readonly reason: string };

/** Whether a run of that estimate is small, large (say so first) or too large for the machine. */
export function judgeRun(estimate: RunEstimate, machine: MachineLimits): Verdict {
  const memoryShare = machine.totalMemoryBytes * MEMORY_SHARE;
  if (estimate.memoryBytes > memoryShare) {
    return {
      kind: 'too-large',
      reason: `needs about ${formatBytes(estimate.memoryBytes)} of memory, more than ${Math.round(MEMORY_SHARE * 100)} % of this machine's ${formatBytes(machine.totalMemoryBytes)}`,
    };
  }
  if (estimate.memoryBytes > machine.heapLimitBytes) {
    const megabytes = Math.ceil((estimate.memoryBytes * 1.25) / MiB);
    return {
      kind: 'too-large',
      reason: `needs about ${formatBytes(estimate.memoryBytes)} of memory, more than Node's heap limit of ${formatBytes(machine.heapLimitBytes)} (raise it with NODE_OPTIONS=--max-old-space-size=${megabytes})`,
    };
  }
  if (estimate.cpuSeconds > MAX_CPU_SECONDS) {
    return {
      kind: 'too-large',
      reason: `needs about ${formatDuration(estimate.cpuSeconds)} of CPU time, more than the ${formatDuration(MAX_CPU_SECONDS)} a run may take`,
    };
  }
  if (estimate.memoryBytes > LARGE_RUN.memoryBytes || estimate.cpuSeconds > LARGE_RUN.cpuSeconds) {
    return { kind: 'large' };
  }
  return { kind: 'small' };
}

/** The estimate as one line for the terminal. */
export function describeEstimate(estimate: RunEstimate): string {
  const count = (n: number) => Math.round(n).toLocaleString('en-US');
  return `about ${count(estimate.peakParticipants)} participants and ${count(estimate.peakStreams)} streams at peak, ${count(estimate.joins)} joins, ${formatBytes(estimate.memoryBytes)} of memory, ${formatDuration(estimate.cpuSeconds)} of CPU time (sim/estimate.ts)`;
}

export function formatBytes(bytes: number): string {
  return bytes >= GiB ? `${(bytes / GiB).toFixed(1)} GiB` : `${Math.round(bytes / MiB)} MiB`;
}

export function formatDuration(secondsOfCpu: number): string {
  if (secondsOfCpu < 120) return `${Math.round(secondsOfCpu)} s`;
  if (secondsOfCpu < 2 * 3600) return `${Math.round(secondsOfCpu / 60)} min`;
  return `${(secondsOfCpu / 3600).toFixed(1)} h`;
}
