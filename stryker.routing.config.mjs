// Mutation testing of the routing planner and handler ranking (run: npx stryker run).
// Reports go to reports/ (git-ignored).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: ['core/routing/planner.ts', 'core/routing/rank.ts', 'core/routing/input.ts'],
  testRunner: 'vitest',
  vitest: { configFile: 'stryker.vitest.config.ts', related: false },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  coverageAnalysis: 'perTest',
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/routing.html' },
  jsonReporter: { fileName: 'reports/mutation/routing.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
