/**
 * Core benchmark: protocol codecs, connection ids, placement, layout assignment and routing
 * plans. Writes reports/bench-core.json. Every speed figure comes with a ratio against a
 * baseline timed in alternating rounds with it (a plain 42-byte copy loop, JSON.stringify or
 * JSON.parse of a comparable object, the random source alone, a Map lookup), since this machine
 * is shared and absolute figures drift.
 *
 * Run: npm run bench:core
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { controllerId, handlerId, meetingId, participantId, regionId } from '../core/ids.ts';
import type { ParticipantId, RegionId } from '../core/ids.ts';
import {
  assignLayout,
  indexParticipants,
  indexRoster,
  indexSpeakers,
  layoutDemand,
  type LayoutAssignment,
  type LayoutRequest,
  type Roster,
  type RosterIndex,
} from '../core/layout/index.ts';
import {
  buildRing,
  chooseController,
  createRegistry,
  handleRegistryEvent,
  ringOwner,
  type ControllerRegistry,
} from '../core/placement/index.ts';
import {
  DATAGRAM_HEADER_LENGTH,
  createConnectionId,
  decodeDatagram,
  encodeDatagram,
  encodeHeaderInto,
  incrementHopCount,
  parseConnectionId,
  type DatagramHeader,
} from '../core/protocol/index.ts';
import type { RandomSource } from '../core/random.ts';
import { unwrap } from '../core/result.ts';
import {
  planRouting,
  type LatencyTable,
  type RoutingHandler,
  type RoutingInput,
  type StreamDemand,
} from '../core/routing/index.ts';
import {
  benchEnvironment,
  benchStart,
  compare,
  measure,
  warmUp,
  type Figure,
  type MeasureOptions,
} from './measure.ts';

const FAST = { roundMs: 150, rounds: 3 } as const;
const SLOW = { roundMs: 120, rounds: 3, minIterations: 3 } as const;
const REGIONS: readonly RegionId[] = ['us-west-1', 'us-east-1', 'eu-west-1'].map(regionId);
const start = benchStart();

/** A reference operation that speed figures are divided by. */
interface Baseline {
  readonly name: string;
  readonly what: string;
  readonly run: (i: number) => unknown;
}

/** A figure with the baseline it was timed against and its ratio to it. */
interface VersusFigure extends Figure {
  readonly baseline: string;
  readonly ratio: number;
  readonly baselinePerSecond: number;
  readonly baselineIterationsPerRound: readonly number[];
}

/** Times `operation` against `baseline` in alternating rounds. */
function versus(
  operation: (i: number) => unknown,
  baseline: Baseline,
  options: MeasureOptions = FAST,
): VersusFigure {
  const timed = compare(operation, baseline.run, options);
  return {
    ...timed.figure,
    baseline: baseline.name,
    ratio: timed.ratio,
    baselinePerSecond: timed.baseline.perSecond,
    baselineIterationsPerRound: timed.baseline.iterationsPerRound,
  };
}

// ---------------------------------------------------------------------------------------------
// Protocol: datagram header, hop count, connection id

const header: DatagramHeader = {
  keyframe: false,
  endOfFrame: true,
  discardable: false,
  hopCount: 0,
  spatialLayer: 1,
  temporalLayer: 2,
  streamId: 0x0123_4567_89ab_cdefn,
  publisherId: 0x0fed_cba9_8765_4321n,
  sequence: 123_456,
  frameId: 9_876,
  fragmentIndex: 0,
  fragmentCount: 1,
  captureTimeUs: 1_795_000_000_000_000,
};
/** A typical datagram: 1,150 bytes of SFrame payload, under the 1,199-byte browser limit. */
const datagram = unwrap(encodeDatagram(header, new Uint8Array(1_150).fill(7)));
const headerScratch = new Uint8Array(DATAGRAM_HEADER_LENGTH);
/** The header as JSON sees it: the same fields, with the 64-bit ids as numbers. */
const headerAsPlainObject = {
  ...header,
  streamId: Number(header.streamId),
  publisherId: Number(header.publisherId),
};
const headerJson = JSON.stringify(headerAsPlainObject);

const copy42ByteLoop: Baseline = {
  name: 'copy42ByteLoop',
  what: 'a plain loop copying 42 bytes from the datagram into a scratch buffer',
  run: () => {
    for (let i = 0; i < DATAGRAM_HEADER_LENGTH; i++) headerScratch[i] = datagram[i] ?? 0;
    return headerScratch;
  },
};
const jsonParseHeader: Baseline = {
  name: 'jsonParseHeader',
  what: 'JSON.parse of the same header as JSON',
  run: () => JSON.parse(headerJson) as unknown,
};
const jsonStringifyHeader: Baseline = {
  name: 'jsonStringifyHeader',
  what: 'JSON.stringify of the same header (ids as numbers)',
  run: () => JSON.stringify(headerAsPlainObject),
};

