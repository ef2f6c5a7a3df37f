// Public API of core/backpressure: Media Handler bandwidth states, quality stages, admission
// with least-loaded redirect, and the MC-to-MC coordination backoff.
export * from './bandwidth.ts';
export * from './quality.ts';
export * from './admission.ts';
export * from './backoff.ts';
