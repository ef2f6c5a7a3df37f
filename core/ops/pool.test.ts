import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { resizePool } from './pool.ts';

describe('connection-pool sizing', () => {
  it('grows at 80 % utilisation towards 55 %', () => {
    expect(resizePool(10, 8)).toEqual({ kind: 'grow', size: 15 });
    expect(resizePool(10, 7)).toEqual({ kind: 'keep', size: 10 });
  });

  it('shrinks at 30 % utilisation but not below 10', () => {
    expect(resizePool(40, 12)).toEqual({ kind: 'shrink', size: 22 });
    expect(resizePool(12, 1)).toEqual({ kind: 'shrink', size: 10 });
    expect(resizePool(10, 0)).toEqual({ kind: 'keep', size: 10 });
  });

  it('stops at 50', () => {
    expect(resizePool(45, 45)).toEqual({ kind: 'grow', size: 50 });
    expect(resizePool(50, 50)).toEqual({ kind: 'keep', size: 50 });
  });

  it('keeps every size within 10..50 and moves in the direction of the load', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 80 }),
        fc.integer({ min: -5, max: 100 }),
        (size, inUse) => {
          const decision = resizePool(size, inUse);
          expect(decision.size).toBeGreaterThanOrEqual(10);
          expect(decision.size).toBeLessThanOrEqual(50);
          if (decision.kind === 'grow') expect(decision.size).toBeGreaterThan(size);
          if (decision.kind === 'shrink') expect(decision.size).toBeLessThan(size);
          if (decision.kind === 'keep') expect(decision.size).toBe(size);
        },
      ),
    );
  });

  it('does not undo a resize at the same load', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 50 }),
        fc.integer({ min: 0, max: 50 }),
        (size, inUse) => {
          const first = resizePool(size, Math.min(inUse, size));
          if (first.kind === 'keep') return;
          const second = resizePool(first.size, Math.min(inUse, size));
          expect(second.kind === 'keep' || second.kind === first.kind).toBe(true);
        },
      ),
    );
  });
});