const headerDecode = versus(() => decodeDatagram(datagram), copy42ByteLoop);
const headerDecodeVsJson = versus(() => decodeDatagram(datagram), jsonParseHeader);
const headerEncodeInto = versus(
  () => encodeHeaderInto(header, 1_150, headerScratch),
  copy42ByteLoop,
);
const headerEncodeVsJson = versus(
  () => encodeHeaderInto(header, 1_150, headerScratch),
  jsonStringifyHeader,
);
const datagramEncode = versus(
  () => encodeDatagram(header, datagram.subarray(DATAGRAM_HEADER_LENGTH)),
  copy42ByteLoop,
);
const hopIncrement = versus(() => {
  datagram[2] = 0;
  return incrementHopCount(datagram);
}, copy42ByteLoop);

const cryptoRandom: RandomSource = {
  next: () => randomFillSync(new Uint32Array(1))[0]! / 2 ** 32,
  bytes: (length) => randomFillSync(new Uint8Array(length)),
};
const randomBytes12: Baseline = {
  name: 'randomBytes12',
  what: 'the random source alone: 12 bytes from node:crypto randomFillSync',
  run: () => cryptoRandom.bytes(12),
};
const nowMs = 1_795_000_000_000;
const connectionIdCreate = versus(
  (i) => createConnectionId(nowMs + i, cryptoRandom),
  randomBytes12,
);
const sampleConnectionId = unwrap(createConnectionId(nowMs, cryptoRandom));
const connectionIdParse = measure(() => parseConnectionId(sampleConnectionId), FAST);

// ---------------------------------------------------------------------------------------------
// Placement: ring lookups and the GC's choice of controller

const CONTROLLERS = 100;
const KEYS = 10_000;
const controllerIds = Array.from({ length: CONTROLLERS }, (_, i) => controllerId(`mc-${i}`));
const meetingKeys = Array.from({ length: KEYS }, (_, i) => `meeting-${i.toString(36)}-${i * 7919}`);
const ring = buildRing(controllerIds);
const keyedMap = new Map(meetingKeys.map((key, i) => [key, controllerIds[i % CONTROLLERS]]));

const mapGetStringKey: Baseline = {
  name: 'mapGetStringKey',
  what: 'Map.get with the same 10,000 string keys',
  run: (i) => keyedMap.get(meetingKeys[i % KEYS]!),
};
const ringLookup = versus((i) => ringOwner(ring, meetingKeys[i % KEYS]!), mapGetStringKey);
const ringBuild = measure(() => buildRing(controllerIds), SLOW);
const registry = controllerIds.reduce<ControllerRegistry>(
  (current, id, i) =>
    handleRegistryEvent(
      current,
      { type: 'register', id, region: REGIONS[i % REGIONS.length]!, endpoint: `https://${id}` },
      0,
    ).registry,
  createRegistry(),
);
const meetingIds = meetingKeys.map(meetingId);
const controllerChoice = versus(
  (i) => chooseController(registry, meetingIds[i % KEYS]!, REGIONS[i % REGIONS.length]!),
  mapGetStringKey,
);

// ---------------------------------------------------------------------------------------------
// Layout: one subscriber's assignment against a 1,000-participant roster

function rosterOf(size: number): Roster {
  return {
    participants: Array.from({ length: size }, (_, i) => ({
      id: participantId(`p-${i}`),
      joinOrder: i,
      publishes:
        i === 3 ? (['screen', 'camera', 'audio'] as const) : (['camera', 'audio'] as const),
    })),
    departed: [],
    activeSpeakers: [17, 5, 250, 999, 42]
      .filter((i) => i < size)
      .map((i) => participantId(`p-${i}`)),
  };
}

const gridRequest = (rows: number, columns: number): LayoutRequest => ({
  type: 'grid',
  rows,
  columns,
  streamIds: Array.from({ length: rows * columns }, (_, i) => i + 1),
});
const speakerRequest: LayoutRequest = {
  type: 'speaker',
  thumbnails: 8,
  streamIds: Array.from({ length: 9 }, (_, i) => i + 1),
};

const LAYOUT_ROSTER = 1_000;
const bigRoster = rosterOf(LAYOUT_ROSTER);
const bigIndex = unwrap(indexRoster(bigRoster));
const grid5x5 = gridRequest(5, 5);
const subscriberOf = (i: number) => participantId(`p-${i % LAYOUT_ROSTER}`);
const sampleAssignment = unwrap(
  assignLayout({ roster: bigIndex, subscriber: subscriberOf(0), request: grid5x5 }),
);

