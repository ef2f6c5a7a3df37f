/**
 * Core benchmark: protocol codecs, connection ids, placement, layout assignment and routing
 * plans. Writes reports/bench-core.json. Every speed figure comes with a ratio against a
 * baseline timed in the same run (a plain 42-byte copy loop, JSON.stringify / JSON.parse of a
 * comparable object, the random source alone, a Map lookup), since this machine is shared and
 * absolute figures drift.
 *
 * Run: npm run bench:core
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { controllerId, handlerId, meetingId, participantId, regionId } from '../core/ids.ts';
import type { ParticipantId, RegionId } from '../core/ids.ts';
import {
  assignLayout,
  indexRoster,
  layoutDemand,
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
import { measure, ratio, type Figure } from './measure.ts';

const FAST = { roundMs: 200, rounds: 3 } as const;
const SLOW = { roundMs: 150, rounds: 3, minIterations: 3 } as const;
const REGIONS: readonly RegionId[] = ['us-west-1', 'us-east-1', 'eu-west-1'].map(regionId);
const started = performance.now();

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

const copy42 = measure(() => {
  for (let i = 0; i < DATAGRAM_HEADER_LENGTH; i++) headerScratch[i] = datagram[i] ?? 0;
  return headerScratch;
}, FAST);
const jsonStringifyHeader = measure(() => JSON.stringify(headerAsPlainObject), FAST);
const jsonParseHeader = measure(() => JSON.parse(headerJson) as unknown, FAST);
const headerDecode = measure(() => decodeDatagram(datagram), FAST);
const headerEncodeInto = measure(() => encodeHeaderInto(header, 1_150, headerScratch), FAST);
const datagramEncode = measure(
  () => encodeDatagram(header, datagram.subarray(DATAGRAM_HEADER_LENGTH)),
  FAST,
);
const hopIncrement = measure(() => {
  datagram[2] = 0;
  return incrementHopCount(datagram);
}, FAST);

const cryptoRandom: RandomSource = {
  next: () => randomFillSync(new Uint32Array(1))[0]! / 2 ** 32,
  bytes: (length) => randomFillSync(new Uint8Array(length)),
};
const nowMs = 1_795_000_000_000;
const randomBytesOnly = measure(() => cryptoRandom.bytes(12), FAST);
const connectionIdCreate = measure((i) => createConnectionId(nowMs + i, cryptoRandom), FAST);
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

const mapGet = measure((i) => keyedMap.get(meetingKeys[i % KEYS]!), FAST);
const ringLookup = measure((i) => ringOwner(ring, meetingKeys[i % KEYS]!), FAST);
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
const controllerChoice = measure(
  (i) => chooseController(registry, meetingIds[i % KEYS]!, REGIONS[i % REGIONS.length]!),
  FAST,
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

const jsonStringifyAssignment = measure(() => JSON.stringify(sampleAssignment), FAST);
const layoutGrid = measure(
  (i) => assignLayout({ roster: bigIndex, subscriber: subscriberOf(i), request: grid5x5 }),
  FAST,
);
const layoutGridWithPrevious = measure(
  (i) =>
    assignLayout({
      roster: bigIndex,
      subscriber: subscriberOf(i),
      request: grid5x5,
      previous: sampleAssignment,
    }),
  FAST,
);
const layoutSpeaker = measure(
  (i) => assignLayout({ roster: bigIndex, subscriber: subscriberOf(i), request: speakerRequest }),
  FAST,
);
const rosterIndexing = measure(() => indexRoster(bigRoster), SLOW);

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
  readonly plan?: Figure;
  /** Plans per second over JSON.stringify of an input of the same size per second. */
  readonly ratioToJsonStringifyInput?: number;
}

