/**
 * `npm run load:k6 -- <script> [k6 run options]`: runs one of the k6 scripts here (mh-media,
 * mc-join-storm, http-ac-gc) with k6 when k6 is on PATH; otherwise says how to get k6 and exits
 * with status 2. k6 runs TypeScript itself; the JSON summary goes to reports/k6-<script>.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const K6_SCRIPTS = ['mh-media', 'mc-join-storm', 'http-ac-gc'] as const;

export const HOW_TO_GET_K6 = `k6 is not on PATH. Install it on the machine that runs the load (https://grafana.com/docs/k6/latest/set-up/install-k6/):
  Debian/Ubuntu: the Grafana apt repository (sudo apt-get install k6 after adding it)
  macOS: brew install k6
  Windows: winget install k6
  or a release binary from https://github.com/grafana/k6/releases
k6 0.57 or later runs these TypeScript scripts as they are. Meanwhile the same load shapes run
here with the project's own clients: npm run load:quic -- basic, npm run load:http.`;

/** The k6 binary on PATH, or undefined. */
export function findK6(path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'k6');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The script file for a name (with or without .ts), or undefined when there is none. */
export function scriptFile(name: string): string | undefined {
  const base = name.replace(/\.ts$/, '').replace(/^.*\//, '');
  if (!(K6_SCRIPTS as readonly string[]).includes(base)) return undefined;
  return fileURLToPath(new URL(`./${base}.ts`, import.meta.url));
}

function main(): number {
  const [name, ...rest] = process.argv.slice(2);
  const file = name === undefined ? undefined : scriptFile(name);
  if (file === undefined) {
    console.error(`usage: npm run load:k6 -- <${K6_SCRIPTS.join('|')}> [k6 run options]`);
    return 2;
  }
  const k6 = findK6();
  if (k6 === undefined) {
    console.error(HOW_TO_GET_K6);
    return 2;
  }
  mkdirSync('reports', { recursive: true });
  const run = spawnSync(k6, ['run', ...rest, file], { stdio: 'inherit' });
  return run.status ?? 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exit(main());
}
