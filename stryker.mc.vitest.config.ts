import { defineConfig } from 'vitest/config';

/**
 * The tests Stryker runs against the Meeting Controller machines and GC placement: the unit
 * tests (the property tests are left out: run per mutant they would take hours here).
 */
export default defineConfig({
  test: {
    include: ['core/mc/**/*.test.ts', 'core/gc/**/*.test.ts'],
    exclude: ['core/mc/**/*.properties.test.ts'],
    testTimeout: 30_000,
    pool: 'forks',
  },
});
