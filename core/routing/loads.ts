/**
 * Bandwidth accounting: a handler carries every stream it receives and every stream it sends,
 * each at the per-stream bitrate.
 */
import type { HandlerId, ParticipantId } from '../ids.ts';
import { compareText } from './keys.ts';
import { hardLimitBps } from './rank.ts';
import type { HandlerLoad, Route, RoutingHandler, RoutingPlan } from './types.ts';

/** All legs of a plan, publishes first, then cascades, then deliveries. */
export function routesOf(plan: RoutingPlan): Route[] {
  return [...plan.publishes, ...plan.cascades, ...plan.deliveries];
}

/**
 * A plan's homes by participant (a participant listed twice, which the planner never does, has
 * its last home). Made on the first question and kept with the plan, which is immutable: a
 * controller asks for every member's home at each replan, and the next planning reads the same
 * map as its previous homes.
 */
export function homesOf(plan: RoutingPlan): ReadonlyMap<ParticipantId, HandlerId> {
  let homes = homesByPlan.get(plan);
  if (homes === undefined) {
    const made = new Map<ParticipantId, HandlerId>();
    for (const { participant, handler } of plan.homes) made.set(participant, handler);
    homes = made;
    homesByPlan.set(plan, made);
  }
  return homes;
}

const homesByPlan = new WeakMap<RoutingPlan, ReadonlyMap<ParticipantId, HandlerId>>();

/** How many streams each handler receives plus sends under the routes of these lists. */
export function streamCounts(...lists: readonly Iterable<Route>[]): Map<HandlerId, number> {
  const counts = new Map<HandlerId, number>();
  for (const routes of lists) addStreamCounts(counts, routes, 1);
  return counts;
}

/**
 * Adds `step` to the stream count of every handler each route runs through (a cascade: both
 * ends); a handler whose count comes to 0 is taken out.
 */
export function addStreamCounts(
  counts: Map<HandlerId, number>,
  routes: Iterable<Route>,
  step: number,
): void {
  const bump = (handler: HandlerId): void => {
    const count = (counts.get(handler) ?? 0) + step;
    if (count === 0) counts.delete(handler);
    else counts.set(handler, count);
  };
  for (const route of routes) {
    if (route.type === 'cascade') {
      bump(route.from);
      bump(route.to);
    } else {
      bump(route.handler);
    }
  }
}

/**
 * The load each handler touched by `routes` carries, sorted by handler id. Handlers missing
 * from `handlers` count as having no other load and no capacity.
 */
export function handlerLoads(
  routes: Iterable<Route>,
  handlers: ReadonlyMap<HandlerId, RoutingHandler>,
  bitrateBps: number,
): HandlerLoad[] {
  return loadsOfCounts(streamCounts(routes), handlers, bitrateBps);
}

/** {@link handlerLoads} from the stream counts ({@link streamCounts}) of the routes. */
export function loadsOfCounts(
  counts: ReadonlyMap<HandlerId, number>,
  handlers: ReadonlyMap<HandlerId, RoutingHandler>,
  bitrateBps: number,
): HandlerLoad[] {
  return [...counts]
    .sort(([a], [b]) => compareText(a, b))
    .map(([handler, count]) => {
      const info = handlers.get(handler);
      const meetingBps = count * bitrateBps;
      return {
        handler,
        meetingBps,
        totalBps: meetingBps + (info?.loadBps ?? 0),
        hardLimitBps: info === undefined ? 0 : hardLimitBps(info),
      };
    });
}
