import { z } from 'zod';
import { aboveBound, BOUNDS, belowBound, MIN_PERIOD_SECONDS } from './bounds.ts';

const positive = z.number().positive();
const nonNegative = z.number().nonnegative();
const probability = z.number().min(0).max(1);

/** A number at most `bound`; the error names the value and the bound. */
const atMost = <T extends z.ZodNumber>(schema: T, bound: number) =>
  schema.max(bound, { error: (issue) => aboveBound(issue.input, bound) });
/** A count: an integer from `min` to `bound`. */
const count = (min: number, bound: number) => atMost(z.number().int().min(min), bound);
/** A mean period in seconds, no shorter than `floor`. */
const period = (floor: number) =>
  z.number().min(floor, { error: (issue) => belowBound(issue.input, floor) });
/** A time in milliseconds. */
const milliseconds = atMost(nonNegative, BOUNDS.latencyMs);

/** Whether cumulative steps increase in `key` and in fraction, the last at fraction 1. */
const cumulative =
  <K extends string>(key: K) =>
  (steps: readonly (Readonly<Record<K, number>> & { readonly fraction: number })[]): boolean =>
    steps.every(
      (s, i) =>
        i === 0 ||
        (s[key] >= (steps[i - 1]?.[key] ?? 0) && s.fraction >= (steps[i - 1]?.fraction ?? 0)),
    ) && steps[steps.length - 1]?.fraction === 1;

/** A distribution of times (cumulative steps, increasing in both, the last at fraction 1). */
const forwardingSteps = (name: string) =>
  z
    .array(z.strictObject({ upToMs: milliseconds, fraction: probability }))
    .min(1)
    .max(64)
    .refine(cumulative('upToMs'), { message: `${name} must increase and end at fraction 1` });
/** A join step's spread: factors over its median, cumulative (`serviceTimeSpread`). */
const spreadSteps = (name: string) =>
  z
    .array(z.strictObject({ factor: z.number().min(0).max(100), fraction: probability }))
    .min(1)
    .max(64)
    .refine(cumulative('factor'), {
      message: `serviceTimeSpread.${name} must increase and end at fraction 1`,
    });
/** A time in seconds within one run. */
const runSeconds = atMost(nonNegative, BOUNDS.durationSeconds);
const runPositiveSeconds = atMost(positive, BOUNDS.durationSeconds);
/** A list of at most `bound` items; the error names the length and the bound. */
const atMostItems = <T extends z.ZodType>(item: T, bound: number) =>
  z.array(item).max(bound, {
    error: (issue) => aboveBound(`${(issue.input as unknown[]).length} items`, bound),
  });

const regionSchema = z.strictObject({
  name: z.string().min(1),
  /** Meeting controllers in the region. */
  meetingControllers: count(1, BOUNDS.meetingControllersPerRegion).default(2),
  /** Media handlers in the region. */
  mediaHandlers: count(1, BOUNDS.mediaHandlersPerRegion).default(4),
  /**
   * Ids for the region's first handlers, in order (the others are `mh/<region>/<index>`). Core
   * ranks handlers that tie on load by a hash of the meeting's id and theirs, so a comparison
   * with a running stack names them as the stack does (npm run load:compare).
   */
  mediaHandlerIds: z
    .array(z.string().min(1).max(128))
    .max(BOUNDS.mediaHandlersPerRegion)
    .refine((ids) => new Set(ids).size === ids.length && ids.every((id) => !id.startsWith('mh/')), {
      message: "mediaHandlerIds must be distinct and not start with 'mh/'",
    })
    .optional(),
  /** Relative share of users whose home is this region. */
  userWeight: nonNegative.default(1),
});

const networkSchema = z.strictObject({
  /** Round-trip times between regions in ms; each unordered pair once is enough. */
  rttMs: z.record(z.string(), z.record(z.string(), milliseconds)).default({}),
  intraRegionMs: milliseconds.default(0.5),
  clientAccessMs: milliseconds.default(12),
  jitterMs: milliseconds.default(2),
  loss: probability.default(0.001),
  clientBandwidthMbps: positive.default(50),
});

