// The public API of core: every decision the platform makes, sans-I/O.
// Each module's own index.ts lists its public surface; docs/architecture.md maps them.
export * from './result.ts';
export * from './ids.ts';
export * from './random.ts';
export * from './layout/index.ts';
export * from './routing/index.ts';
export * from './placement/index.ts';
export * from './protocol/index.ts';
export * from './keys/index.ts';
export * from './auth/index.ts';
export * from './backpressure/index.ts';
export * from './ops/index.ts';
export * from './mh/index.ts';
export * from './mc/index.ts';
export * from './gc/index.ts';
export * from './mls/index.ts';
