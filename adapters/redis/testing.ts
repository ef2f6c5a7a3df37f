/** The Redis that tests use (a key prefix of their own keeps concurrent runs apart). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
