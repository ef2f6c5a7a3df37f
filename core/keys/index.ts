// The public API of core/keys: the AC signing-key ring, the validators' JWKS cache policy,
// the master-key re-wrap plan and media-key epochs.
export * from './signing-ring.ts';
export * from './jwks-cache.ts';
export * from './master-key.ts';
export * from './media-epochs.ts';