const serviceTimesSchema = z.strictObject({
  /** Processing time of each step, in ms (the network adds its own latency). */
  tokenIssueMs: milliseconds.default(4),
  meetingLookupMs: milliseconds.default(3),
  joinProcessingMs: milliseconds.default(8),
  mediaConnectMs: milliseconds.default(5),
  routeCommandMs: milliseconds.default(1),
  forwardingMs: milliseconds.default(0.3),
  /**
   * A publisher's time between frames on the wire: a new subscriber's first frame is the next
   * frame of any publisher it receives, each publisher's at a phase of its own within this.
   */
  firstFrameMs: milliseconds.default(15),
  /*
   * The parts below are absent unless a model sets them (the loopback model of
   * `npm run load:compare`, from a calibration run): without them the world behaves as it
   * always has.
   */
  /**
   * Opening the signaling connection before the join request: the round trips of its
   * handshake (a WebSocket: TCP's and the HTTP upgrade's) and the CPU both ends spend on it.
   */
  signalingConnect: z.strictObject({ roundTrips: count(0, 8), cpuMs: milliseconds }).optional(),
  /**
   * Round trips of the media transport's handshake before the session's hello (a WebSocket:
   * TCP's and the HTTP upgrade's; QUIC: its 1-RTT handshake); `mediaConnectMs` is then the CPU.
   */
  mediaHandshakeRoundTrips: count(0, 8).optional(),
  /**
   * The controller's time for a member's media connection report (the `connected` input: a
   * session up, or lost), from its arrival to its answer (a move, route commands); without it,
   * half of `joinProcessingMs`, as every other signaling request.
   */
  connectionReportMs: milliseconds.optional(),
  /**
   * The handler's time per forwarded datagram as a distribution (cumulative: a `fraction` of
   * datagrams take at most `upToMs`; increasing in both, the last fraction 1); each forwarded
   * datagram draws from it (linear within a step) instead of taking `forwardingMs`.
   */
  forwardingDistribution: forwardingSteps('forwardingDistribution').optional(),
  /**
   * How each join step's service time varies from one request to the next, step by step: the
   * distribution of a request's time over the step's median (cumulative: a `fraction` of
   * requests take at most `factor` times it; increasing in both, the last fraction 1). Each
   * request of a step at the services (`meetingLookup`, the signaling connection's CPU
   * `signalingConnect`, `joinProcessing`, the media session's CPU `mediaConnect`) takes its
   * constant times a draw from that step's distribution; a step without one takes its
   * constant. Each step has its own: their bodies vary alike (nine requests in ten within
   * about 1.5-1.9 times the median, measured here) but their tails are pauses of about the same
   * length whatever the step (10-25 ms), a larger factor on a shorter step. A calibration
   * measures them from its joins (garbage collection, scheduling: the machine's own variation).
   */
  serviceTimeSpread: z
    .strictObject({
      meetingLookup: spreadSteps('meetingLookup').optional(),
      signalingConnect: spreadSteps('signalingConnect').optional(),
      joinProcessing: spreadSteps('joinProcessing').optional(),
      mediaConnect: spreadSteps('mediaConnect').optional(),
    })
    .optional(),
  /**
   * The handler's time per forwarded datagram by the handler's load: distributions as
   * `forwardingDistribution`'s, each measured at a handler `utilisation` (its share of capacity,
   * in and out), in increasing order. A handler's datagram draws at its load now, its quantile
   * linear in utilisation between the two measured loads around it (the nearest below the
   * lowest or above the highest). A handler that forwards fewer datagrams a second takes longer
   * on each (its caches and its CPU's state cold between them). Takes precedence over
   * `forwardingDistribution` where a handler is known.
   */
  forwardingByLoad: z
    .array(
      z.strictObject({
        utilisation: z.number().min(0).max(4),
        distribution: forwardingSteps('forwardingByLoad distribution'),
      }),
    )
    .min(1)
    .max(16)
    .refine(
      (points) =>
        points.every((p, i) => i === 0 || p.utilisation > (points[i - 1]?.utilisation ?? 0)),
      { message: 'forwardingByLoad must be in increasing utilisation' },
    )
    .optional(),
  /**
   * Each service process (controller, handler, GC, AC) serves one request at a time, in
   * arrival order: a request that arrives while it is busy waits (a Node process's event loop).
   */
  queueing: z.boolean().optional(),
  /**
   * How a client learns its handler's process died: 'next-packet' (a datagram transport: the
   * reset its next packet draws; the default) or 'connection-close' (a stream transport: the
   * host closes the connection when the process dies, one hop away).
   */
  mediaLossNotice: z.enum(['next-packet', 'connection-close']).optional(),
  /**
   * With 'connection-close': how long after a process is killed its host closes its
   * connections. The kernel frees a killed process's memory before its sockets, so a handler
   * holding hundreds of megabytes is heard dead tens of milliseconds late (the loopback model
   * calibrates it); without it, at once.
   */
  processTeardownMs: milliseconds.optional(),
  /**
   * The controller's time to sign the connection token of each member it moves, one token
   * after another: a failover moves every member of the lost handler at once, and the last
   * move leaves that many tokens after the first. Without it, at once.
   */
  moveTokenMs: milliseconds.optional(),
});

