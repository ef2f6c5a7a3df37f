import { LOOPBACK_NETWORK, LOOPBACK_SERVICE_TIMES } from './loopback.ts';
import { scenarioSchema, type Scenario, type ScenarioInput } from './schema.ts';

const DEFAULT_REGIONS = ['us-west-1', 'us-east-1', 'eu-west-1'] as const;

/** Typical public-cloud RTTs between the default regions, in milliseconds. */
const DEFAULT_RTT_MS = {
  'us-west-1': { 'us-east-1': 62, 'eu-west-1': 140 },
  'us-east-1': { 'eu-west-1': 76 },
};

const regions = (meetingControllers: number, mediaHandlers: number) =>
  DEFAULT_REGIONS.map((name) => ({ name, meetingControllers, mediaHandlers }));

const DEFAULT = {
  name: 'default',
  description:
    'Small three-region run that finishes in seconds: 24 concurrent meetings; a signing-key rotation at t=30s.',
  durationSeconds: 60,
  regions: regions(2, 3),
  network: { rttMs: DEFAULT_RTT_MS },
  workload: {
    concurrentMeetings: 24,
    meanMeetingSeconds: 300,
    participants: { mean: 6, min: 2, max: 16 },
    layouts: { grid: 3, speaker: 1 },
  },
} satisfies ScenarioInput;

/**
 * Spec 003 "Cross-Region Meetings", one option each: meetings with half their members in
 * other regions, served by handlers in every member's region cascading to each other, or by
 * handlers of the meeting's region only; `npm run sim -- --scenario cross-region-cascade
 * --compare cross-region-single` runs both side by side.
 */
const CROSS_REGION = (strategy: 'cascade' | 'single-region'): ScenarioInput => ({
  ...DEFAULT,
  name: strategy === 'cascade' ? 'cross-region-cascade' : 'cross-region-single',
  description:
    strategy === 'cascade'
      ? 'Meetings with half their members abroad; handlers in each member region cascade to each other.'
      : 'The same meetings; every member connects to a handler in the meeting region.',
  workload: { ...DEFAULT.workload, crossRegionFraction: 0.5 },
  media: { crossRegion: strategy },
});

