import { MAX_GRID_DIMENSION } from '../../core/layout/types.ts';

/**
 * Bounds on what a scenario file and the command line may ask for. They are set for the machine
 * the simulator is run on (24 GiB of memory, 2 cores): each keeps one field from reaching a size
 * at which a run could not finish or could not be held in memory whatever the other fields say.
 * Whether a scenario within these bounds fits as a whole is the run estimate's question
 * (`sim/estimate.ts`). docs/simulator.md lists them.
 */
export const BOUNDS = {
  /** One simulated day. */
  durationSeconds: 86_400,
  /** The RTT matrix has one entry per pair of regions. */
  regions: 16,
  meetingControllersPerRegion: 64,
  /** Initial media handlers per region. */
  mediaHandlersPerRegion: 256,
  /** Autoscaling's ceiling, as a multiple of a region's initial handlers. */
  autoscalingMaxFactor: 8,
  /** 100 times the ADR baseline; the estimate decides how many of them fit with their sizes. */
  concurrentMeetings: 100_000,
  participantsPerMeeting: 1_000,
  faults: 1_000,
  /** Any latency or service time, in milliseconds. */
  latencyMs: 60_000,
  /** Packets per stream per second for the packet sample (one every millisecond). */
  packetsPerSecond: 1_000,
  /** Rows and columns of a `gridRxC` layout (core's own limit). */
  gridDimension: MAX_GRID_DIMENSION,
  /** Seeds one `--swarm` runs. */
  swarmSeeds: 10_000,
  /** `--hash-every`: the determinism check holds one window of that many event lines. */
  hashEvery: 1_000_000,
  /** Seeds are doubles in the random streams' names: 2^53 - 1 is the last exact integer. */
  seed: Number.MAX_SAFE_INTEGER,
} as const;

/**
 * Shortest mean periods, in seconds, of what recurs in a run. A period rounds to whole
 * microseconds, so a tiny one would schedule events at one instant without end; these floors
 * keep every recurring activity at a human pace.
 */
export const MIN_PERIOD_SECONDS = {
  meanMeetingSeconds: 1,
  meanSpeakerTurnSeconds: 0.5,
  meanLayoutChangeSeconds: 1,
  meanScreenShareSeconds: 1,
  autoscalingIntervalSeconds: 1,
  mediaKeyRotationSeconds: 1,
  signingRotationSeconds: 60,
} as const;

/** The message of a value above its bound: the caller's path names the field. */
export const aboveBound = (value: unknown, bound: number): string =>
  `${String(value)} is above the bound ${bound}`;

/** The message of a value below its floor. */
export const belowBound = (value: unknown, bound: number): string =>
  `${String(value)} is below the bound ${bound}`;