const workloadSchema = z.strictObject({
  /** Steady-state number of concurrent meetings (arrivals follow Little's law). */
  concurrentMeetings: count(1, BOUNDS.concurrentMeetings),
  /** Start with the steady state already in progress instead of an empty system. */
  warmStart: z.boolean().default(true),
  meanMeetingSeconds: period(MIN_PERIOD_SECONDS.meanMeetingSeconds).default(1800),
  participants: z
    .strictObject({
      mean: positive,
      min: count(1, BOUNDS.participantsPerMeeting),
      max: count(1, BOUNDS.participantsPerMeeting),
    })
    .refine((p) => p.min <= p.mean && p.mean <= p.max, {
      message: 'participants must satisfy min <= mean <= max',
    }),
  /**
   * Ids for the first meetings, in order (the others are `m<index>`): core places a meeting on
   * one of the handlers that tie on load by a hash of its id, so a comparison with a running stack
   * gives the simulator the stack's meeting ids (npm run load:compare).
   */
  meetingIds: z
    .array(z.string().min(1).max(128))
    .max(BOUNDS.concurrentMeetings)
    .refine((ids) => new Set(ids).size === ids.length && ids.every((id) => !/^m\d+$/.test(id)), {
      message: 'meetingIds must be distinct and none of the form m<number>',
    })
    .optional(),
  /** Seconds over which the members of one meeting arrive. */
  joinSpreadSeconds: runSeconds.default(20),
  /**
   * How the warm start's meetings and every meeting's members arrive: at random times within
   * the spread (the default), or 'even': meeting i of n starts at spread * i / n and its
   * members arrive one after another, evenly over its 1/n of the spread (each at the middle of
   * its slot), as a load run's clients join (loadtest/quic).
   */
  arrivals: z.enum(['random', 'even']).default('random'),
  /** Probability that a participant lives outside the meeting's region. */
  crossRegionFraction: probability.default(0.1),
  /** Relative weights of the layouts participants pick. */
  layouts: z.record(z.string(), nonNegative).default({ grid: 3, speaker: 1 }),
  meanSpeakerTurnSeconds: period(MIN_PERIOD_SECONDS.meanSpeakerTurnSeconds).default(8),
  meanLayoutChangeSeconds: period(MIN_PERIOD_SECONDS.meanLayoutChangeSeconds).default(600),
  screenShareProbability: probability.default(0.2),
  meanScreenShareSeconds: period(MIN_PERIOD_SECONDS.meanScreenShareSeconds).default(90),
  /** Probability that a participant drops and reconnects once during the meeting. */
  reconnectProbability: probability.default(0.05),
  /** Probability that a participant leaves before the meeting ends. */
  earlyLeaveProbability: probability.default(0.1),
});