const jsonStringifyAssignment: Baseline = {
  name: 'jsonStringifyAssignment25Slots',
  what: 'JSON.stringify of one 25-slot grid assignment',
  run: () => JSON.stringify(sampleAssignment),
};
const layoutGrid = versus(
  (i) => assignLayout({ roster: bigIndex, subscriber: subscriberOf(i), request: grid5x5 }),
  jsonStringifyAssignment,
);
const layoutGridWithPrevious = versus(
  (i) =>
    assignLayout({
      roster: bigIndex,
      subscriber: subscriberOf(i),
      request: grid5x5,
      previous: sampleAssignment,
    }),
  jsonStringifyAssignment,
);
const layoutSpeaker = versus(
  (i) => assignLayout({ roster: bigIndex, subscriber: subscriberOf(i), request: speakerRequest }),
  jsonStringifyAssignment,
);
const rosterIndexing = measure(() => indexRoster(bigRoster), SLOW);

// Layout: a meeting of 10 (three grids of 3x3 to one speaker view of 1 + 4, as in the ADR
// baseline) after a speaker change: the speaker part of the index is rebuilt, then every member
// is assigned against its previous assignment. And the same meeting when nothing changed.
const MEETING_SIZE = 10;
const meetingRoster = rosterOf(MEETING_SIZE);
const meetingMembers = meetingRoster.participants.map((p, i) => ({
  subscriber: p.id,
  request:
    i % 4 === 3
      ? ({ type: 'speaker', thumbnails: 4, streamIds: [1, 2, 3, 4, 5] } as LayoutRequest)
      : gridRequest(3, 3),
}));
const meetingParticipants = unwrap(indexParticipants(meetingRoster));
/** Speaker histories of up to 8, each one turn after the last (most recent first). */
const meetingHistories = Array.from({ length: 64 }, (_, turn) =>
  Array.from(
    { length: Math.min(8, turn + 1) },
    (_, back) => meetingRoster.participants[(turn * 7 + back * 3) % MEETING_SIZE]!.id,
  ),
);
const meetingPrevious: (LayoutAssignment | undefined)[] = meetingMembers.map(() => undefined);
const meetingIndex = indexSpeakers(meetingParticipants, meetingHistories[0]!);
const meetingUnchanged = meetingMembers.map(({ subscriber, request }) =>
  unwrap(assignLayout({ roster: meetingIndex, subscriber, request })),
);
const meetingLayouts = {
  meetingOf10AfterSpeakerChange: versus((i) => {
    const index = indexSpeakers(
      meetingParticipants,
      meetingHistories[i % meetingHistories.length]!,
    );
    meetingMembers.forEach(({ subscriber, request }, m) => {
      const previous = meetingPrevious[m];
      const assigned = assignLayout({ roster: index, subscriber, request, previous });
      if (assigned.ok) meetingPrevious[m] = assigned.value;
    });
  }, jsonStringifyAssignment),
  meetingOf10Unchanged: versus(
    () =>
      meetingMembers.forEach(({ subscriber, request }, m) =>
        assignLayout({ roster: meetingIndex, subscriber, request, previous: meetingUnchanged[m] }),
      ),
    jsonStringifyAssignment,
  ),
};

// ---------------------------------------------------------------------------------------------
// Routing: plan time for meetings of 10, 100 and 1,000 participants over 2..8 handlers

const latencyMs: LatencyTable = {
  [REGIONS[0]!]: { [REGIONS[0]!]: 2, [REGIONS[1]!]: 65, [REGIONS[2]!]: 140 },
  [REGIONS[1]!]: { [REGIONS[0]!]: 65, [REGIONS[1]!]: 2, [REGIONS[2]!]: 75 },
  [REGIONS[2]!]: { [REGIONS[0]!]: 140, [REGIONS[1]!]: 75, [REGIONS[2]!]: 2 },
};

function handlersOf(count: number): RoutingHandler[] {
  return Array.from({ length: count }, (_, i) => ({
    id: handlerId(`mh-${i}`),
    region: REGIONS[i % REGIONS.length]!,
    site: `site-${i % 2}`,
    // Ample capacity: the figure is planning time, not the capacity search.
    capacityBps: 100e9,
    loadBps: 0,
    healthy: true,
    quality: 0.9,
    capabilities: [],
  }));
}

/** Every participant shows a 3x3 grid, as the layout engine assigns it. */
function demandOf(index: RosterIndex, subscribers: readonly ParticipantId[]): StreamDemand[] {
  return subscribers.flatMap((subscriber) =>
    layoutDemand(
      unwrap(assignLayout({ roster: index, subscriber, request: gridRequest(3, 3) })),
    ).map((source) => ({ subscriber, publisher: source.participant, kind: source.kind })),
  );
}

