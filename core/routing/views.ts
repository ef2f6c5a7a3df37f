/**
 * The plan seen from each party (spec 003, "Generate Routing Plan"): what each handler
 * forwards where, and which handlers each client connects to. The publisher's view is
 * `plan.publishes`; the subscriber's view is `plan.deliveries`.
 */
import type { HandlerId, ParticipantId } from '../ids.ts';
import { compareText, sortByKey, streamKey } from './keys.ts';
import type { RoutingPlan, StreamRef } from './types.ts';

/** What a handler does with one stream it holds. */
export interface ForwardingEntry {
  readonly stream: StreamRef;
  /** Handlers it cascades the stream to, sorted. */
  readonly toHandlers: readonly HandlerId[];
  /** Subscribers it sends the stream to, sorted. */
  readonly toSubscribers: readonly ParticipantId[];
}

/** The routing commands for one handler. */
export interface HandlerForwarding {
  readonly handler: HandlerId;
  readonly entries: readonly ForwardingEntry[];
}

/** Each handler's forwarding table, handlers and streams sorted. */
export function forwardingTables(plan: RoutingPlan): HandlerForwarding[] {
  const tables = new Map<
    HandlerId,
    Map<string, { stream: StreamRef; toHandlers: HandlerId[]; toSubscribers: ParticipantId[] }>
  >();
  const entryFor = (handler: HandlerId, stream: StreamRef) => {
    const table = tables.get(handler) ?? new Map();
    tables.set(handler, table);
    const key = streamKey(stream);
    const entry = table.get(key) ?? {
      stream: { publisher: stream.publisher, kind: stream.kind },
      toHandlers: [],
      toSubscribers: [],
    };
    table.set(key, entry);
    return entry;
  };
  for (const c of plan.cascades) entryFor(c.from, c).toHandlers.push(c.to);
  for (const d of plan.deliveries) entryFor(d.handler, d).toSubscribers.push(d.subscriber);
  return [...tables]
    .sort(([a], [b]) => compareText(a, b))
    .map(([handler, table]) => ({
      handler,
      entries: sortByKey([...table.values()], (e) => streamKey(e.stream)).map((e) => ({
        stream: e.stream,
        toHandlers: [...e.toHandlers].sort(compareText),
        toSubscribers: [...e.toSubscribers].sort(compareText),
      })),
    }));
}

/** A client's connections: its home handler and any other handler it publishes to. */
export interface ClientConnections {
  readonly participant: ParticipantId;
  readonly home: HandlerId;
  /** Further handlers the client sends streams to, sorted. */
  readonly alsoPublishesTo: readonly HandlerId[];
}

/** The handlers each participant connects to, sorted by participant. */
export function clientConnections(plan: RoutingPlan): ClientConnections[] {
  const extra = new Map<ParticipantId, Set<HandlerId>>();
  const homes = new Map(plan.homes.map((h) => [h.participant, h.handler]));
  for (const p of plan.publishes) {
    if (homes.get(p.publisher) === p.handler) continue;
    const set = extra.get(p.publisher) ?? new Set<HandlerId>();
    set.add(p.handler);
    extra.set(p.publisher, set);
  }
  return plan.homes.map(({ participant, handler }) => ({
    participant,
    home: handler,
    alsoPublishesTo: [...(extra.get(participant) ?? [])].sort(compareText),
  }));
}