const BUILTIN: Record<string, ScenarioInput> = {
  default: DEFAULT,
  baseline: {
    name: 'baseline',
    description:
      "The ADR's baseline load: 1,000 concurrent meetings with 10 participants on average.",
    durationSeconds: 120,
    regions: regions(2, 8),
    network: { rttMs: DEFAULT_RTT_MS },
    workload: {
      concurrentMeetings: 1000,
      meanMeetingSeconds: 1800,
      participants: { mean: 10, min: 2, max: 40 },
      layouts: { grid: 3, speaker: 1 },
    },
  },
  partition: {
    name: 'partition',
    description:
      'Default load with a 10-second symmetric partition between us-east-1 and eu-west-1 at t=20s.',
    durationSeconds: 60,
    regions: regions(2, 3),
    network: { rttMs: DEFAULT_RTT_MS },
    workload: {
      concurrentMeetings: 24,
      meanMeetingSeconds: 300,
      participants: { mean: 6, min: 2, max: 16 },
      crossRegionFraction: 0.3,
    },
    faults: [
      {
        kind: 'partition',
        atSeconds: 20,
        durationSeconds: 10,
        from: ['us-east-1'],
        to: ['eu-west-1'],
      },
    ],
  },
  mls: {
    ...DEFAULT,
    name: 'mls',
    description:
      "Default load, shorter meetings, media keys through each meeting's MLS group with the controller as its delivery service (the services' key model), rotated every 20 s.",
    // Short meetings (members leave) and a 20 s rotation period, so leaves, timed rotations
    // and groups dissolving and starting again all happen within a minute.
    workload: { ...DEFAULT.workload, meanMeetingSeconds: 40 },
    keys: { mls: true, mediaKeyRotationSeconds: 20 },
  },
  'handler-failure': {
    name: 'handler-failure',
    description:
      'The busiest media handler in us-west-1 fails at t=20s; its streams are rerouted to the others.',
    durationSeconds: 60,
    regions: regions(2, 3),
    network: { rttMs: DEFAULT_RTT_MS },
    workload: {
      concurrentMeetings: 30,
      meanMeetingSeconds: 300,
      participants: { mean: 6, min: 2, max: 16 },
    },
    faults: [{ kind: 'handler-crash', atSeconds: 20, region: 'us-west-1', index: 'busiest' }],
  },
  'controller-failure': {
    name: 'controller-failure',
    description:
      'A meeting controller in us-west-1 fails at t=20s; its clients rejoin through the GC on another one.',
    durationSeconds: 60,
    regions: regions(2, 3),
    network: { rttMs: DEFAULT_RTT_MS },
    workload: {
      concurrentMeetings: 24,
      meanMeetingSeconds: 300,
      participants: { mean: 6, min: 2, max: 16 },
    },
    faults: [{ kind: 'controller-crash', atSeconds: 20, region: 'us-west-1', index: 0 }],
  },
  'scale-out': {
    name: 'scale-out',
    description:
      'Handlers too small for the load: admission redirects and rejects, the autoscaler adds handlers.',
    durationSeconds: 90,
    regions: regions(1, 2),
    network: { rttMs: DEFAULT_RTT_MS },
    workload: {
      concurrentMeetings: 30,
      meanMeetingSeconds: 600,
      participants: { mean: 6, min: 2, max: 12 },
      joinSpreadSeconds: 40,
    },
    media: { handlerCapacityMbps: 250 },
    autoscaling: { intervalSeconds: 15, provisionSeconds: 20 },
  },
  'large-meetings': {
    name: 'large-meetings',
    description:
      'Two meetings of 40-120 participants on small handlers: several handlers per meeting and cascades.',
    durationSeconds: 30,
    regions: regions(1, 6),
    network: { rttMs: DEFAULT_RTT_MS },
    workload: {
      concurrentMeetings: 2,
      meanMeetingSeconds: 600,
      participants: { mean: 70, min: 40, max: 120 },
      layouts: { grid: 1, speaker: 1 },
    },
    media: { handlerCapacityMbps: 400 },
  },
  // The topology `npm run load:compare -- basic` runs for real on this machine, with the
  // loopback network and the service times calibrated on it (sim/scenario/loopback.ts).
  loopback: {
    name: 'loopback',
    description:
      'One machine on loopback: four meetings of four on two handlers, 480 kbit/s cameras; the busiest handler killed at t=20s.',
    durationSeconds: 30,
    regions: [{ name: 'loopback', meetingControllers: 1, mediaHandlers: 2 }],
    network: LOOPBACK_NETWORK,
    serviceTimes: { ...LOOPBACK_SERVICE_TIMES, firstFrameMs: 1000 / 50 },
    workload: {
      concurrentMeetings: 4,
      meanMeetingSeconds: 86_400,
      participants: { mean: 4, min: 4, max: 4 },
      joinSpreadSeconds: 4,
      // As the load run's clients join (npm run load:compare -- basic).
      arrivals: 'even',
      crossRegionFraction: 0,
      layouts: { grid: 1 },
      screenShareProbability: 0,
      reconnectProbability: 0,
      earlyLeaveProbability: 0,
    },
    media: { streamKbps: 480, packetsPerSecond: 50, handlerCapacityMbps: 50 },
    autoscaling: { enabled: false },
    faults: [{ kind: 'handler-crash', atSeconds: 20, region: 'loopback', index: 'busiest' }],
  },
  'cross-region-cascade': CROSS_REGION('cascade'),
  'cross-region-single': CROSS_REGION('single-region'),
};

/** Names of the built-in scenarios, default first. */
export function builtinScenarioNames(): string[] {
  return Object.keys(BUILTIN);
}

/** A built-in scenario with defaults applied, or undefined for an unknown name. */
export function builtinScenario(name: string): Scenario | undefined {
  const input = BUILTIN[name];
  return input === undefined ? undefined : scenarioSchema.parse(input);
}

/** One line per built-in scenario, for `--list-scenarios`. */
export function describeBuiltinScenarios(): string[] {
  return Object.entries(BUILTIN).map(([name, s]) => `${name.padEnd(16)} ${s.description ?? ''}`);
}
