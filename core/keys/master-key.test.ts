import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  applyRewrapStep,
  describeMasterKeyError,
  parseMasterKey,
  planRewrap,
  retirableMasterVersions,
} from './master-key.ts';
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

describe('master-key parser', () => {
  const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((b) => b.some((x) => x));
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

  it('reads any non-zero 32-byte key written as base64', () => {
    fc.assert(
      fc.property(key32, (bytes) => {
        expect(parseMasterKey(base64(bytes))).toEqual({ ok: true, value: bytes });
      }),
    );
  });

  it('refuses a character outside base64 anywhere, naming the first one', () => {
    const junk = fc
      .integer({ min: 0, max: 0xffff })
      .map((code) => String.fromCharCode(code))
      .filter((c) => !ALPHABET.includes(c) && c !== '=');
    fc.assert(
      fc.property(key32, junk, fc.nat(43), (bytes, c, at) => {
        const text = base64(bytes);
        const replaced = `${text.slice(0, at)}${c}${text.slice(at + 1)}`;
        const inserted = `${text.slice(0, at)}${c}${text.slice(at)}`;
        for (const candidate of [replaced, inserted]) {
          expect(parseMasterKey(candidate)).toEqual({
            ok: false,
            error: { kind: 'invalid_character', index: at },
          });
        }
      }),
    );
    for (const text of [' ', '\n', '-', '_', '\u0000', 'é'].map((c) => `${'A'.repeat(43)}${c}`)) {
      expect(parseMasterKey(text)).toMatchObject({
        ok: false,
        error: { kind: 'invalid_character' },
      });
    }
    expect(parseMasterKey(`${base64(new Uint8Array(32).fill(7))}\n`)).toEqual({
      ok: false,
      error: { kind: 'invalid_character', index: 44 },
    });
  });

  it('refuses padding before the end and more than two pad characters', () => {
    expect(parseMasterKey('AA=A')).toEqual({
      ok: false,
      error: { kind: 'invalid_character', index: 3 },
    });
    expect(parseMasterKey('A===')).toEqual({
      ok: false,
      error: { kind: 'invalid_character', index: 1 },
    });
    expect(parseMasterKey('====')).toEqual({
      ok: false,
      error: { kind: 'invalid_character', index: 0 },
    });
  });

  it('refuses missing padding and stray bits after the last byte', () => {
    fc.assert(
      fc.property(key32, fc.integer({ min: 1, max: 15 }), (bytes, stray) => {
        const text = base64(bytes);
        expect(parseMasterKey(text.slice(0, -1))).toEqual({
          ok: false,
          error: { kind: 'invalid_padding' },
        });
        // 32 bytes leave two unused bits in the last digit (before the one '=').
        const last = ALPHABET.indexOf(text.charAt(42));
        const altered = ALPHABET.charAt((last & ~3) | (stray & 3 || 1));
        expect(parseMasterKey(`${text.slice(0, 42)}${altered}=`)).toEqual({
          ok: false,
          error: { kind: 'invalid_padding' },
        });
      }),
    );
    expect(parseMasterKey('AB==')).toEqual({ ok: false, error: { kind: 'invalid_padding' } });
    expect(parseMasterKey('AAB=')).toEqual({ ok: false, error: { kind: 'invalid_padding' } });
  });

  it('refuses keys of any other length', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 80 }).filter((b) => b.length !== 32),
        (bytes) => {
          expect(parseMasterKey(base64(bytes))).toEqual({
            ok: false,
            error: { kind: 'wrong_length', bytes: bytes.length },
          });
        },
      ),
    );
  });

  it('refuses the all-zero key', () => {
    expect(parseMasterKey(base64(new Uint8Array(32)))).toEqual({
      ok: false,
      error: { kind: 'all_zero' },
    });
    const oneBit = new Uint8Array(32);
    oneBit[31] = 1;
    expect(parseMasterKey(base64(oneBit)).ok).toBe(true);
  });

  it('agrees with a lenient decoder on everything it accepts', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ minLength: 40, maxLength: 48, unit: fc.constantFrom(...`${ALPHABET}=`) }),
          key32.map(base64),
        ),
        (text) => {
          const parsed = parseMasterKey(text);
          if (parsed.ok) {
            expect(Buffer.from(parsed.value).toString('base64')).toBe(text);
            expect(parsed.value).toEqual(new Uint8Array(Buffer.from(text, 'base64')));
          }
        },
      ),
    );
  });

  it('describes each error for a configuration message', () => {
    expect(describeMasterKeyError({ kind: 'invalid_character', index: 3 })).toBe(
      'must be 32 bytes, base64-encoded: character 4 is not base64',
    );
    expect(describeMasterKeyError({ kind: 'invalid_padding' })).toBe(
      'must be 32 bytes, base64-encoded: the padding is wrong',
    );
    expect(describeMasterKeyError({ kind: 'wrong_length', bytes: 16 })).toBe(
      'must be 32 bytes, base64-encoded: it decodes to 16 bytes',
    );
    expect(describeMasterKeyError({ kind: 'all_zero' })).toBe(
      'must be a random key, not all zeros (openssl rand -base64 32)',
    );
  });
});
