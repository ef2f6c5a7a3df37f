import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyRewrapStep, planRewrap, retirableMasterVersions } from './master-key.ts';
import type { MasterKeyVersions, RewrapStep, WrappedRecord } from './master-key.ts';
import { unwrap } from '../result.ts';

const versions = (current: number, ...loaded: number[]): MasterKeyVersions => ({
  current,
  loaded: new Set([current, ...loaded]),
});

const applyAll = (records: readonly WrappedRecord[], steps: readonly RewrapStep[]) =>
  steps.reduce((acc, step) => acc.map((r) => applyRewrapStep(r, step)), records);

describe('master-key re-wrap plan', () => {
  it('re-wraps older records, oldest version first, then by id', () => {
    const records = [
      { id: 'b', masterKeyVersion: 2 },
      { id: 'c', masterKeyVersion: 3 },
      { id: 'a', masterKeyVersion: 2 },
      { id: 'd', masterKeyVersion: 1 },
    ];
    const plan = unwrap(planRewrap(records, versions(3, 1, 2)));
    expect(plan.steps).toEqual([
      { id: 'd', fromVersion: 1, toVersion: 3 },
      { id: 'a', fromVersion: 2, toVersion: 3 },
      { id: 'b', fromVersion: 2, toVersion: 3 },
    ]);
    expect(plan.unreadable).toEqual([]);
  });

  it('reports records under versions that are not loaded, and leaves newer ones alone', () => {
    const records = [
      { id: 'lost', masterKeyVersion: 1 },
      { id: 'newer', masterKeyVersion: 4 },
    ];
    const plan = unwrap(planRewrap(records, versions(3, 4)));
    expect(plan.steps).toEqual([]);
    expect(plan.unreadable).toEqual([{ id: 'lost', masterKeyVersion: 1 }]);
    expect(plan.ahead).toEqual([{ id: 'newer', masterKeyVersion: 4 }]);
  });

  it('refuses a current version that is not loaded or not a positive integer', () => {
    expect(planRewrap([], { current: 2, loaded: new Set([1]) })).toEqual({
      ok: false,
      error: { kind: 'current_version_not_loaded', version: 2 },
    });
    expect(planRewrap([], versions(0))).toEqual({
      ok: false,
      error: { kind: 'invalid_version', version: 0 },
    });
    expect(planRewrap([], versions(1, 1.5)).ok).toBe(false);
  });

  it('lists old versions that no record uses any more', () => {
    const records = [{ id: 'a', masterKeyVersion: 2 }];
    expect(retirableMasterVersions(records, versions(3, 1, 2, 4))).toEqual([1]);
  });

  const scenario = fc.record({
    current: fc.integer({ min: 1, max: 5 }),
    loaded: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 6 }),
    records: fc.uniqueArray(
      fc.record({
        id: fc.string({ minLength: 1, maxLength: 4 }),
        masterKeyVersion: fc.integer({ min: 1, max: 6 }),
      }),
      { selector: (r) => r.id, maxLength: 30 },
    ),
    crashAfter: fc.nat(30),
  });

  it('is resumable and idempotent: a crash part-way, a replay and a re-plan end in the same place', () => {
    fc.assert(
      fc.property(scenario, ({ current, loaded, records, crashAfter }) => {
        const keys = versions(current, ...loaded);
        const plan = unwrap(planRewrap(records, keys));
        const done = plan.steps.slice(0, crashAfter);
        // Crash after a prefix, replay that prefix (duplicate delivery), then re-plan.
        const partial = applyAll(applyAll(records, done), done);
        const resumed = unwrap(planRewrap(partial, keys));
        expect(resumed.steps).toEqual(plan.steps.slice(done.length));
        const finished = applyAll(partial, resumed.steps);
        expect(unwrap(planRewrap(finished, keys)).steps).toEqual([]);
        expect(finished).toEqual(applyAll(records, plan.steps));
      }),
    );
  });

  it('after the plan every readable record is current or ahead, and unreadable ones are untouched', () => {
    fc.assert(
      fc.property(scenario, ({ current, loaded, records }) => {
        const keys = versions(current, ...loaded);
        const finished = applyAll(records, unwrap(planRewrap(records, keys)).steps);
        finished.forEach((record, i) => {
          const before = records[i]!;
          if (!keys.loaded.has(before.masterKeyVersion)) expect(record).toEqual(before);
          else expect(record.masterKeyVersion).toBe(Math.max(current, before.masterKeyVersion));
        });
        for (const version of retirableMasterVersions(finished, keys)) {
          expect(version).toBeLessThan(current);
          expect(finished.some((r) => r.masterKeyVersion === version)).toBe(false);
        }
      }),
    );
  });
});
