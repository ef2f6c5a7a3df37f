// Public API of core/ops: canary analysis, connection-pool sizing, circuit breaker,
// autoscaling, tail sampling, feature-flag fallback, and the capacity and cost model.
export * from './canary.ts';
export * from './pool.ts';
export * from './circuit-breaker.ts';
export * from './autoscaler.ts';
export * from './sampling.ts';
export * from './feature-flags.ts';
export * from './cost-model.ts';
