import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{core,sim,chaos,adapters,services,client,loadtest,deploy,dashboards}/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
