/**
 * Builders shared by the Meeting Controller machine tests: handlers made known through real
 * load reports, meeting and controller settings, and helpers that drain and answer outputs.
 */
import { rawBandwidthState } from '../backpressure/bandwidth.ts';
import {
  handlerId,
  meetingId,
  participantId,
  regionId,
  type HandlerId,
  type ParticipantId,
  type RegionId,
} from '../ids.ts';
import { layoutRequestNamed } from '../layout/named.ts';
import type { LayoutRequest } from '../layout/types.ts';
import type { ControllerConfig } from './endpoint.ts';
import { HandlerView, type HandlerReport, type HandlerViewPolicy } from './handlers.ts';
import {
  DEFAULT_MEETING_TIMING,
  MeetingMachine,
  type MeetingConfig,
  type MeetingInput,
  type MeetingOutput,
} from './meeting.ts';

export const MBPS = 1_000_000;
export const REGION: RegionId = regionId('us-west-1');
export const OTHER_REGION: RegionId = regionId('eu-west-1');
export const STREAM_BPS = MBPS;

export const TEST_TIMING = {
  commandRetryMs: 400,
  keyRetryMs: 2_000,
  keyRetryCapMs: 8_000,
  sessionTtlMs: 300_000,
  deletionGraceMs: 30_000,
} as const;

export const TEST_VIEW_POLICY: HandlerViewPolicy = { reportIntervalMs: 1_000, detectionMs: 2_500 };

export const h = (id: string): HandlerId => handlerId(id);
export const p = (id: string): ParticipantId => participantId(id);

/** A load report of handler `id` in `REGION` unless told otherwise. */
export function report(
  id: string,
  reportedAt: number,
  overrides: Partial<Omit<HandlerReport, 'handlerId' | 'reportedAt'>> = {},
): HandlerReport {
  const utilisation = overrides.utilisation ?? 0;
  return {
    handlerId: handlerId(id),
    region: REGION,
    site: 'dc1',
    capacityBps: 1_000 * MBPS,
    utilisation,
    state: rawBandwidthState(utilisation),
    reportedAt,
    ...overrides,
  };
}

/** A handler view that has heard one report from each of `ids` at `now`. */
export function viewOf(
  ids: readonly string[],
  now = 0,
  overrides: Partial<Omit<HandlerReport, 'handlerId' | 'reportedAt'>> = {},
): HandlerView {
  const view = new HandlerView(TEST_VIEW_POLICY);
  for (const id of ids) view.report(report(id, now, overrides), now);
  return view;
}

/** Meeting settings less the meeting's id and region. */
export function meetingSettings(
  overrides: Partial<Omit<MeetingConfig, 'meeting' | 'region'>> = {},
): Omit<MeetingConfig, 'meeting' | 'region'> {
  return {
    ...DEFAULT_MEETING_TIMING,
    commandRetryMs: TEST_TIMING.commandRetryMs,
    keyRetryMs: TEST_TIMING.keyRetryMs,
    keyRetryCapMs: TEST_TIMING.keyRetryCapMs,
    sessionTtlMs: TEST_TIMING.sessionTtlMs,
    latencyMs: {
      [REGION]: { [REGION]: 2, [OTHER_REGION]: 80 },
      [OTHER_REGION]: { [REGION]: 80, [OTHER_REGION]: 2 },
    },
    streamBitrateBps: STREAM_BPS,
    keyPolicy: { rotationIntervalMs: 3_600_000, deletionGraceMs: TEST_TIMING.deletionGraceMs },
    ...overrides,
  };
}

export function meetingConfig(
  overrides: Partial<Omit<MeetingConfig, 'meeting' | 'region'>> = {},
): MeetingConfig {
  return { meeting: meetingId('m1'), region: REGION, ...meetingSettings(overrides) };
}

export function controllerConfig(overrides: Partial<ControllerConfig> = {}): ControllerConfig {
  return {
    controller: 'mc-1' as ControllerConfig['controller'],
    region: REGION,
    heartbeatIntervalMs: 1_000,
    handlerView: TEST_VIEW_POLICY,
    meetings: meetingSettings(),
    ...overrides,
  };
}

/** A meeting machine on a view of `handlers` (each with plenty of room). */
export function newMeeting(
  handlers: readonly string[] = ['h1', 'h2'],
  overrides: Partial<Omit<MeetingConfig, 'meeting' | 'region'>> = {},
  view: HandlerView = viewOf(handlers),
): { machine: MeetingMachine; view: HandlerView } {
  return { machine: new MeetingMachine(meetingConfig(overrides), view), view };
}

