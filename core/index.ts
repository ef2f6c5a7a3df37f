// The public API of core. Each module re-exports its own public surface here.
export * from './result.ts';
export * from './ids.ts';
export * from './random.ts';
