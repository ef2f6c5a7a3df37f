import { subscriberHops, type RouteGraph } from '../../core/routing/graph.ts';
import { MAX_CASCADE_HOPS, type RoutingPlan, type StreamDemand } from '../../core/routing/types.ts';
import { formatTime, type Micros } from '../engine/time.ts';
import type { ViolationLog } from './violations.ts';

/** Whether the installed forwarding entries carry a demanded stream to its subscriber. */
export function isDelivered(installed: RouteGraph, demand: StreamDemand): boolean {
  const paths = installed.paths(demand);
  if (paths === undefined) return false;
  const delivered = subscriberHops(paths, demand.subscriber);
  return delivered !== undefined && delivered <= MAX_CASCADE_HOPS;
}

/**
 * The convergence invariant, checked `bound` after a meeting's demand last changed: every
 * demanded stream that can be delivered (both ends connected and reachable) is delivered by the
 * forwarding entries the handlers have installed.
 */
export function checkConvergence(
  log: ViolationLog,
  installed: RouteGraph,
  demand: readonly StreamDemand[],
  canBeDelivered: (demand: StreamDemand) => boolean,
  changedAt: Micros,
  bound: Micros,
): void {
  for (const pair of demand) {
    // Delivery is the cheap question and almost always yes; reachability is asked only when not.
    if (isDelivered(installed, pair) || !canBeDelivered(pair)) continue;
    log.report(
      'convergence',
      `client/${pair.subscriber}`,
      `does not receive ${pair.publisher} ${pair.kind} ${formatTime(bound)} after its layout demanded it (demand changed at ${formatTime(changedAt)})`,
    );
  }
}

/**
 * {@link checkConvergence} for a demand that `plan` was checked to deliver (`planDelivers`: every
 * pair within the hop limit). When every leg of the plan is installed, every pair is delivered:
 * the installed legs hold the plan's, and more legs can only shorten a stream's paths and add
 * deliveries. That is one question per leg, each of a stream just asked about, instead of one
 * per pair; otherwise the pairs are checked one by one, with the same reports.
 */
export function checkConvergenceOfPlan(
  log: ViolationLog,
  installed: RouteGraph,
  plan: RoutingPlan,
  planDelivers: boolean,
  demand: readonly StreamDemand[],
  canBeDelivered: (demand: StreamDemand) => boolean,
  changedAt: Micros,
  bound: Micros,
): void {
  if (planDelivers && allInstalled(installed, plan)) return;
  checkConvergence(log, installed, demand, canBeDelivered, changedAt, bound);
}

function allInstalled(installed: RouteGraph, plan: RoutingPlan): boolean {
  for (const route of plan.publishes) if (!installed.has(route)) return false;
  for (const route of plan.cascades) if (!installed.has(route)) return false;
  for (const route of plan.deliveries) if (!installed.has(route)) return false;
  return true;
}
