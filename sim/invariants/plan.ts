import { checkPlan, type PlanViolation } from '../../core/routing/check.ts';
import {
  RemovalReach,
  findTransitionGaps,
  keptDemand,
  type PlanStep,
} from '../../core/routing/transition.ts';
import { routesOf } from '../../core/routing/loads.ts';
import type { RoutingInput, RoutingPlan, StreamDemand } from '../../core/routing/types.ts';
import type { InvariantName, ViolationLog } from './violations.ts';

/** Which simulator invariant a violation of core's plan checker belongs to. */
export function invariantOfPlanViolation(violation: PlanViolation): InvariantName {
  switch (violation.kind) {
    case 'loop':
    case 'too-many-hops':
      return 'cascade';
    case 'over-hard-limit':
      return 'handler-limit';
    default:
      return 'plan';
  }
}

/**
 * Runs core's plan checker on a new plan and reports every broken rule. True when the plan
 * delivers every demanded pair within the hop limit (whatever else it broke).
 */
export function checkNewPlan(
  log: ViolationLog,
  entity: string,
  input: RoutingInput,
  plan: RoutingPlan,
): boolean {
  let deliversDemand = true;
  for (const violation of checkPlan(input, plan)) {
    log.report(invariantOfPlanViolation(violation), entity, violation.message);
    if (violation.kind === 'undelivered' || violation.kind === 'too-many-hops') {
      deliversDemand = false;
    }
  }
  return deliversDemand;
}

/**
 * Runs core's transition checker: replaying `steps` over the routes of the plan in force (null:
 * none) must never leave a pair that stays demanded undelivered (make-before-break).
 */
export function checkTransition(
  log: ViolationLog,
  entity: string,
  planBefore: RoutingPlan | null,
  steps: readonly PlanStep[],
  demandBefore: readonly StreamDemand[],
  demandAfter: readonly StreamDemand[],
): void {
  // Only a removal can leave a pair undelivered, and only a pair it reaches (every pair of a
  // stream losing a publish or cascade leg, the pair of a subscriber losing a delivery): a
  // transition that reaches no pair demanded both before and after cannot break anything, and
  // the kept pairs worth replaying are the reached ones (core's checker passes over the others).
  const reach = RemovalReach.of(steps);
  if (reach.empty) return;
  const reached = (pair: StreamDemand): boolean => reach.reaches(pair);
  const kept = keptDemand(demandBefore.filter(reached), demandAfter.filter(reached));
  if (kept.length === 0) return;
  for (const gap of findTransitionGaps(
    planBefore === null ? [] : routesOf(planBefore),
    steps,
    kept,
    reach,
  )) {
    log.report('make-before-break', entity, gap.message);
  }
}