/** Everything the machine has to say now. */
export function drain(machine: { pollOutput(): MeetingOutput | null }): MeetingOutput[] {
  const out: MeetingOutput[] = [];
  for (let o = machine.pollOutput(); o !== null; o = machine.pollOutput()) out.push(o);
  return out;
}

export type Of<T extends MeetingOutput['type']> = Extract<MeetingOutput, { type: T }>;

export function ofType<T extends MeetingOutput['type']>(
  outputs: readonly MeetingOutput[],
  type: T,
): Of<T>[] {
  return outputs.filter((o): o is Of<T> => o.type === type);
}

export const grid = (): LayoutRequest => layoutRequestNamed('grid');

export function joinInput(
  who: string,
  layout: LayoutRequest = grid(),
  region = REGION,
): MeetingInput {
  return { type: 'join', participant: participantId(who), region, layout };
}

/** Acknowledges every route command in `outputs`, then drains; repeats until nothing is sent. */
export function ackUntilIdle(
  machine: MeetingMachine,
  outputs: readonly MeetingOutput[],
  now: number,
): MeetingOutput[] {
  const all: MeetingOutput[] = [];
  let batch = outputs;
  for (let round = 0; round < 100; round++) {
    const commands = ofType(batch, 'route-command');
    if (commands.length === 0) return all;
    for (const command of commands) machine.handle({ type: 'route-ack', command: command.id }, now);
    batch = drain(machine);
    all.push(...batch);
  }
  throw new Error('route commands never stopped');
}

/** Joins `who` and acknowledges every command until the meeting is idle; returns all outputs. */
export function joinSettled(
  machine: MeetingMachine,
  who: readonly string[],
  now: number,
): MeetingOutput[] {
  const all: MeetingOutput[] = [];
  for (const id of who) {
    machine.handle(joinInput(id), now);
    const out = drain(machine);
    all.push(...out, ...ackUntilIdle(machine, out, now));
  }
  return all;
}

/** Speaker view showing only the active speaker: a speaker change swaps delivered streams. */
export const SOLO: LayoutRequest = { type: 'speaker', thumbnails: 0, streamIds: [1] };

/**
 * A settled meeting whose speaker changes move routes on two handlers: a and b in `REGION`
 * (home h1), c in `OTHER_REGION` (home h3), all in speaker view with no thumbnails.
 */
export function speakerMeeting(
  overrides: Partial<Omit<MeetingConfig, 'meeting' | 'region'>> = {},
): { machine: MeetingMachine; view: HandlerView } {
  const view = viewOf(['h1']);
  view.report(report('h3', 0, { region: OTHER_REGION }), 0);
  const { machine } = newMeeting([], overrides, view);
  for (const [who, region] of [
    ['a', REGION],
    ['b', REGION],
    ['c', OTHER_REGION],
  ] as const) {
    machine.handle(joinInput(who, SOLO, region), 0);
    ackUntilIdle(machine, drain(machine), 0);
  }
  drain(machine);
  // Every member has the key in force: no key resend is pending.
  for (const who of machine.roster.members.keys())
    machine.handle({ type: 'key-ack', participant: who, epoch: machine.currentEpoch() ?? -1 }, 0);
  return { machine, view };
}

/**
 * A meeting of `REGION` on h1 (in `REGION`) and h3 (in `OTHER_REGION`) that a (in `REGION`)
 * and c (in `OTHER_REGION`) joined at 0, every command acknowledged; with every output.
 */
export function twoRegionMeeting(
  overrides: Partial<Omit<MeetingConfig, 'meeting' | 'region'>> = {},
): { machine: MeetingMachine; outputs: MeetingOutput[] } {
  const view = viewOf(['h1']);
  view.report(report('h3', 0, { region: OTHER_REGION }), 0);
  const { machine } = newMeeting([], overrides, view);
  const outputs: MeetingOutput[] = [];
  for (const [who, region] of [
    ['a', REGION],
    ['c', OTHER_REGION],
  ] as const) {
    machine.handle(joinInput(who, grid(), region), 0);
    const out = drain(machine);
    outputs.push(...out, ...ackUntilIdle(machine, out, 0));
  }
  return { machine, outputs };
}
