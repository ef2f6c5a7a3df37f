// Bundles a TypeScript entry point with esbuild into .build/ and prints nothing on success.
// The simulator and its benchmark run from such a bundle: tsx keeps every function's name by
// wrapping each closure as it is created, which the simulator, creating a closure or two per
// event, pays for on every event; a plain bundle has no such wrapper and starts faster.
// Usage: node scripts/bundle.mjs sim/cli.ts   (writes .build/sim/cli.mjs and its source map)
//        node scripts/bundle.mjs <entry.ts> <out.mjs>   (writes where told)
import { build } from 'esbuild';

const [entry, outfile] = process.argv.slice(2);
if (entry === undefined || !entry.endsWith('.ts')) {
  console.error('usage: node scripts/bundle.mjs <entry.ts> [out.mjs]');
  process.exit(2);
}
await build({
  entryPoints: [entry],
  outfile: outfile ?? `.build/${entry.replace(/\.ts$/, '.mjs')}`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
