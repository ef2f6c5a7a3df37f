/**
 * Builders and fast-check generators of routing inputs, shared by the routing tests and by
 * simulator tests that want random meetings.
 */
import fc from 'fast-check';
import {
  handlerId,
  meetingId,
  participantId,
  regionId,
  MEDIA_KINDS,
  type MediaKind,
  type ParticipantId,
  type RegionId,
} from '../ids.ts';
import { compareText } from './keys.ts';
import { spreadRanks } from './rank.ts';
import type {
  HandlerCapability,
  LatencyTable,
  RoutingHandler,
  RoutingInput,
  RoutingParticipant,
  StreamDemand,
} from './types.ts';

const MBPS = 1_000_000;

/** A healthy handler with generous capacity; override any field. */
export function makeHandler(id: string, overrides: Partial<RoutingHandler> = {}): RoutingHandler {
  return {
    id: handlerId(id),
    region: regionId('us-west-1'),
    site: 'dc1',
    capacityBps: 10_000 * MBPS,
    loadBps: 0,
    healthy: true,
    quality: 1,
    capabilities: [],
    ...overrides,
  };
}

/** A participant in us-west-1; override any field. */
export function makeParticipant(
  id: string,
  joinOrder: number,
  overrides: Partial<RoutingParticipant> = {},
): RoutingParticipant {
  return { id: participantId(id), region: regionId('us-west-1'), joinOrder, ...overrides };
}

/** `subscriber` shows `publisher`'s `kind`. */
export function wants(subscriber: string, publisher: string, kind: MediaKind): StreamDemand {
  return { subscriber: participantId(subscriber), publisher: participantId(publisher), kind };
}

const REGIONS: readonly RegionId[] = ['us-west-1', 'us-east-1', 'eu-west-1'].map(regionId);
const CAPABILITIES: readonly HandlerCapability[] = ['transcoding', 'audio-mixing'];

/** Shape of the random meetings {@link arbitraryRoutingInput} draws. */
export interface RandomMeetingOptions {
  readonly maxParticipants: number;
  readonly maxHandlers: number;
  /** True: every handler healthy, empty and huge, so a plan must always exist. */
  readonly ampleCapacity: boolean;
}

const latencyArb: fc.Arbitrary<LatencyTable> = fc
  .array(fc.integer({ min: 1, max: 200 }), { minLength: 9, maxLength: 9 })
  .map((ms) => {
    const table: Record<string, Record<string, number>> = {};
    REGIONS.forEach((from, i) => {
      table[from] = {};
      REGIONS.forEach((to, j) => {
        const row = table[from] as Record<string, number>;
        row[to] = i === j ? 0 : (ms[Math.min(i, j) * 3 + Math.max(i, j)] ?? 50);
      });
    });
    return table as LatencyTable;
  });

function handlerArb(index: number, ample: boolean): fc.Arbitrary<RoutingHandler> {
  return fc
    .record({
      region: fc.constantFrom(...REGIONS),
      site: fc.constantFrom('dc1', 'dc2'),
      capacityMbps: fc.integer({ min: 10, max: 2_000 }),
      loadShare: fc.integer({ min: 0, max: 90 }),
      healthy: fc.integer({ min: 0, max: 5 }).map((n) => n > 0),
      quality: fc.integer({ min: 0, max: 100 }),
      capabilities: fc.subarray([...CAPABILITIES]),
    })
    .map((h) =>
      makeHandler(`mh${index}`, {
        region: h.region,
        site: h.site,
        capacityBps: ample ? 1e12 : h.capacityMbps * MBPS,
        loadBps: ample ? 0 : (h.capacityMbps * MBPS * h.loadShare) / 100,
        healthy: ample || h.healthy,
        quality: h.quality / 100,
        capabilities: h.capabilities,
      }),
    );
}

/** Random meetings: participants in random regions, random handlers, random demand. */
export function arbitraryRoutingInput(options: RandomMeetingOptions): fc.Arbitrary<RoutingInput> {
  return fc
    .integer({ min: 1, max: options.maxHandlers })
    .chain((handlerCount) =>
      fc.record({
        handlers: fc.tuple(
          ...Array.from({ length: handlerCount }, (_, i) => handlerArb(i, options.ampleCapacity)),
        ),
        participants: fc.array(
          fc.record({
            region: fc.constantFrom(...REGIONS),
            joinOrder: fc.integer({ min: 0, max: 1_000 }),
            current: fc.option(fc.integer({ min: 0, max: handlerCount - 1 }), { nil: undefined }),
            wants: fc.subarray([...CAPABILITIES]),
          }),
          { maxLength: options.maxParticipants, size: 'max' },
        ),
        demand: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...MEDIA_KINDS)), {
          maxLength: options.maxParticipants * 6,
          size: 'max',
        }),
        latencyMs: latencyArb,
      }),
    )
    .map(({ handlers, participants, demand, latencyMs }) => {
      const people = participants.map((p, i) =>
        makeParticipant(`p${i}`, p.joinOrder, {
          region: p.region,
          wants: p.wants,
          ...(p.current === undefined ? {} : { currentHandler: handlerId(`mh${p.current}`) }),
        }),
      );
      return {
        meeting: meetingId('m1'),
        participants: people,
        handlers,
        demand: randomDemand(people.length, demand),
        latencyMs,
      };
    });
}

