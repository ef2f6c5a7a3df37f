// Vitest configuration for mutation testing (`npx stryker run`): core's unit tests only, so
// a mutant is judged by the pure tests of the code it changed.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['core/**/*.test.ts'],
    setupFiles: ['vitest.stryker.setup.ts'],
    testTimeout: 30_000,
    pool: 'forks',
  },
});
