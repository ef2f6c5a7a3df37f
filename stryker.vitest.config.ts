// The tests Stryker runs against mutants of core/routing's planner and ranking (see
// stryker.config.mjs): the planner, ranking and checker tests (the checker's check by change and
// the demand change by stream included), the planner's properties and the
// incremental planner's,
// without the make-before-break properties, which plan only to test transitions.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'core/routing/{planner,rank,check,check.change,demand-change,properties,incremental,input}.test.ts',
    ],
    testNamePattern: /^(?!.*(make-before-break|findTransitionGaps|reusing the previous plan)).*$/,
    testTimeout: 30_000,
    pool: 'forks',
  },
});
