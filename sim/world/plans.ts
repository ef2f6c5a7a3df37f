import type { HandlerId, MeetingId, ParticipantId } from '../../core/ids.ts';
import type { LatencyTable, Route, RoutingPlan, StreamDemand } from '../../core/routing/types.ts';
import type { Scenario } from '../scenario/schema.ts';

/** The handler that executes a route: where it is published, forwarded from, or delivered. */
export function ownerOf(route: Route): HandlerId {
  return route.type === 'cascade' ? route.from : route.handler;
}

/** A plan with nothing routed: the starting point of a meeting's first transition. */
export function emptyPlan(meeting: MeetingId): RoutingPlan {
  return { meeting, hub: null, homes: [], publishes: [], cascades: [], deliveries: [], loads: [] };
}

/** A participant's home handler in `plan`, if the plan homes it. */
export function homeIn(
  plan: RoutingPlan | null,
  participant: ParticipantId,
): HandlerId | undefined {
  if (plan === null) return undefined;
  for (const home of plan.homes) if (home.participant === participant) return home.handler;
  return undefined;
}

/** Each plan's first publish handler by publisher, built on first use. */
const firstPublishes = new WeakMap<RoutingPlan, Map<ParticipantId, HandlerId>>();

/** The handler of the publisher's first publish leg in `plan` (any kind), if it has one. */
export function firstPublishOf(plan: RoutingPlan, publisher: ParticipantId): HandlerId | undefined {
  let first = firstPublishes.get(plan);
  if (first === undefined) {
    first = new Map();
    for (const route of plan.publishes) {
      if (!first.has(route.publisher)) first.set(route.publisher, route.handler);
    }
    firstPublishes.set(plan, first);
  }
  return first.get(publisher);
}

/** Whether two demand lists name the same pairs in the same order. */
export function sameDemand(a: readonly StreamDemand[], b: readonly StreamDemand[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as StreamDemand;
    const y = b[i] as StreamDemand;
    if (x.subscriber !== y.subscriber || x.publisher !== y.publisher || x.kind !== y.kind)
      return false;
  }
  return true;
}

/** One-way latencies between the scenario's regions, in ms, in the form core's planner reads. */
export function oneWayTable(scenario: Scenario): LatencyTable {
  const table: Record<string, Record<string, number>> = {};
  for (const a of scenario.regions) {
    const row: Record<string, number> = {};
    for (const b of scenario.regions) {
      row[b.name] =
        a.name === b.name
          ? scenario.network.intraRegionMs
          : (scenario.network.rttMs[a.name]?.[b.name] ??
              scenario.network.rttMs[b.name]?.[a.name] ??
              0) / 2;
    }
    table[a.name] = row;
  }
  return table as LatencyTable;
}
