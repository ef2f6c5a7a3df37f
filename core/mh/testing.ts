/**
 * Test helpers for core/mh: forwarders, claims and datagrams with readable defaults.
 */
import type { HandlerLoadReport } from '../backpressure/admission.ts';
import {
  controllerId,
  handlerId,
  meetingId,
  participantId,
  regionId,
  type MediaKind,
  type MeetingId,
  type ParticipantId,
} from '../ids.ts';
import { encodeDatagram, type DatagramHeader } from '../protocol/datagram.ts';
import { unwrap } from '../result.ts';
import type { Route } from '../routing/types.ts';
import type { ConnectionTokenClaims } from './claims.ts';
import { Forwarder } from './forwarder.ts';
import { mediaPublisherId, mediaStreamId } from './stream-id.ts';
import type { ForwarderConfig, MhOutput } from './types.ts';

export const ME = handlerId('mh-a');
export const PEER = handlerId('mh-b');
export const PEER2 = handlerId('mh-c');
export const REGION = regionId('us-west-1');
export const MEETING = meetingId('m-1');
export const CONTROLLER = controllerId('mc-1');
export const ALICE = participantId('alice');
export const BOB = participantId('bob');
export const CAROL = participantId('carol');
/** Capacity such that 1 byte per ms (8000 bit/s) is 1 % utilisation. */
export const CAPACITY_BPS = 800_000;

export function forwarder(config: Partial<ForwarderConfig> = {}): Forwarder {
  return new Forwarder({
    handler: ME,
    region: REGION,
    capacityBps: CAPACITY_BPS,
    startMs: 0,
    ...config,
  });
}

let nonceCounter = 0;

export function claims(
  participant: ParticipantId,
  overrides: Partial<ConnectionTokenClaims> = {},
): ConnectionTokenClaims {
  nonceCounter++;
  return {
    meeting: MEETING,
    participant,
    handler: ME,
    issuedAtMs: 0,
    expiresAtMs: 60_000,
    nonce: `n-${nonceCounter}`,
    ...overrides,
  };
}

/** All outputs waiting in `f`. */
export function drain(f: Forwarder): MhOutput[] {
  const outputs: MhOutput[] = [];
  for (let o = f.pollOutput(); o !== null; o = f.pollOutput()) outputs.push(o);
  return outputs;
}

/** Opens a session and returns the outputs. */
export function open(
  f: Forwarder,
  connection: number,
  participant: ParticipantId,
  now = 0,
  overrides: Partial<ConnectionTokenClaims> = {},
): MhOutput[] {
  f.handle({ type: 'session-open', connection, claims: claims(participant, overrides) }, now);
  return drain(f);
}

let commandCounter = 0;

export function command(
  f: Forwarder,
  add: readonly Route[],
  remove: readonly Route[] = [],
  now = 0,
  id = `c-${++commandCounter}`,
  meeting: MeetingId = MEETING,
): MhOutput[] {
  f.handle({ type: 'route-command', id, meeting, controller: CONTROLLER, add, remove }, now);
  return drain(f);
}

export const publish = (
  publisher: ParticipantId,
  kind: MediaKind = 'camera',
  handler = ME,
): Route => ({
  type: 'publish',
  publisher,
  kind,
  handler,
});
export const deliver = (
  publisher: ParticipantId,
  subscriber: ParticipantId,
  kind: MediaKind = 'camera',
  handler = ME,
): Route => ({ type: 'deliver', publisher, kind, handler, subscriber });
export const cascade = (
  publisher: ParticipantId,
  from: typeof ME,
  to: typeof ME,
  kind: MediaKind = 'camera',
): Route => ({ type: 'cascade', publisher, kind, from, to });

export function header(
  meeting: MeetingId,
  publisher: ParticipantId,
  kind: MediaKind,
  overrides: Partial<DatagramHeader> = {},
): DatagramHeader {
  return {
    keyframe: false,
    endOfFrame: true,
    discardable: false,
    hopCount: 0,
    spatialLayer: 0,
    temporalLayer: 0,
    streamId: mediaStreamId(meeting, publisher, kind),
    publisherId: mediaPublisherId(meeting, publisher),
    sequence: 1,
    frameId: 1,
    fragmentIndex: 0,
    fragmentCount: 1,
    captureTimeUs: 1000,
    ...overrides,
  };
}

/** A valid datagram of `publisher`'s `kind` stream with a `payloadLength`-byte payload. */
export function datagram(
  publisher: ParticipantId,
  kind: MediaKind = 'camera',
  overrides: Partial<DatagramHeader> = {},
  payloadLength = 100,
  meeting: MeetingId = MEETING,
): Uint8Array {
  return unwrap(
    encodeDatagram(header(meeting, publisher, kind, overrides), new Uint8Array(payloadLength)),
  );
}

export function peerReport(
  handler: string,
  utilisation: number,
  reportedAt = 0,
  overrides: Partial<HandlerLoadReport> = {},
): HandlerLoadReport {
  return {
    handlerId: handlerId(handler),
    region: REGION,
    utilisation,
    state: utilisation >= 0.8 ? 'hard-limit' : utilisation >= 0.7 ? 'warning' : 'ok',
    reportedAt,
    ...overrides,
  };
}

/** Drives `f` to a load report whose utilisation is `utilisation` over one 1000 ms interval. */
export function loadTo(f: Forwarder, utilisation: number, fromMs: number): MhOutput[] {
  f.handle({ type: 'traffic', bytes: (utilisation * CAPACITY_BPS) / 8 }, fromMs);
  f.handleTimeout(fromMs + 1000);
  return drain(f);
}

/** The destinations `forward` wrote, sorted, or the drop code. */
export function destinations(f: Forwarder, from: number, bytes: Uint8Array): number[] | number {
  const out = new Int32Array(64);
  const n = f.forward(from, bytes, out);
  return n < 0 ? n : [...out.subarray(0, n)].sort((a, b) => a - b);
}
