// Entry point of `npm run sim`: parses the command line and runs (see sim/command.ts).
import { main } from './command.ts';
import { configureHeapForSimulation } from './engine/heap.ts';

configureHeapForSimulation();
process.exitCode = main(process.argv.slice(2));