function randomDemand(
  participants: number,
  draws: readonly (readonly [number, number, MediaKind])[],
): StreamDemand[] {
  if (participants < 2) return [];
  return draws.flatMap(([s, p, kind]) => {
    const subscriber = s % participants;
    const publisher = p % participants;
    return subscriber === publisher ? [] : [wants(`p${subscriber}`, `p${publisher}`, kind)];
  });
}

/** The same input with every list and every latency row listed in a different order. */
export function reorderInput(input: RoutingInput, seed: number): RoutingInput {
  const shuffle = <T>(items: readonly T[]): T[] => {
    const out = [...items];
    let state = seed >>> 0 || 1;
    for (let i = out.length - 1; i > 0; i--) {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      const j = state % (i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  };
  const latencyMs: Record<string, Record<string, number>> = {};
  for (const from of shuffle(Object.keys(input.latencyMs))) {
    const row = (input.latencyMs as Record<string, Record<string, number>>)[from] ?? {};
    latencyMs[from] = Object.fromEntries(shuffle(Object.entries(row)));
  }
  return {
    ...input,
    participants: shuffle(input.participants),
    handlers: shuffle(input.handlers),
    demand: shuffle(input.demand),
    latencyMs: latencyMs as LatencyTable,
  };
}

/**
 * A meeting id starting with `prefix` whose tie-break ranks (`spreadRanks`) put the handler
 * `first` before each of `others`, so a test can say which of equally good handlers the
 * meeting takes.
 */
export function meetingFavouring(prefix: string, first: string, others: readonly string[]) {
  const handlers = [first, ...others].map((id) => makeHandler(id));
  for (let i = 0; ; i++) {
    const id = `${prefix}-${i}`;
    const ranks = spreadRanks(id, handlers);
    if (ranks.every((rank, h) => h === 0 || (ranks[0] as number) < rank)) return meetingId(id);
  }
}

/** Demand as the controller lists it: each subscriber's pairs together, subscribers in order. */
export function bySubscriber(demand: readonly StreamDemand[]): StreamDemand[] {
  return [...demand].sort((a, b) => compareText(a.subscriber, b.subscriber));
}

/**
 * One change of the demand: some subscribers' pairs replaced, added or dropped (the others keep
 * their pair objects, as the controller's layouts do), some pairs remade as equal new objects,
 * and now and then the runs listed in another order or split.
 */
export const demandEdit = fc.record({
  drop: fc.array(fc.nat(), { maxLength: 4 }),
  add: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...MEDIA_KINDS)), { maxLength: 4 }),
  remake: fc.array(fc.nat(), { maxLength: 3 }),
  order: fc.constantFrom('runs', 'runs', 'runs', 'reversed', 'split'),
  handOver: fc.option(fc.tuple(fc.nat(), fc.nat()), { nil: undefined }),
});
export type DemandEdit = typeof demandEdit extends fc.Arbitrary<infer T> ? T : never;

export function editDemand(
  demand: readonly StreamDemand[],
  ids: readonly ParticipantId[],
  edit: DemandEdit,
): StreamDemand[] {
  let next = [...demand];
  for (const at of edit.drop) if (next.length > 0) next.splice(at % next.length, 1);
  for (const at of edit.remake) {
    if (next.length === 0) continue;
    const pair = next[at % next.length] as StreamDemand;
    next[at % next.length] = { ...pair };
  }
  if (ids.length >= 2) {
    for (const [s, p, kind] of edit.add) {
      const subscriber = ids[s % ids.length] as ParticipantId;
      const publisher = ids[p % ids.length] as ParticipantId;
      if (subscriber !== publisher) next.push(wants(subscriber, publisher, kind));
    }
  }
  next = bySubscriber(next);
  if (edit.order === 'reversed') next.reverse();
  if (edit.order === 'split' && next.length > 2) next.push(next.shift() as StreamDemand);
  if (edit.handOver !== undefined && next.length > 0) {
    // One subscriber's pairs go to another participant, in place (less any of its own
    // streams): the runs keep their streams, not their subscribers.
    const from = (next[edit.handOver[0] % next.length] as StreamDemand).subscriber;
    const to = ids[edit.handOver[1] % ids.length] as ParticipantId;
    next = next
      .filter((d) => d.subscriber !== from || d.publisher !== to)
      .map((d) => (d.subscriber === from ? { ...d, subscriber: to } : d));
  }
  return next;
}
