// Mutation runs execute the property tests once per mutant: fewer runs each keeps the whole
// run within minutes (the ordinary test run keeps fast-check's default of 100).
import fc from 'fast-check';

fc.configureGlobal({ numRuns: 25 });
