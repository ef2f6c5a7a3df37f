/**
 * The Media Handler's core forwarder decision (a section of `npm run bench:mh`): datagrams per
 * second through `Forwarder.forward` (the per-datagram decision: header checks, stream lookup,
 * source check, destinations written to a caller-owned buffer) and `dispatch` (the same plus a
 * no-op send per destination and the hop count raised for peers). Each figure comes with a ratio against a baseline timed in
 * alternating rounds: a plain loop that reads the stream id word from the header, looks it up
 * in a `Map<number, Int32Array>` and copies the same destination list into the same buffer,
 * i.e. the least a forwarder could do.
 */
import { handlerId, meetingId, participantId, regionId } from '../core/ids.ts';
import type { MeetingId, ParticipantId } from '../core/ids.ts';
import { Forwarder } from '../core/mh/index.ts';
import { header } from '../core/mh/testing.ts';
import { encodeDatagram } from '../core/protocol/index.ts';
import { unwrap } from '../core/result.ts';
import type { Route } from '../core/routing/types.ts';
import { compare } from './measure.ts';

const OPTIONS = { roundMs: 200, rounds: 5 } as const;
const ME = handlerId('mh-1');
const PEER = handlerId('mh-2');
/** Payload of a typical datagram: 1,150 bytes, under the 1,199-byte browser limit. */
const PAYLOAD = new Uint8Array(1_150).fill(7);

interface Scenario {
  readonly name: string;
  readonly what: string;
  readonly meetings: number;
  readonly participantsPerMeeting: number;
  /** Local subscribers of each stream. */
  readonly subscribers: number;
  /** Whether each stream is also cascaded to a peer handler. */
  readonly cascade: boolean;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'meeting20',
    what: 'one meeting of 20 participants; each camera to 8 local subscribers and 1 peer',
    meetings: 1,
    participantsPerMeeting: 20,
    subscribers: 8,
    cascade: true,
  },
  {
    name: 'handler2000streams',
    what: '400 meetings of 5 participants (2,000 streams); each camera to the other 4, no cascade',
    meetings: 400,
    participantsPerMeeting: 5,
    subscribers: 4,
    cascade: false,
  },
];

interface Built {
  readonly forwarder: Forwarder;
  readonly packets: Uint8Array[];
  readonly senders: number[];
  readonly baselineTable: Map<number, Int32Array>;
  readonly destinationsPerDatagram: number;
}

function build(s: Scenario): Built {
  const f = new Forwarder({ handler: ME, region: regionId('r'), capacityBps: 1e10, startMs: 0 });
  f.handle({ type: 'peer-connected', handler: PEER, connection: 1_000_000 }, 0);
  const packets: Uint8Array[] = [];
  const senders: number[] = [];
  const baselineTable = new Map<number, Int32Array>();
  let connection = 0;
  for (let m = 0; m < s.meetings; m++) {
    const meeting: MeetingId = meetingId(`m${m}`);
    const people: ParticipantId[] = [];
    const connections: number[] = [];
    for (let p = 0; p < s.participantsPerMeeting; p++) {
      const participant = participantId(`p${p}`);
      people.push(participant);
      connections.push(connection);
      f.handle(
        {
          type: 'session-open',
          connection,
          claims: {
            meeting,
            participant,
            handler: ME,
            issuedAtMs: 0,
            expiresAtMs: 60_000,
            nonce: `${m}-${p}`,
          },
        },
        0,
      );
      connection++;
    }
    const routes: Route[] = [];
    people.forEach((publisher, i) => {
      routes.push({ type: 'publish', publisher, kind: 'camera', handler: ME });
      if (s.cascade)
        routes.push({ type: 'cascade', publisher, kind: 'camera', from: ME, to: PEER });
      const destinations: number[] = [];
      for (let k = 1; k <= s.subscribers; k++) {
        const j = (i + k) % people.length;
        routes.push({
          type: 'deliver',
          publisher,
          kind: 'camera',
          handler: ME,
          subscriber: people[j] as ParticipantId,
        });
        destinations.push(connections[j] as number);
      }
      if (s.cascade) destinations.push(1_000_000);
      const packet = unwrap(encodeDatagram(header(meeting, publisher, 'camera'), PAYLOAD));
      packets.push(packet);
      senders.push(connections[i] as number);
      baselineTable.set(streamWord(packet), Int32Array.from(destinations));
    });
    f.handle(
      {
        type: 'route-command',
        id: `r${m}`,
        meeting,
        controller: 'mc' as never,
        add: routes,
        remove: [],
      },
      0,
    );
  }
  while (f.pollOutput() !== null);
  const destinationsPerDatagram = s.subscribers + (s.cascade ? 1 : 0);
  return { forwarder: f, packets, senders, baselineTable, destinationsPerDatagram };
}

