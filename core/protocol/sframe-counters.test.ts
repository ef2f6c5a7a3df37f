import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../result.ts';
import { MAX_SFRAME_VALUE } from './sframe.ts';
import { SFrameReplayWindow, SFrameSendCounter } from './sframe-counters.ts';

describe('SFrameSendCounter (RFC 9605 sections 7.4 and 9.1)', () => {
  it('hands out 0, 1, 2, ... by default', () => {
    const counter = new SFrameSendCounter();
    expect([0, 1, 2, 3].map(() => unwrap(counter.take()))).toEqual([0n, 1n, 2n, 3n]);
    expect(counter.next).toBe(4n);
  });

  it('starts from a restored value', () => {
    expect(unwrap(new SFrameSendCounter(41n).take())).toBe(41n);
  });

  it('takes a requested CTR at or above next, and continues after it', () => {
    const counter = new SFrameSendCounter();
    expect(unwrap(counter.take(0x4567n))).toBe(0x4567n);
    expect(unwrap(counter.take())).toBe(0x4568n);
    expect(unwrap(counter.take(0x4569n))).toBe(0x4569n);
  });

  it('refuses a CTR already used or skipped over, changing nothing', () => {
    const counter = new SFrameSendCounter();
    unwrap(counter.take(10n));
    expect(counter.take(10n)).toEqual({
      ok: false,
      error: { kind: 'counter-reused', ctr: 10n, next: 11n },
    });
    expect(counter.take(3n).ok).toBe(false);
    expect(unwrap(counter.take())).toBe(11n);
  });

  it('refuses CTRs outside 0..2^64-1', () => {
    const counter = new SFrameSendCounter();
    for (const value of [-1n, MAX_SFRAME_VALUE + 1n]) {
      expect(counter.take(value)).toEqual({
        ok: false,
        error: { kind: 'value-out-of-range', field: 'ctr', value },
      });
    }
    expect(counter.next).toBe(0n);
  });

  it('uses 2^64-1 once, then is exhausted', () => {
    const counter = new SFrameSendCounter(MAX_SFRAME_VALUE);
    expect(unwrap(counter.take())).toBe(MAX_SFRAME_VALUE);
    expect(counter.take()).toEqual({ ok: false, error: { kind: 'counter-exhausted' } });
    expect(counter.take(MAX_SFRAME_VALUE)).toEqual({
      ok: false,
      error: { kind: 'counter-exhausted' },
    });
  });

  it('never hands out the same CTR twice, whatever is asked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.bigInt({ min: 0n, max: 200n }), { nil: undefined }), {
          maxLength: 60,
        }),
        (requests) => {
          const counter = new SFrameSendCounter();
          const used: bigint[] = [];
          for (const request of requests) {
            const taken = counter.take(request);
            if (taken.ok) {
              if (request !== undefined) expect(taken.value).toBe(request);
              used.push(taken.value);
            }
          }
          expect(new Set(used).size).toBe(used.length);
          expect([...used].sort((a, b) => (a < b ? -1 : 1))).toEqual(used);
        },
      ),
    );
  });
});

describe('SFrameReplayWindow (RFC 9605 section 9.3, RFC 3711 section 3.3.2)', () => {
  it('accepts each CTR once, in any order within the window', () => {
    const window = new SFrameReplayWindow(8);
    for (const ctr of [5n, 3n, 7n, 4n, 0n]) expect(window.accept(ctr).ok).toBe(true);
    expect(window.accept(3n)).toEqual({ ok: false, error: { kind: 'replayed', ctr: 3n } });
    expect(window.check(6n).ok).toBe(true);
  });

  it('refuses CTRs that fell out of the window', () => {
    const window = new SFrameReplayWindow(8);
    unwrap(window.accept(20n));
    expect(window.check(13n).ok).toBe(true);
    expect(window.check(12n)).toEqual({
      ok: false,
      error: { kind: 'too-old', ctr: 12n, highest: 20n },
    });
  });

  it('check changes nothing', () => {
    const window = new SFrameReplayWindow(4);
    unwrap(window.check(9n));
    unwrap(window.check(9n));
    unwrap(window.accept(9n));
    expect(window.check(9n).ok).toBe(false);
  });

  it('rejects a window size that is not a positive integer', () => {
    expect(() => new SFrameReplayWindow(0)).toThrow(RangeError);
    expect(() => new SFrameReplayWindow(2.5)).toThrow(RangeError);
  });

  it('agrees with a model that remembers every accepted CTR', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }),
        fc.array(fc.bigInt({ min: 0n, max: 300n }), { maxLength: 200 }),
        (size, ctrs) => {
          const window = new SFrameReplayWindow(size);
          const accepted = new Set<bigint>();
          let highest: bigint | undefined;
          for (const ctr of ctrs) {
            const inWindow = highest === undefined || ctr + BigInt(size) > highest;
            const expectedOk = inWindow && !accepted.has(ctr);
            const result = window.accept(ctr);
            expect(result.ok, `ctr ${ctr}`).toBe(expectedOk);
            if (expectedOk) {
              accepted.add(ctr);
              if (highest === undefined || ctr > highest) highest = ctr;
            } else if (!result.ok) {
              expect(result.error.kind).toBe(inWindow ? 'replayed' : 'too-old');
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
