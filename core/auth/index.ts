// The public API of core/auth: scope grammar, claim rules, token buckets and the AC's
// rate-limit policies.
export * from './scopes.ts';
export * from './claims.ts';
export * from './token-bucket.ts';
export * from './rate-limits.ts';
