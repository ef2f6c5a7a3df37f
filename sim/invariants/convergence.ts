import { subscriberHops, type RouteGraph } from '../../core/routing/graph.ts';
import { canonicalPlanHas, diffCanonicalPlans } from '../../core/routing/transition.ts';
import {
  MAX_CASCADE_HOPS,
  type Route,
  type RoutingPlan,
  type StreamDemand,
} from '../../core/routing/types.ts';
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
 * One meeting's convergence checks: {@link checkConvergence}'s reports, asked more cheaply when
 * the plan in force was checked to deliver the demand (every pair within the hop limit). Then,
 * when every leg of the plan is installed, every pair is delivered: the installed legs hold the
 * plan's, and more legs can only shorten a stream's paths and add deliveries. Whether every leg
 * is installed is answered from the last check when that check found its plan installed: the
 * legs the new plan adds must be installed, and so must each leg removed since that the new
 * plan has (a leg of both plans that nothing removed is still there). Otherwise each leg is
 * looked up, and when one is missing the pairs are checked one by one, with the same reports.
 */
export class ConvergenceChecks {
  /** The plan the last check found installed, leg for leg; undefined if it did not. */
  private installedPlan: RoutingPlan | undefined;
  /** Legs removed from the installed entries since that check. */
  private removedSince: Route[] = [];

  /** Notes that a leg was removed from the installed entries. */
  legRemoved(route: Route): void {
    if (this.installedPlan !== undefined) this.removedSince.push(route);
  }

  check(
    log: ViolationLog,
    installed: RouteGraph,
    plan: RoutingPlan,
    planDelivers: boolean,
    demand: readonly StreamDemand[],
    canBeDelivered: (demand: StreamDemand) => boolean,
    changedAt: Micros,
    bound: Micros,
  ): void {
    const planInstalled = planDelivers && this.allInstalled(installed, plan);
    this.installedPlan = planInstalled ? plan : undefined;
    this.removedSince = [];
    if (!planInstalled) checkConvergence(log, installed, demand, canBeDelivered, changedAt, bound);
  }

  private allInstalled(installed: RouteGraph, plan: RoutingPlan): boolean {
    const known = this.installedPlan;
    const diff = known === undefined ? undefined : diffCanonicalPlans(known, plan);
    if (diff === undefined) return everyLegInstalled(installed, plan);
    for (const leg of diff.added) if (!installed.has(leg)) return false;
    for (const leg of this.removedSince) {
      if (canonicalPlanHas(plan, leg) === true && !installed.has(leg)) return false;
    }
    return true;
  }
}

function everyLegInstalled(installed: RouteGraph, plan: RoutingPlan): boolean {
  for (const route of plan.publishes) if (!installed.has(route)) return false;
  for (const route of plan.cascades) if (!installed.has(route)) return false;
  for (const route of plan.deliveries) if (!installed.has(route)) return false;
  return true;
}
