// Entry point of `npm run sim`: parses the command line and runs (see sim/command.ts).
import { main } from './command.ts';

process.exitCode = main(process.argv.slice(2));
