import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

// The command as `npm run sim` runs it: the bundled CLI in its own process.
const cli = resolve('.build/sim/cli.mjs');

function sim(args: string[], cwd = process.cwd()) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the bundled simulator CLI', () => {
  beforeAll(() => {
    execFileSync(process.execPath, ['scripts/bundle.mjs', 'sim/cli.ts']);
  });

  it('exits 2 with one "error:" line and no stack trace for a seed above 2^53 - 1', () => {
    const { status, stdout, stderr } = sim(['--seed', '9007199254740992']);
    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      'error: --seed 9007199254740992 is above the bound 9007199254740991 (2^53 - 1, the largest integer a seed holds exactly)\n',
    );
  });

  it('refuses a scenario of 10 million meetings at once', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sim-')), 'huge.yaml');
    writeFileSync(
      file,
      'name: huge\ndurationSeconds: 60\nregions: [{name: a}]\nworkload: {concurrentMeetings: 10000000, participants: {mean: 6, min: 2, max: 16}}\n',
    );
    const started = performance.now();
    const { status, stderr } = sim(['--scenario', file]);
    expect(status).toBe(2);
    expect(stderr).toBe(
      `error: invalid scenario ${file}: workload.concurrentMeetings: 10000000 is above the bound 100000\n`,
    );
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("creates the project's reports/ for a report and no other missing directory", () => {
    const cwd = mkdtempSync(join(tmpdir(), 'sim-'));
    const refused = sim(['--duration', '2', '--json', 'elsewhere/run.json'], cwd);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe(
      'error: --json elsewhere/run.json: directory elsewhere does not exist\n',
    );
    expect(existsSync(join(cwd, 'elsewhere'))).toBe(false);
    const written = sim(['--duration', '2', '--quiet', '--json', 'reports/run.json'], cwd);
    expect(written.status).toBe(0);
    expect(existsSync(join(cwd, 'reports', 'run.json'))).toBe(true);
  });

  it("replays a swarm line's run to the same trace hash", () => {
    const swarm = sim(['--swarm', '2', '--seed', '17', '--duration', '5']);
    expect(swarm.status).toBe(0);
    const lines = swarm.stdout.split('\n').filter((line) => line.startsWith('seed '));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const hash = /trace hash ([0-9a-f]{64})/.exec(line)?.[1];
      const command = /; replay: npm run sim -- (.*)$/.exec(line)?.[1];
      expect(hash).toBeDefined();
      expect(command).toBeDefined();
      const replay = sim(command?.split(' ') ?? []);
      expect(replay.status).toBe(0);
      expect(replay.stdout).toContain(`Trace hash: ${hash}`);
    }
  });
});
