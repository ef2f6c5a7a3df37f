// The public API of core/keys: the AC signing-key ring and the validators' JWKS cache policy.
export * from './signing-ring.ts';
export * from './jwks-cache.ts';