/** The low word of the stream id, as signed int32: the baseline's lookup key. */
function streamWord(packet: Uint8Array): number {
  return (
    ((packet[8] as number) << 24) |
    ((packet[9] as number) << 16) |
    ((packet[10] as number) << 8) |
    (packet[11] as number)
  );
}

const out = new Int32Array(64);
let sent = 0;
const noopSend = (connection: number): void => {
  sent += connection;
};

function run(s: Scenario) {
  const b = build(s);
  const n = b.packets.length;
  const check = b.forwarder.forward(b.senders[0] as number, b.packets[0] as Uint8Array, out);
  if (check !== b.destinationsPerDatagram) throw new Error(`${s.name}: forward gave ${check}`);
  const baseline = (i: number) => {
    const k = i % n;
    const destinations = b.baselineTable.get(streamWord(b.packets[k] as Uint8Array));
    if (destinations === undefined) return -1;
    for (let d = 0; d < destinations.length; d++) out[d] = destinations[d] as number;
    return destinations.length;
  };
  const forward = (i: number) => {
    const k = i % n;
    return b.forwarder.forward(b.senders[k] as number, b.packets[k] as Uint8Array, out);
  };
  // dispatch raises the hop count of cascaded packets: reset it so every call takes the same path.
  const dispatch = (i: number) => {
    const k = i % n;
    const packet = b.packets[k] as Uint8Array;
    packet[2] = 0;
    return b.forwarder.dispatch(b.senders[k] as number, packet, out, noopSend);
  };
  const forwardFigure = compare(forward, baseline, OPTIONS);
  const dispatchFigure = compare(dispatch, baseline, OPTIONS);
  return {
    what: s.what,
    streams: b.forwarder.streamCount,
    destinationsPerDatagram: b.destinationsPerDatagram,
    forward: {
      datagramsPerSecond: forwardFigure.figure.perSecond,
      ...forwardFigure.figure,
      ratio: forwardFigure.ratio,
    },
    dispatchWithNoopSend: {
      datagramsPerSecond: dispatchFigure.figure.perSecond,
      ...dispatchFigure.figure,
      ratio: dispatchFigure.ratio,
    },
    baselineMapLookupCopy: {
      datagramsPerSecond: forwardFigure.baseline.perSecond,
      ...forwardFigure.baseline,
    },
  };
}

/** Both scenarios, each forward and dispatch against the baseline: the report's first section. */
export function forwarderDecisionFigures() {
  const scenarios = Object.fromEntries(SCENARIOS.map((s) => [s.name, run(s)]));
  return {
    method:
      'A round repeats an operation until its time budget is spent; `perSecond` (datagrams per ' +
      'second) is the median round. `ratio` is the median over rounds of operation/baseline ' +
      'throughput, the baseline timed in the round just before.',
    baseline:
      'mapLookupCopy: read the stream id word from the header, Map<number, Int32Array>.get, ' +
      'copy the destination list into the output buffer (no checks)',
    datagramBytes: PAYLOAD.length + 42,
    scenarios,
    sink: sent,
  };
}
