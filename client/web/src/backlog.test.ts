import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameBacklog, WriteGate } from './backlog.ts';

describe('FrameBacklog', () => {
  it('decodes every frame, in order, while the page keeps up', () => {
    const backlog = new FrameBacklog(30, 2);
    for (let i = 0; i < 100; i++) {
      const arrival = backlog.arrive(i % 10 === 0) as number;
      expect(backlog.take(arrival)).toBe(true);
    }
    expect(backlog.dropped).toBe(0);
  });

  it('drops delta frames past its bound, never a keyframe', () => {
    const backlog = new FrameBacklog(3);
    expect([0, 1, 2].map(() => backlog.arrive(false))).toEqual([0, 1, 2]);
    expect(backlog.arrive(false)).toBeUndefined();
    // Frames the decoder still holds count too.
    const fresh = new FrameBacklog(3);
    expect(fresh.arrive(false, 3)).toBeUndefined();
    expect(backlog.arrive(true)).toBe(3);
    expect(backlog.dropped).toBe(1);
    // Once frames are through, new ones are taken again.
    expect(backlog.take(0)).toBe(true);
    expect(backlog.take(1)).toBe(true);
    expect(backlog.arrive(false)).toBe(4);
  });

  it('behind, jumps to a keyframe: the frames queued before it are skipped, the ones after it decoded', () => {
    const backlog = new FrameBacklog(30, 2);
    const before = [backlog.arrive(false), backlog.arrive(false)] as number[];
    const keyframe = backlog.arrive(true) as number;
    const after = backlog.arrive(false) as number;
    expect(before.map((a) => backlog.take(a))).toEqual([false, false]);
    expect(backlog.take(keyframe)).toBe(true);
    expect(backlog.take(after)).toBe(true);
    expect(backlog.dropped).toBe(2);
  });

  it('never holds more than its bound of delta frames, whatever arrives and whenever frames are taken', () => {
    fc.assert(
      fc.property(
        fc.array(
          // Frames arrive faster than they are taken: a page falling behind.
          fc.oneof(
            { arbitrary: fc.constant('take' as const), weight: 1 },
            { arbitrary: fc.boolean(), weight: 3 },
          ),
          { maxLength: 300 },
        ),
        (events) => {
          const max = 5;
          const backlog = new FrameBacklog(max, 2);
          const queue: { arrival: number; keyframe: boolean }[] = [];
          let decoded = -1;
          for (const event of events) {
            if (event === 'take') {
              const next = queue.shift();
              if (next !== undefined && backlog.take(next.arrival)) {
                // Decoded frames keep their order.
                expect(next.arrival).toBeGreaterThan(decoded);
                decoded = next.arrival;
              }
              continue;
            }
            const arrival = backlog.arrive(event);
            if (arrival !== undefined) queue.push({ arrival, keyframe: event });
            expect(queue.filter((f) => !f.keyframe).length).toBeLessThanOrEqual(max);
          }
        },
      ),
    );
  });
});

describe('WriteGate', () => {
  it('drops a write while its bound of writes is not taken, and writes again once they are', async () => {
    const gate = new WriteGate(2);
    const pending: (() => void)[] = [];
    const write = () => new Promise<void>((resolve) => pending.push(resolve));
    expect([gate.write(write), gate.write(write), gate.write(write)]).toEqual([true, true, false]);
    expect(gate.dropped).toBe(1);
    pending.shift()?.();
    await Promise.resolve();
    await Promise.resolve();
    expect(gate.write(write)).toBe(true);
    // A write that fails is no longer waiting either.
    const failing = new WriteGate(1);
    expect(failing.write(() => Promise.reject(new Error('closed')))).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(failing.write(() => Promise.resolve())).toBe(true);
  });
});
