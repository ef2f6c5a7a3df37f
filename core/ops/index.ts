// Public API of core/ops: circuit breaker, autoscaling, and the capacity and cost model.
export * from './circuit-breaker.ts';
export * from './autoscaler.ts';
export * from './cost-model.ts';
