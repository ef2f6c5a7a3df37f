import { describe, expect, it } from 'vitest';
import { MAX_RUNS, MAX_SEEDS, PREDICTION_SEEDS, parseCompareArguments } from './compare.ts';

describe('load:compare arguments', () => {
  it('takes a scenario, then --calibration, --runs and --seeds in any order', () => {
    const seeds = PREDICTION_SEEDS;
    expect(parseCompareArguments(['basic'])).toEqual({ ok: true, name: 'basic', runs: 1, seeds });
    expect(parseCompareArguments(['basic', '--runs', '3'])).toEqual({
      ok: true,
      name: 'basic',
      runs: 3,
      seeds,
    });
    expect(parseCompareArguments(['basic', '--runs', '2', '--calibration', 'c.json'])).toEqual({
      ok: true,
      name: 'basic',
      runs: 2,
      seeds,
      calibration: 'c.json',
    });
    expect(parseCompareArguments(['basic', '--seeds', '1', '--runs', '2'])).toEqual({
      ok: true,
      name: 'basic',
      runs: 2,
      seeds: 1,
    });
    expect(parseCompareArguments(['basic', '--seeds', String(MAX_SEEDS)])).toMatchObject({
      seeds: MAX_SEEDS,
    });
    expect(parseCompareArguments(['basic', '--calibration', 'c.json'])).toMatchObject({
      calibration: 'c.json',
      runs: 1,
    });
  });

  it('refuses a missing scenario, a flag without its value, an unknown or repeated flag and runs or seeds out of bounds', () => {
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
      ['basic', '--runs', '2', '--runs', '3'],
      ['basic', '--seeds', '0'],
      ['basic', '--seeds', String(MAX_SEEDS + 1)],
      ['basic', '--seeds', '1.5'],
      ['basic', '--seeds', '2', '--seeds', '3'],
      ['basic', '--calibration', 'a', '--calibration', 'b'],
    ])
      expect(parseCompareArguments(args), args.join(' ')).toEqual({ ok: false });
  });
});
