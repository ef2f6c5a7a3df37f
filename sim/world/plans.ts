import type { HandlerId, MeetingId, ParticipantId } from '../../core/ids.ts';
import type { LatencyTable, RoutingPlan, StreamDemand } from '../../core/routing/types.ts';
import type { Scenario } from '../scenario/schema.ts';

/** A plan with nothing routed: the starting point of a meeting's first transition. */
export function emptyPlan(meeting: MeetingId): RoutingPlan {
  return { meeting, hub: null, homes: [], publishes: [], cascades: [], deliveries: [], loads: [] };
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

/** A demand list's pairs grouped by subscriber or by publisher, each group in list order. */
export function pairsBy(
  demand: readonly StreamDemand[],
  key: 'subscriber' | 'publisher',
): Map<ParticipantId, StreamDemand[]> {
  const groups = new Map<ParticipantId, StreamDemand[]>();
  for (const pair of demand) {
    const group = groups.get(pair[key]);
    if (group === undefined) groups.set(pair[key], [pair]);
    else group.push(pair);
  }
  return groups;
}
