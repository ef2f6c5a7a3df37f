import { describe, expect, it } from 'vitest';
import { MAX_RUNS, parseCompareArguments } from './compare.ts';

describe('load:compare arguments', () => {
  it('takes a scenario, then --calibration and --runs in any order', () => {
    expect(parseCompareArguments(['basic'])).toEqual({ ok: true, name: 'basic', runs: 1 });
    expect(parseCompareArguments(['basic', '--runs', '3'])).toEqual({
      ok: true,
      name: 'basic',
      runs: 3,
    });
    expect(parseCompareArguments(['basic', '--runs', '2', '--calibration', 'c.json'])).toEqual({
      ok: true,
      name: 'basic',
      runs: 2,
      calibration: 'c.json',
    });
    expect(parseCompareArguments(['basic', '--calibration', 'c.json'])).toMatchObject({
      calibration: 'c.json',
      runs: 1,
    });
  });

  it('refuses a missing scenario, a flag without its value, an unknown flag and runs out of bounds', () => {
    for (const args of [
      [],
      ['--runs', '2'],
      ['basic', '--runs'],
      ['basic', '--calibration'],
      ['basic', '--seed', '2'],
      ['basic', '--runs', '0'],
      ['basic', '--runs', String(MAX_RUNS + 1)],
      ['basic', '--runs', '2.5'],
      ['basic', '--runs', '-1'],
      ['basic', '--calibration', 'a', '--calibration', 'b'],
    ])
      expect(parseCompareArguments(args), args.join(' ')).toEqual({ ok: false });
  });
});