const planFigures: PlanFigure[] = [];
/** Baseline per meeting size: JSON.stringify of the routing input (with 2 handlers). */
const jsonStringifyRoutingInput: Record<string, Figure> = {};
for (const participants of [10, 100, 1_000]) {
  const twoHandlerInput = routingInputOf(participants, 2);
  const baseline = measure(() => JSON.stringify(twoHandlerInput), SLOW);
  jsonStringifyRoutingInput[`participants${participants}`] = baseline;
  for (let handlers = 2; handlers <= 8; handlers++) {
    const input = routingInputOf(participants, handlers);
    const first = planRouting(input);
    const base = { participants, handlers, demand: input.demand.length };
    if (!first.ok) {
      planFigures.push({ ...base, outcome: first.error.kind });
      continue;
    }
    const plan = measure(() => planRouting(input), SLOW);
    planFigures.push({
      ...base,
      outcome: `ok: ${first.value.loads.length} handlers used, ${first.value.cascades.length} cascades`,
      plan,
      ratioToJsonStringifyInput: ratio(plan, baseline),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const report = {
  benchmark: 'core',
  date: new Date().toISOString(),
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  durationSeconds: Math.round((performance.now() - started) / 100) / 10,
  method:
    'Each figure is the median of `rounds` timed rounds after a warm-up; `iterationsPerRound` ' +
    'lists the operations timed in each round. Ratios divide a figure by a baseline timed in ' +
    'the same run.',
  baselines: {
    copy42ByteLoop: copy42,
    jsonStringifyHeader,
    jsonParseHeader,
    randomBytes12: randomBytesOnly,
    mapGetStringKey: mapGet,
    jsonStringifyAssignment25Slots: jsonStringifyAssignment,
    jsonStringifyRoutingInput,
  },
  protocol: {
    datagramBytes: datagram.length,
    headerDecode: {
      ...headerDecode,
      ratioToCopy42: ratio(headerDecode, copy42),
      ratioToJsonParse: ratio(headerDecode, jsonParseHeader),
    },
    headerEncodeInto: {
      ...headerEncodeInto,
      ratioToCopy42: ratio(headerEncodeInto, copy42),
      ratioToJsonStringify: ratio(headerEncodeInto, jsonStringifyHeader),
    },
    datagramEncodeWithPayloadCopy: {
      ...datagramEncode,
      ratioToCopy42: ratio(datagramEncode, copy42),
    },
    hopCountIncrementInPlace: { ...hopIncrement, ratioToCopy42: ratio(hopIncrement, copy42) },
    connectionIdCreate: {
      ...connectionIdCreate,
      randomSource: 'node:crypto randomFillSync',
      ratioToRandomBytesAlone: ratio(connectionIdCreate, randomBytesOnly),
    },
    connectionIdParse,
  },
  placement: {
    controllers: CONTROLLERS,
    distinctKeys: KEYS,
    ringLookup: { ...ringLookup, ratioToMapGet: ratio(ringLookup, mapGet) },
    ringBuild100Controllers: ringBuild,
    chooseControllerRegionFirst: {
      ...controllerChoice,
      ratioToMapGet: ratio(controllerChoice, mapGet),
    },
  },
  layout: {
    rosterParticipants: LAYOUT_ROSTER,
    indexRoster: rosterIndexing,
    assignGrid5x5: {
      ...layoutGrid,
      ratioToJsonStringifyAssignment: ratio(layoutGrid, jsonStringifyAssignment),
    },
    assignGrid5x5WithPrevious: {
      ...layoutGridWithPrevious,
      ratioToJsonStringifyAssignment: ratio(layoutGridWithPrevious, jsonStringifyAssignment),
    },
    assignSpeaker1Plus8: {
      ...layoutSpeaker,
      ratioToJsonStringifyAssignment: ratio(layoutSpeaker, jsonStringifyAssignment),
    },
  },
  routing: {
    setup:
      'participants spread over 3 regions; every participant shows a 3x3 grid (layout engine); handlers round-robin over the regions with ample capacity',
    plans: planFigures,
  },
};

mkdirSync('reports', { recursive: true });
writeFileSync('reports/bench-core.json', `${JSON.stringify(report, null, 2)}\n`);
console.log(summary());

function summary(): string {
  const plans = planFigures
    .map(
      (p) =>
        `  plan ${p.participants}p/${p.handlers}h: ${p.plan ? `${p.plan.microsecondsPerOp} µs` : p.outcome}`,
    )
    .join('\n');
  return [
    `reports/bench-core.json (${report.durationSeconds} s, node ${report.node})`,
    `  header decode ${headerDecode.perSecond}/s (x${ratio(headerDecode, copy42)} of a 42-byte copy loop)`,
    `  header encode ${headerEncodeInto.perSecond}/s (x${ratio(headerEncodeInto, copy42)} of a 42-byte copy loop)`,
    `  connection id ${connectionIdCreate.perSecond}/s (x${ratio(connectionIdCreate, randomBytesOnly)} of the random source alone)`,
    `  ring lookup ${ringLookup.perSecond}/s (x${ratio(ringLookup, mapGet)} of a Map.get)`,
    `  layout grid 5x5, 1,000 participants ${layoutGrid.perSecond}/s`,
    plans,
  ].join('\n');
}
