/**
 * A QUIC load run's scenario: a simulator scenario file (sim/scenario/schema.ts) with one more
 * top-level section, `load`, for what only a load run needs. The simulator's fields that fit
 * a load run are read from the same file, so `npm run load:compare` runs the very file in the
 * simulator too:
 *
 * | load run                      | scenario field                                            |
 * | ----------------------------- | --------------------------------------------------------- |
 * | meetings                      | `workload.concurrentMeetings`                             |
 * | participants per meeting      | `workload.participants` (min = mean = max: a fixed size)  |
 * | handlers                      | `regions[0].mediaHandlers` (one region: loopback)         |
 * | run length                    | `durationSeconds`                                         |
 * | ramp (meetings start over it) | `load.rampSeconds`, default `workload.joinSpreadSeconds`  |
 * | datagrams per second, stream  | `media.packetsPerSecond`                                  |
 * | datagram size                 | `media.streamKbps` / `media.packetsPerSecond`             |
 * | a handler's capacity          | `media.handlerCapacityMbps` (the handler's MH_CAPACITY_BPS)|
 * | a handler killed (failover)   | a `handler-crash` fault (`load:compare` only)             |
 *
 * `load` adds: publishers per meeting (default every participant), meeting placement (round
 * robin over the handlers, or every meeting asking the first handler, to drive it past its
 * limit) and the settle time after the last datagram. Each publisher's camera is delivered to
 * every other member of its meeting (a grid that shows everyone).
 *
 * Bounds keep a run within what this machine carries on loopback (docs: FINDINGS, QUIC
 * datagram echo about 11.9k/s on the whole box): a scenario beyond them is refused with every
 * reason named, before anything starts. Pure: no I/O here.
 */
import { z } from 'zod';
import { err, ok, type Result } from '../../core/result.ts';
import { DATAGRAM_HEADER_LENGTH } from '../../core/protocol/datagram.ts';
import { validateScenario, type ScenarioIssue } from '../../sim/scenario/load.ts';
import type { Scenario } from '../../sim/scenario/schema.ts';

/** What one load run may ask for on this machine (2 cores shared, loopback). */
export const LOAD_BOUNDS = {
  durationSeconds: 120,
  handlers: 4,
  participants: 240,
  participantsPerMeeting: 50,
  /** Datagrams per second the publishers send, all together. */
  datagramsInPerSecond: 6_000,
  /** Datagrams per second the handlers send, all together (fan-out included). */
  datagramsOutPerSecond: 15_000,
  /** The handler's own datagram limit (MH_MAX_DATAGRAM_BYTES default). */
  datagramBytes: 1_200,
} as const;

/** The SFrame header the load client writes (KID and CTR up to 2^16: 1 + 1 + 2 bytes) and a byte of ciphertext. */
const MIN_PAYLOAD = 4 + 1;

const loadSection = z.strictObject({
  /** Members of a meeting that publish their camera; default every member. */
  publishersPerMeeting: z.number().int().min(1).optional(),
  /** `round-robin`: meeting i asks handler i mod H; `first`: every meeting asks handler 1. */
  placement: z.enum(['round-robin', 'first']).default('round-robin'),
  /** Meetings start evenly over this many seconds; default `workload.joinSpreadSeconds`. */
  rampSeconds: z.number().min(0).optional(),
  /** Time after the last datagram for the ones in flight to land. */
  settleSeconds: z.number().min(0).max(10).default(1),
});

/** The load run derived from a scenario. */
export interface LoadPlan {
  readonly name: string;
  readonly description: string;
  readonly durationSeconds: number;
  readonly rampSeconds: number;
  readonly settleSeconds: number;
  readonly handlers: number;
  readonly meetings: number;
  readonly participantsPerMeeting: number;
  readonly publishersPerMeeting: number;
  readonly placement: 'round-robin' | 'first';
  readonly datagramsPerSecond: number;
  readonly datagramBytes: number;
  readonly capacityBps: number;
  readonly region: string;
  /** What the run sends and what the handlers should forward, for the bounds and the report. */
  readonly expected: {
    readonly participants: number;
    readonly datagramsInPerSecond: number;
    readonly datagramsOutPerSecond: number;
    /** Bits per second through each handler when the meetings are spread evenly. */
    readonly bitsPerSecond: number;
    /** Utilisation of a handler carrying one meeting (in + out over capacity). */
    readonly utilisationPerMeeting: number;
  };
  /** The scenario as the simulator reads it (the `load` section removed). */
  readonly scenario: Scenario;
}

export type LoadScenarioError =
  | { readonly kind: 'invalid'; readonly issues: readonly ScenarioIssue[] }
  | { readonly kind: 'too-large'; readonly reasons: readonly string[] };