const mediaSchema = z.strictObject({
  /** Bitrate of one forwarded stream (the routing planner uses one rate for every stream). */
  streamKbps: positive.default(1500),
  /** Capacity of one media handler's NIC in megabits per second. */
  handlerCapacityMbps: positive.default(10_000),
  /** Fraction of meetings simulated packet by packet (the rest are flow-level). */
  packetSample: probability.default(0),
  packetsPerSecond: atMost(positive, BOUNDS.packetsPerSecond).default(50),
  /**
   * How a meeting with members in several regions is served (spec 003 "Cross-Region
   * Meetings"): handlers in each member's region cascading to each other, or every member on
   * a handler of the meeting's region.
   */
  crossRegion: z.enum(['cascade', 'single-region']).default('cascade'),
});

const keysSchema = z.strictObject({
  /** Signing-key rotation period (the spec's weekly rotation). */
  signingRotationSeconds: period(MIN_PERIOD_SECONDS.signingRotationSeconds).default(7 * 24 * 3600),
  /** How long a retired signing key still verifies tokens (the spec's one-week overlap). */
  signingOverlapSeconds: positive.default(7 * 24 * 3600),
  /**
   * The run starts this long before a signing-key rotation boundary, so short runs cross a
   * rotation under the real policy and tokens signed by the old key must keep verifying.
   */
  startSecondsBeforeRotation: runSeconds.default(30),
  /** Time-based media-key rotation (the spec's hourly rotation). */
  mediaKeyRotationSeconds: period(MIN_PERIOD_SECONDS.mediaKeyRotationSeconds).default(3600),
  /**
   * Media keys through the meeting's MLS group, the controller as delivery service (the
   * services' model: core/mls/delivery through core/mc/meeting), instead of controller-made
   * key epochs. Simulated clients answer commit requests with opaque commits.
   */
  mls: z.boolean().default(false),
});

const faultSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('partition'),
    atSeconds: runSeconds,
    durationSeconds: runPositiveSeconds,
    from: z.array(z.string()).min(1),
    to: z.array(z.string()).min(1),
    symmetric: z.boolean().default(true),
  }),
  z.strictObject({
    kind: z.literal('handler-crash'),
    atSeconds: runSeconds,
    region: z.string(),
    /** The handler's position in its region, or the one holding the most sessions then. */
    index: z.union([
      count(0, BOUNDS.mediaHandlersPerRegion * BOUNDS.autoscalingMaxFactor),
      z.literal('busiest'),
    ]),
    /** Omit to keep the handler down for the rest of the run. */
    durationSeconds: runPositiveSeconds.optional(),
  }),
  z.strictObject({
    kind: z.literal('controller-crash'),
    atSeconds: runSeconds,
    region: z.string(),
    index: count(0, BOUNDS.mediaHandlersPerRegion * BOUNDS.autoscalingMaxFactor),
    durationSeconds: runPositiveSeconds.optional(),
  }),
]);

const autoscalingSchema = z.strictObject({
  /** Run core's autoscaler for the media handlers of each region. */
  enabled: z.boolean().default(true),
  /** How often the autoscaler evaluates (the HPA's sync period). */
  intervalSeconds: period(MIN_PERIOD_SECONDS.autoscalingIntervalSeconds).default(15),
  /** Time from a scale-out decision to the new handler taking traffic. */
  provisionSeconds: runSeconds.default(20),
  /** Upper bound on handlers per region, as a multiple of the initial count. */
  maxFactor: atMost(positive, BOUNDS.autoscalingMaxFactor).default(4),
});

