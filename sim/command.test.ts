import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  checkOutputPath,
  main,
  parseCommandLine,
  planCommand,
  replayCommand,
  UsageError,
} from './command.ts';
import type { MachineLimits } from './estimate.ts';

const GiB = 2 ** 30;
const machine: MachineLimits = { totalMemoryBytes: 23.5 * GiB, heapLimitBytes: 4.375 * GiB };
const tinyMachine: MachineLimits = { totalMemoryBytes: 0.25 * GiB, heapLimitBytes: 0.25 * GiB };

const temporary = () => mkdtempSync(join(tmpdir(), 'sim-'));

/** The problem planning a command line finds, or null. */
function problem(argv: string[], cwd = process.cwd()): string | null {
  try {
    const command = parseCommandLine(argv);
    if (command !== null) planCommand(command, machine, cwd);
    return null;
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
}

/** The arguments after `npm run sim --` in a replay command. */
function replayArgs(line: string): string[] {
  const command = /replay: npm run sim -- (.*)$/.exec(line)?.[1];
  if (command === undefined) throw new Error(`no replay command in: ${line}`);
  return command.split(' ');
}

describe('npm run sim command line', () => {
  let stdout: string[];
  let stderr: string[];
  beforeEach(() => {
    stdout = [];
    stderr = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(
      (chunk) => (stdout.push(String(chunk)), true),
    );
    vi.spyOn(process.stderr, 'write').mockImplementation(
      (chunk) => (stderr.push(String(chunk)), true),
    );
  });
  afterEach(() => vi.restoreAllMocks());

  it.each([
    [['--bogus'], /^unknown option '--bogus'$/],
    [['--sed', '3'], /^unknown option '--sed' \(Did you mean --seed\?\)$/],
    [['--seed', 'seven'], /^--seed "seven" is not a whole number$/],
    [['--seed', '-1'], /^--seed "-1" is not a whole number$/],
    [
      ['--seed', '9007199254740992'],
      /^--seed 9007199254740992 is above the bound 9007199254740991 \(2\^53 - 1/,
    ],
    [['--duration', '-3'], /^--duration -3 must be more than 0$/],
    [['--duration', '86401'], /^--duration 86401 is above the bound 86400$/],
    [['--swarm', '0'], /^--swarm 0 is below the bound 1$/],
    [['--swarm', '10001'], /^--swarm 10001 is above the bound 10000$/],
    [['--hash-every', '1000001'], /^--hash-every 1000001 is above the bound 1000000$/],
    [['--packet-sample', '2'], /^--packet-sample 2 is above the bound 1$/],
    [['--packet-sample', 'half'], /^--packet-sample "half" is not a number$/],
    [['--scenario', 'nonesuch'], /^unknown scenario "nonesuch"/],
    [
      ['--scenario', 'swarm-9007199254740992'],
      /swarm seed 9007199254740992 is above the bound 9007199254740991/,
    ],
    [
      ['--seed', '9007199254740990', '--swarm', '3'],
      /runs seeds up to 9007199254740992, above the bound 9007199254740991/,
    ],
    [['--swarm', '2', '--scenario', 'partition'], /^--swarm .* does not go with --scenario$/],
    [
      ['--swarm', '2', '--json', '--check-determinism'],
      /^--swarm .* does not go with --json, --check-determinism$/,
    ],
    [
      ['--check-determinism', '--html', 'r.html'],
      /^--check-determinism judges only the trace: it does not go with --html$/,
    ],
    [
      ['--json', 'same.json', '--html', 'same.json'],
      /^--json and --html name the same file same.json$/,
    ],
    [['extra'], /^too many arguments/],
  ])('refuses %j naming the flag, the value and the bound', (argv, message) => {
    expect(problem(argv)).toMatch(message);
  });

  it('accepts seeds up to 2^53 - 1 and a swarm that ends there', () => {
    expect(parseCommandLine(['--seed', '9007199254740991'])?.options.seed).toBe(
      Number.MAX_SAFE_INTEGER,
    );
    expect(problem(['--seed', '9007199254740989', '--swarm', '3'])).toBeNull();
  });

  it.each([
    [['--seed', '9007199254740993']],
    [['--bogus']],
    [['--duration']],
    [['--scenario', 'nonesuch']],
    [['--json', '/nonexistent-directory/report.json']],
  ])('prints one line starting with "error:" on stderr and exits 2 for %j', (argv) => {
    expect(main(argv, machine)).toBe(2);
    expect(stdout).toEqual([]);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(/^error: [^\n]+\n$/);
  });

  it('exits 2 with path and message for an invalid scenario file, on one line', () => {
    const file = join(temporary(), 'bad.yaml');
    writeFileSync(
      file,
      'name: bad\ndurationSeconds: ten\nregions: []\nworkload: {concurrentMeetings: 1, participants: {mean: 2, min: 1, max: 3}}\n',
    );
    expect(main(['--scenario', file], machine)).toBe(2);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(
      /^error: invalid scenario .*bad\.yaml: durationSeconds: .*; regions: /,
    );
  });

  it('lists the built-in scenarios and the swarm configurations', () => {
    expect(main(['--list-scenarios'], machine)).toBe(0);
    expect(stdout.join('')).toMatch(/^default\s/m);
    expect(stdout.join('')).toMatch(/^baseline\s/m);
    expect(stdout.join('')).toMatch(/^swarm-<n>\s/m);
  });

  it('exits 0 on a missed service level, and 3 with --fail-on-miss', () => {
    // The default scenario misses join-to-media and signaling at 60 s (printed as MISSED).
    expect(main(['--duration', '20', '--quiet'], machine)).toBe(0);
    expect(main(['--duration', '20', '--quiet', '--fail-on-miss'], machine)).toBe(3);
    // A run whose every level is met, or has no samples, exits 0 with the flag too.
    expect(main(['--duration', '1', '--quiet', '--fail-on-miss'], machine)).toBe(0);
    expect(problem(['--swarm', '2', '--fail-on-miss'])).toMatch(/does not go with --fail-on-miss$/);
  });

  it('compares two scenarios side by side with one seed and duration', () => {
    expect(
      main(
        [
          '--scenario',
          'cross-region-cascade',
          '--compare',
          'cross-region-single',
          '--duration',
          '20',
        ],
        machine,
      ),
    ).toBe(0);
    const out = stdout.join('');
    expect(out).toContain('Comparison, seed 1, 20s simulated each');
    expect(out).toMatch(/cross-region-cascade +cross-region-single +difference/);
    // Every member on the meeting region's handlers: fewer cascades, farther sessions.
    const row = (name: string) =>
      new RegExp(`${name} +(\\S+)(?: \\S+)? +(\\S+)`).exec(out)?.slice(1).map(parseFloat) ?? [];
    const [cascadeLinks, singleLinks] = row('cascade links');
    expect(singleLinks).toBeLessThan(cascadeLinks as number);
    const [cascadeFloor, singleFloor] = row('  cross region floor p99');
    expect(singleFloor).toBeGreaterThan(cascadeFloor as number);
    expect(problem(['--compare', 'default', '--json', 'r.json'])).toMatch(
      /^--compare prints two runs side by side: it does not go with --json$/,
    );
    expect(problem(['--compare', 'nope'])).toMatch(/nope/);
  });

  it('writes a JSON report and a self-contained HTML report', () => {
    const dir = temporary();
    const json = join(dir, 'report.json');
    const html = join(dir, 'report.html');
    expect(
      main(['--duration', '8', '--seed', '4', '--json', json, '--html', html, '--quiet'], machine),
    ).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as { traceHash: string; seed: number };
    expect(report.seed).toBe(4);
    expect(stdout.join('')).toContain(report.traceHash);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<svg');
    expect(page).toContain(report.traceHash);
    expect(page).toContain(
      `Replay: <code>npm run sim -- --scenario default --seed 4 --duration 8</code>`,
    );
    expect(page).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
  });

  it('prints a replay command that names the scenario file and the packet sample', () => {
    const file = join(temporary(), 'tiny.yaml');
    writeFileSync(
      file,
      'name: tiny\ndurationSeconds: 4\nregions: [{name: a}]\nworkload: {concurrentMeetings: 2, participants: {mean: 3, min: 2, max: 4}}\n',
    );
    const html = join(temporary(), 'tiny.html');
    expect(
      main(['--scenario', file, '--seed', '6', '--packet-sample', '0.5', '--html', html], machine),
    ).toBe(0);
    const replay = `npm run sim -- --scenario ${file} --seed 6 --duration 4 --packet-sample 0.5`;
    expect(stdout.join('')).toContain(`Replay: ${replay}`);
    expect(readFileSync(html, 'utf8')).toContain(`Replay: <code>${replay}</code>`);
    expect(replayCommand({ scenario: "my file's.yaml", seed: 1, duration: 2 })).toBe(
      `npm run sim -- --scenario 'my file'\\''s.yaml' --seed 1 --duration 2`,
    );
  });

  describe('output paths, checked before the run', () => {
    it('refuses a path whose directory does not exist, and creates none', () => {
      const cwd = temporary();
      expect(checkOutputPath('--json', 'missing/report.json', cwd)).toBe(
        '--json missing/report.json: directory missing does not exist',
      );
      expect(problem(['--html', 'missing/deeper/report.html'], cwd)).toBe(
        '--html missing/deeper/report.html: directory missing/deeper does not exist',
      );
      expect(existsSync(join(cwd, 'missing'))).toBe(false);
    });

    it('refuses a directory, and a path below a file', () => {
      const cwd = temporary();
      mkdirSync(join(cwd, 'out'));
      writeFileSync(join(cwd, 'plain'), '');
      expect(checkOutputPath('--html', 'out', cwd)).toBe('--html out is a directory, not a file');
      expect(checkOutputPath('--json', 'plain/report.json', cwd)).toMatch(
        /^--json plain\/report.json: directory plain does not exist|plain is not a directory$/,
      );
    });

    it("accepts a file in an existing directory and in the project's reports/", () => {
      const cwd = temporary();
      mkdirSync(join(cwd, 'out'));
      expect(checkOutputPath('--json', 'out/report.json', cwd)).toBeNull();
      expect(checkOutputPath('--json', 'reports/report.json', cwd)).toBeNull();
      expect(checkOutputPath('--json', 'reports/deeper/report.json', cwd)).not.toBeNull();
    });

    it('refuses before running: a bad path costs no run', () => {
      const started = performance.now();
      expect(
        main(['--scenario', 'baseline', '--html', '/nonexistent-directory/b.html'], machine),
      ).toBe(2);
      expect(performance.now() - started).toBeLessThan(2000);
    });
  });

  describe('runs too large for the machine', () => {
    it('are refused with exit 2, naming the estimate, the limit and --allow-large', () => {
      expect(main(['--scenario', 'baseline'], tinyMachine)).toBe(2);
      expect(stdout).toEqual([]);
      expect(stderr).toHaveLength(1);
      expect(stderr[0]).toMatch(
        /^error: scenario baseline needs about \d+ MiB of memory, more than 70 % of this machine's 256 MiB; make it smaller or pass --allow-large to run it anyway\n$/,
      );
    });

    it('run with --allow-large, after saying what they need', () => {
      expect(main(['--duration', '2', '--allow-large', '--quiet'], tinyMachine)).toBe(0);
      expect(stderr.join('')).toMatch(/^estimate: about .* running because of --allow-large\n$/);
      expect(stdout.join('')).toMatch(/^trace hash [0-9a-f]{64}\n$/);
    });

    it('print the estimate first when large but fitting', () => {
      const file = join(temporary(), 'wide.yaml');
      writeFileSync(
        file,
        'name: wide\ndurationSeconds: 0.01\nregions: [{name: a, mediaHandlers: 100, meetingControllers: 40}]\nworkload: {concurrentMeetings: 20000, participants: {mean: 10, min: 2, max: 40}}\n',
      );
      const roomy = { ...machine, heapLimitBytes: 16 * GiB };
      expect(main(['--scenario', file], roomy)).toBe(0);
      expect(stderr.join('')).toMatch(/^estimate: about 218,\d{3} participants .* GiB of memory/);
      expect(main(['--scenario', file], machine)).toBe(2);
      expect(stderr.at(-1)).toMatch(
        /heap limit of 4.4 GiB \(raise it with NODE_OPTIONS=--max-old-space-size=\d+\)/,
      );
    });

    it('include a swarm too long for the machine to finish', () => {
      expect(problem(['--swarm', '10000', '--duration', '86400'])).toMatch(
        /^--swarm 10000 needs about .* h of CPU time, more than the 24.0 h a run may take/,
      );
    });
  });

  describe('swarm lines', () => {
    it("carry a replay command that reproduces each seed's run and trace hash", () => {
      expect(
        main(
          ['--swarm', '2', '--seed', '41', '--duration', '4', '--packet-sample', '0.3'],
          machine,
        ),
      ).toBe(0);
      const lines = stdout
        .join('')
        .split('\n')
        .filter((line) => line.startsWith('seed '));
      expect(lines).toHaveLength(2);
      for (const line of lines) {
        const hash = /trace hash ([0-9a-f]{64})/.exec(line)?.[1];
        const args = replayArgs(line);
        expect(args).toEqual(expect.arrayContaining(['--packet-sample', '0.3', '--duration', '4']));
        stdout.length = 0;
        expect(main(args, machine)).toBe(0);
        expect(stdout.join('')).toContain(`Trace hash: ${hash}`);
        expect(stdout.join('')).toContain(`Replay: npm run sim -- ${args.join(' ')}`);
      }
    });
  });
});
