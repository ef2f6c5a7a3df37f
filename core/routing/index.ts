// The public API of core/routing: the media routing planner and its checkers.
export * from './types.ts';
export { planJoining, planKeepingHomes, planRouting, targetHandlerCount } from './planner.ts';
export {
  rankHandlers,
  scoreHandler,
  latencyBetween,
  hardLimitBps,
  loadTier,
  type LoadTier,
  type HandlerScore,
  type RankRequest,
} from './rank.ts';
export { checkPlan, type PlanViolation } from './check.ts';
export {
  planTransition,
  applySteps,
  findTransitionGaps,
  keptDemand,
  RemovalReach,
  type PlanStep,
  type TransitionGap,
} from './transition.ts';
export { homesOf, routesOf, handlerLoads } from './loads.ts';
