// Mutation testing of core/mh (Stryker 9.6.1; 10.x needs Node 22). Run: npm run mutation:mh
// Report: reports/mutation/mh.html. Sandboxes live under .build/ (git-ignored).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: ['core/mh/**/*.ts', '!core/mh/**/*.test.ts', '!core/mh/testing.ts'],
  testRunner: 'vitest',
  // Only the tests that import core/mh run (vitest's related files).
  vitest: { configFile: 'vitest.config.ts', related: true },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  coverageAnalysis: 'perTest',
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mh.html' },
  jsonReporter: { fileName: 'reports/mutation/mh.json' },
  tempDirName: '.build/stryker-tmp',
  cleanTempDir: 'always',
  timeoutMS: 20000,
};
