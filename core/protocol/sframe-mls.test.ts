import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../result.ts';
import {
  SFRAME_MLS_EXPORTER_LABEL,
  SFrameMlsEpochs,
  parseSFrameMlsKid,
  sframeMlsIndexBits,
  sframeMlsKid,
} from './sframe-mls.ts';

describe('MLS KIDs (RFC 9605 section 5.2)', () => {
  it('uses the exporter label of the RFC', () => {
    expect(SFRAME_MLS_EXPORTER_LABEL).toBe('SFrame 1.0 Base Key');
  });

  // Figure 9 of RFC 9605: E = 4, S = 6 (64 members).
  it.each([
    [14n, 3, 0n, 0x3en],
    [14n, 7, 0n, 0x7en],
    [14n, 20, 0n, 0x14en],
    [15n, 3, 0n, 0x3fn],
    [15n, 5, 0n, 0x5fn],
    [16n, 2, 2n, 0x820n],
    [16n, 2, 3n, 0xc20n],
    [17n, 33, 0n, 0x211n],
    [17n, 51, 0n, 0x331n],
  ])(
    'epoch %s, index %s, context %s gives KID %s (figure 9)',
    (epoch, senderIndex, context, kid) => {
      const layout = { epochBits: 4, indexBits: 6 };
      expect(unwrap(sframeMlsKid(layout, { epoch, senderIndex, context }))).toBe(kid);
      expect(unwrap(parseSFrameMlsKid(layout, kid))).toEqual({
        context,
        senderIndex,
        epochLow: epoch % 16n,
      });
    },
  );

  it.each([
    [1, 0],
    [2, 1],
    [3, 2],
    [4, 2],
    [5, 3],
    [64, 6],
    [65, 7],
  ])('a group of %i needs %i index bits', (size, bits) => {
    expect(sframeMlsIndexBits(size)).toBe(bits);
  });

  it('round-trips every valid layout and value', () => {
    const layoutAndParts = fc
      .record({
        epochBits: fc.integer({ min: 0, max: 32 }),
        indexBits: fc.integer({ min: 0, max: 32 }),
      })
      .chain((layout) =>
        fc.record({
          layout: fc.constant(layout),
          senderIndex: fc.integer({ min: 0, max: 2 ** layout.indexBits - 1 }),
          context: fc.bigInt({
            min: 0n,
            max: (1n << BigInt(64 - layout.epochBits - layout.indexBits)) - 1n,
          }),
          epoch: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        }),
      );
    fc.assert(
      fc.property(layoutAndParts, ({ layout, senderIndex, context, epoch }) => {
        const kid = unwrap(sframeMlsKid(layout, { senderIndex, context, epoch }));
        expect(kid).toBeGreaterThanOrEqual(0n);
        expect(kid).toBeLessThan(1n << 64n);
        expect(unwrap(parseSFrameMlsKid(layout, kid))).toEqual({
          context,
          senderIndex,
          epochLow: epoch % (1n << BigInt(layout.epochBits)),
        });
      }),
    );
  });

  it('gives different members of one epoch different KIDs', () => {
    const layout = { epochBits: 8, indexBits: sframeMlsIndexBits(21) };
    const kids = Array.from({ length: 21 }, (_, senderIndex) =>
      unwrap(sframeMlsKid(layout, { senderIndex, context: 0n, epoch: 300n })),
    );
    expect(new Set(kids).size).toBe(21);
  });

  it.each([
    [
      { epochBits: 40, indexBits: 30 },
      { senderIndex: 0, context: 0n, epoch: 0n },
      'invalid-layout',
    ],
    [{ epochBits: -1, indexBits: 4 }, { senderIndex: 0, context: 0n, epoch: 0n }, 'invalid-layout'],
    [{ epochBits: 4, indexBits: 33 }, { senderIndex: 0, context: 0n, epoch: 0n }, 'invalid-layout'],
    [
      { epochBits: 4, indexBits: 6 },
      { senderIndex: 64, context: 0n, epoch: 0n },
      'sender-index-out-of-range',
    ],
    [
      { epochBits: 4, indexBits: 6 },
      { senderIndex: -1, context: 0n, epoch: 0n },
      'sender-index-out-of-range',
    ],
    [
      { epochBits: 4, indexBits: 6 },
      { senderIndex: 0, context: 1n << 54n, epoch: 0n },
      'context-out-of-range',
    ],
    [
      { epochBits: 4, indexBits: 6 },
      { senderIndex: 0, context: -1n, epoch: 0n },
      'context-out-of-range',
    ],
    [
      { epochBits: 4, indexBits: 6 },
      { senderIndex: 0, context: 0n, epoch: -1n },
      'epoch-out-of-range',
    ],
  ])('refuses %o with %o: %s', (layout, parts, kind) => {
    const result = sframeMlsKid(layout, parts);
    expect(result.ok ? undefined : result.error.kind).toBe(kind);
  });
});

describe('SFrameMlsEpochs: one epoch per value of the low E bits', () => {
  it('replaces an epoch by the next one with the same low bits', () => {
    const epochs = new SFrameMlsEpochs<string>(2);
    expect(epochs.add(1n, 'one')).toEqual({});
    expect(epochs.add(2n, 'two')).toEqual({});
    expect(epochs.add(5n, 'five')).toEqual({ replaced: 1n });
    expect(epochs.get(1n)).toEqual({ epoch: 5n, value: 'five' });
    expect(epochs.get(2n)).toEqual({ epoch: 2n, value: 'two' });
    expect(epochs.epochs()).toEqual([2n, 5n]);
  });

  it('refuses an older epoch for a slot a newer one holds', () => {
    const epochs = new SFrameMlsEpochs<string>(2);
    epochs.add(6n, 'six');
    expect(epochs.add(2n, 'two')).toEqual({ refused: 6n });
    expect(epochs.get(2n)?.value).toBe('six');
  });

  it('removes only the epoch named', () => {
    const epochs = new SFrameMlsEpochs<string>(3);
    epochs.add(9n, 'nine');
    expect(epochs.remove(1n)).toBe(false);
    expect(epochs.remove(9n)).toBe(true);
    expect(epochs.epochs()).toEqual([]);
  });

  it('holds at most 2^E epochs, always the newest of each slot', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.bigInt({ min: 0n, max: 100n }), { maxLength: 40 }),
        (bits, added) => {
          const epochs = new SFrameMlsEpochs<bigint>(bits);
          for (const epoch of added) epochs.add(epoch, epoch);
          const held = epochs.epochs();
          expect(held.length).toBeLessThanOrEqual(2 ** bits);
          for (const epoch of added) {
            const holder = epochs.get(epochs.slot(epoch));
            expect(holder).toBeDefined();
            expect(holder!.epoch >= epoch).toBe(true);
          }
        },
      ),
    );
  });
});