/** Validates a parsed scenario object (YAML or JSON) into a load plan. */
export function loadPlanFrom(
  input: unknown,
  source = 'scenario',
): Result<LoadPlan, LoadScenarioError> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return err({ kind: 'invalid', issues: [{ path: '(root)', message: 'expected an object' }] });
  }
  const { load, ...rest } = input as Record<string, unknown>;
  const section = loadSection.safeParse(load ?? {});
  const simulated = validateScenario(rest, source);
  const issues: ScenarioIssue[] = [];
  if (!simulated.ok && simulated.error.kind === 'invalid') issues.push(...simulated.error.issues);
  if (!section.success) {
    for (const issue of section.error.issues) {
      issues.push({ path: ['load', ...issue.path.map(String)].join('.'), message: issue.message });
    }
  }
  if (!simulated.ok || !section.success) return err({ kind: 'invalid', issues });
  const scenario = simulated.value;
  const options = section.data;
  const { participants } = scenario.workload;
  if (scenario.regions.length !== 1) {
    issues.push({ path: 'regions', message: 'a load run has one region (loopback)' });
  }
  if (participants.min !== participants.max || participants.mean !== participants.max) {
    issues.push({
      path: 'workload.participants',
      message: 'a load run has meetings of one size: set min = mean = max',
    });
  }
  const perMeeting = participants.max;
  const publishers = options.publishersPerMeeting ?? perMeeting;
  if (publishers > perMeeting) {
    issues.push({
      path: 'load.publishersPerMeeting',
      message: `${publishers} publishers in meetings of ${perMeeting}`,
    });
  }
  const rate = scenario.media.packetsPerSecond;
  const datagramBytes = Math.round((scenario.media.streamKbps * 1000) / 8 / rate);
  if (datagramBytes < DATAGRAM_HEADER_LENGTH + MIN_PAYLOAD) {
    issues.push({
      path: 'media.streamKbps',
      message: `${datagramBytes}-byte datagrams at ${rate}/s: below the ${DATAGRAM_HEADER_LENGTH + MIN_PAYLOAD}-byte minimum (raise streamKbps or lower packetsPerSecond)`,
    });
  }
  if (issues.length > 0) return err({ kind: 'invalid', issues });

  const meetings = scenario.workload.concurrentMeetings;
  const handlers = (scenario.regions[0] as Scenario['regions'][number]).mediaHandlers;
  const inPerSecond = meetings * publishers * rate;
  // Each publisher reaches every other member; a non-publishing member receives every publisher.
  const outPerSecond = meetings * publishers * (perMeeting - 1) * rate;
  const streamBps = datagramBytes * 8 * rate;
  const capacityBps = scenario.media.handlerCapacityMbps * 1_000_000;
  const perMeetingBps = publishers * perMeeting * streamBps;
  const plan: LoadPlan = {
    name: scenario.name,
    description: scenario.description,
    durationSeconds: scenario.durationSeconds,
    rampSeconds: options.rampSeconds ?? scenario.workload.joinSpreadSeconds,
    settleSeconds: options.settleSeconds,
    handlers,
    meetings,
    participantsPerMeeting: perMeeting,
    publishersPerMeeting: publishers,
    placement: options.placement,
    datagramsPerSecond: rate,
    datagramBytes,
    capacityBps,
    region: scenario.regions[0]?.name ?? 'loopback',
    expected: {
      participants: meetings * perMeeting,
      datagramsInPerSecond: inPerSecond,
      datagramsOutPerSecond: outPerSecond,
      bitsPerSecond: (meetings * perMeetingBps) / handlers,
      utilisationPerMeeting: perMeetingBps / capacityBps,
    },
    scenario,
  };
  const reasons = tooLarge(plan);
  return reasons.length === 0 ? ok(plan) : err({ kind: 'too-large', reasons });
}

/** Why a plan does not fit this machine (empty when it fits). */
export function tooLarge(plan: LoadPlan): string[] {
  const reasons: string[] = [];
  const check = (what: string, value: number, bound: number) => {
    if (value > bound) reasons.push(`${what} ${value} is above the bound ${bound}`);
  };
  check('durationSeconds', plan.durationSeconds, LOAD_BOUNDS.durationSeconds);
  check('handlers', plan.handlers, LOAD_BOUNDS.handlers);
  check('participants', plan.expected.participants, LOAD_BOUNDS.participants);
  check(
    'participants per meeting',
    plan.participantsPerMeeting,
    LOAD_BOUNDS.participantsPerMeeting,
  );
  check(
    'datagrams in per second',
    plan.expected.datagramsInPerSecond,
    LOAD_BOUNDS.datagramsInPerSecond,
  );
  check(
    'datagrams out per second',
    plan.expected.datagramsOutPerSecond,
    LOAD_BOUNDS.datagramsOutPerSecond,
  );
  check('datagram bytes', plan.datagramBytes, LOAD_BOUNDS.datagramBytes);
  if (plan.rampSeconds >= plan.durationSeconds) {
    reasons.push(
      `the ramp (${plan.rampSeconds} s) leaves no time at full load in ${plan.durationSeconds} s`,
    );
  }
  return reasons;
}

/** A scenario error as one line for the terminal, every problem named. */
export function describeLoadScenarioError(source: string, error: LoadScenarioError): string {
  return error.kind === 'invalid'
    ? `invalid load scenario ${source}: ${error.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`
    : `load scenario ${source} is too large for this machine: ${error.reasons.join('; ')}`;
}

/** When meeting `index` starts, in seconds from the run's start. */
export function meetingStartSeconds(plan: LoadPlan, index: number): number {
  return plan.meetings <= 1 ? 0 : (plan.rampSeconds * index) / plan.meetings;
}

/** The handler (0-based) meeting `index` asks first. */
export function firstHandlerOf(plan: LoadPlan, index: number): number {
  return plan.placement === 'first' ? 0 : index % plan.handlers;
}
