// The tests Stryker runs against mutants of core/routing (see stryker.config.mjs).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['core/routing/**/*.test.ts'],
    testTimeout: 30_000,
    pool: 'forks',
  },
});
