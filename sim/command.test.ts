import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from './command.ts';

describe('npm run sim command line', () => {
  let output: string[];
  beforeEach(() => {
    output = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(
      (chunk) => (output.push(String(chunk)), true),
    );
    vi.spyOn(process.stderr, 'write').mockImplementation(
      (chunk) => (output.push(String(chunk)), true),
    );
  });
  afterEach(() => vi.restoreAllMocks());

  it.each([
    [['--bogus']],
    [['--seed', 'seven']],
    [['--duration', '-3']],
    [['--scenario', 'nonesuch']],
    [['--packet-sample', '2']],
  ])('exits 2 on bad usage: %j', (argv) => {
    expect(main(argv)).toBe(2);
  });

  it('exits 2 with path and message for an invalid scenario file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sim-')), 'bad.yaml');
    writeFileSync(
      file,
      'name: bad\ndurationSeconds: ten\nregions: []\nworkload: {concurrentMeetings: 1, participants: {mean: 2, min: 1, max: 3}}\n',
    );
    expect(main(['--scenario', file])).toBe(2);
    const text = output.join('');
    expect(text).toContain('durationSeconds:');
    expect(text).toContain('regions:');
  });

  it('lists the built-in scenarios', () => {
    expect(main(['--list-scenarios'])).toBe(0);
    expect(output.join('')).toMatch(/^default\s/m);
    expect(output.join('')).toMatch(/^baseline\s/m);
  });

  it('writes a JSON report and a self-contained HTML report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-'));
    const json = join(dir, 'report.json');
    const html = join(dir, 'report.html');
    expect(
      main(['--duration', '8', '--seed', '4', '--json', json, '--html', html, '--quiet']),
    ).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as { traceHash: string; seed: number };
    expect(report.seed).toBe(4);
    expect(output.join('')).toContain(report.traceHash);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<svg');
    expect(page).toContain(report.traceHash);
    expect(page).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
  });
});