function routingInputOf(size: number, handlerCount: number): RoutingInput {
  const roster = rosterOf(size);
  const ids = roster.participants.map((p) => p.id);
  return {
    meeting: meetingId(`bench-${size}`),
    participants: roster.participants.map((p, i) => ({
      id: p.id,
      region: REGIONS[i % REGIONS.length]!,
      joinOrder: p.joinOrder,
    })),
    handlers: handlersOf(handlerCount),
    demand: demandOf(unwrap(indexRoster(roster)), ids),
    latencyMs,
  };
}

interface PlanFigure {
  readonly participants: number;
  readonly handlers: number;
  readonly demand: number;
  readonly outcome: string;
  readonly plan?: VersusFigure;
}

const planFigures: PlanFigure[] = [];
const jsonStringifyRoutingInput = {
  name: 'jsonStringifyRoutingInput',
  what: 'JSON.stringify of the routing input being planned',
};
// Without this the first configurations timed would also pay for compiling the planner.
const warmUpInputs = [routingInputOf(10, 2), routingInputOf(100, 4)];
warmUp((i) => planRouting(warmUpInputs[i % warmUpInputs.length]!), 1_000);
for (const participants of [10, 100, 1_000]) {
  for (let handlers = 2; handlers <= 8; handlers++) {
    const input = routingInputOf(participants, handlers);
    const first = planRouting(input);
    const base = { participants, handlers, demand: input.demand.length };
    if (!first.ok) {
      planFigures.push({ ...base, outcome: first.error.kind });
      continue;
    }
    const jsonStringifyInput: Baseline = {
      ...jsonStringifyRoutingInput,
      run: () => JSON.stringify(input),
    };
    planFigures.push({
      ...base,
      outcome: `ok: ${first.value.loads.length} handlers used, ${first.value.cascades.length} cascades`,
      plan: versus(() => planRouting(input), jsonStringifyInput, SLOW),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const baselines = [
  copy42ByteLoop,
  jsonParseHeader,
  jsonStringifyHeader,
  randomBytes12,
  mapGetStringKey,
  jsonStringifyAssignment,
  jsonStringifyRoutingInput,
];

const report = {
  ...benchEnvironment('core', start),
  method:
    'A round repeats an operation until its time budget is spent; `iterationsPerRound` lists ' +
    'the operations timed in each round and `perSecond` is the median round. A `ratio` is the ' +
    'median over rounds of operation/baseline throughput, the baseline timed in the round just ' +
    'before, so machine load drifts out of it.',
  baselines: Object.fromEntries(baselines.map((b) => [b.name, b.what])),
  protocol: {
    datagramBytes: datagram.length,
    headerDecode,
    headerDecodeVsJson,
    headerEncodeInto,
    headerEncodeVsJson,
    datagramEncodeWithPayloadCopy: datagramEncode,
    hopCountIncrementInPlace: hopIncrement,
    connectionIdCreate,
    connectionIdParse,
  },
  placement: {
    controllers: CONTROLLERS,
    distinctKeys: KEYS,
    ringLookup,
    ringBuild100Controllers: ringBuild,
    chooseControllerRegionFirst: controllerChoice,
  },
  layout: {
    rosterParticipants: LAYOUT_ROSTER,
    indexRoster: rosterIndexing,
    assignGrid5x5: layoutGrid,
    assignGrid5x5WithPrevious: layoutGridWithPrevious,
    assignSpeaker1Plus8: layoutSpeaker,
    ...meetingLayouts,
  },
  routing: {
    setup:
      'participants spread over 3 regions; every participant shows a 3x3 grid (layout engine); ' +
      'handlers round-robin over the regions with ample capacity',
    plans: planFigures,
  },
};

mkdirSync('reports', { recursive: true });
writeFileSync('reports/bench-core.json', `${JSON.stringify(report, null, 2)}\n`);
console.log(summary());

function summary(): string {
  const line = (label: string, figure: VersusFigure) =>
    `  ${label}: ${figure.perSecond}/s, x${figure.ratio} of ${figure.baseline}`;
  const plans = planFigures.map((p) =>
    p.plan === undefined
      ? `  plan ${p.participants}p/${p.handlers}h: ${p.outcome}`
      : line(`plan ${p.participants}p/${p.handlers}h (${p.plan.microsecondsPerOp} µs)`, p.plan),
  );
  return [
    `reports/bench-core.json (${report.durationSeconds} s, node ${report.node})`,
    line('header decode', headerDecode),
    line('header encode', headerEncodeInto),
    line('hop count increment', hopIncrement),
    line('connection id', connectionIdCreate),
    line('ring lookup', ringLookup),
    line('choose controller', controllerChoice),
    line('layout grid 5x5 of 1,000', layoutGrid),
    ...plans,
  ].join('\n');
}