const invariantsSchema = z.strictObject({
  /** How long a subscriber may wait for the streams its layout demands. */
  convergenceSeconds: positive.default(2),
  /** How long after a media-key rotation every member must hold the new epoch. */
  keySettleSeconds: positive.default(2),
});

/** A scenario file: the world, its network and workload, faults and invariant bounds. */
export const scenarioSchema = z
  .strictObject({
    name: z.string().min(1),
    description: z.string().default(''),
    durationSeconds: runPositiveSeconds,
    regions: atMostItems(regionSchema, BOUNDS.regions).min(1),
    network: networkSchema.default(networkSchema.parse({})),
    serviceTimes: serviceTimesSchema.default(serviceTimesSchema.parse({})),
    workload: workloadSchema,
    media: mediaSchema.default(mediaSchema.parse({})),
    keys: keysSchema.default(keysSchema.parse({})),
    faults: atMostItems(faultSchema, BOUNDS.faults).default([]),
    autoscaling: autoscalingSchema.default(autoscalingSchema.parse({})),
    invariants: invariantsSchema.default(invariantsSchema.parse({})),
  })
  .superRefine((scenario, ctx) => {
    const names = scenario.regions.map((r) => r.name);
    names.forEach((name, index) => {
      if (names.indexOf(name) !== index) {
        ctx.addIssue({
          code: 'custom',
          path: ['regions', index, 'name'],
          message: `duplicate region "${name}"`,
        });
      }
    });
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) {
        const a = names[i] as string;
        const b = names[j] as string;
        if (
          scenario.network.rttMs[a]?.[b] === undefined &&
          scenario.network.rttMs[b]?.[a] === undefined
        ) {
          ctx.addIssue({
            code: 'custom',
            path: ['network', 'rttMs', a, b],
            message: `no RTT between ${a} and ${b}`,
          });
        }
      }
    }
    for (const [name, row] of Object.entries(scenario.network.rttMs)) {
      for (const other of [name, ...Object.keys(row)]) {
        if (!names.includes(other)) {
          ctx.addIssue({
            code: 'custom',
            path: ['network', 'rttMs', name],
            message: `unknown region "${other}"`,
          });
        }
      }
    }
    scenario.faults.forEach((fault, index) => {
      const regions = fault.kind === 'partition' ? [...fault.from, ...fault.to] : [fault.region];
      for (const region of regions) {
        if (!names.includes(region)) {
          ctx.addIssue({
            code: 'custom',
            path: ['faults', index],
            message: `unknown region "${region}"`,
          });
        }
      }
    });
    for (const layout of Object.keys(scenario.workload.layouts)) {
      if (!/^(grid|speaker|grid\d+x\d+)$/.test(layout)) {
        ctx.addIssue({
          code: 'custom',
          path: ['workload', 'layouts', layout],
          message: `unknown layout "${layout}" (use grid, gridRxC or speaker)`,
        });
      }
      const grid = /^grid(\d+)x(\d+)$/.exec(layout);
      for (const dimension of grid === null ? [] : [grid[1], grid[2]]) {
        const value = Number(dimension);
        if (value < 1 || value > BOUNDS.gridDimension) {
          ctx.addIssue({
            code: 'custom',
            path: ['workload', 'layouts', layout],
            message: `rows and columns must be 1 to ${BOUNDS.gridDimension}: ${
              value < 1 ? belowBound(value, 1) : aboveBound(value, BOUNDS.gridDimension)
            }`,
          });
        }
      }
    }
    if (Object.values(scenario.workload.layouts).every((weight) => weight === 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['workload', 'layouts'],
        message: 'at least one layout needs a weight',
      });
    }
  });

/** A scenario as written in a file (defaults not yet applied). */
export type ScenarioInput = z.input<typeof scenarioSchema>;
/** A validated scenario with every default filled in. */
export type Scenario = z.output<typeof scenarioSchema>;
export type Fault = Scenario['faults'][number];
