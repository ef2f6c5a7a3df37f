import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DatagramHeader } from '../../core/protocol/datagram.ts';
import { FrameAssembler, frameIdBefore } from './reassembly.ts';

function header(frameId: number, index: number, count: number, streamId = 7n): DatagramHeader {
  return {
    keyframe: index === 0 && frameId % 10 === 0,
    endOfFrame: index === count - 1,
    discardable: false,
    hopCount: 0,
    spatialLayer: 0,
    temporalLayer: 0,
    streamId,
    publisherId: 9n,
    sequence: 0,
    frameId,
    fragmentIndex: index,
    fragmentCount: count,
    captureTimeUs: frameId * 1000,
  };
}

/** A frame's bytes, cut into `count` slices. */
function slices(frameId: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => Uint8Array.of(frameId & 0xff, i, count));
}

describe('FrameAssembler', () => {
  it('joins the fragments of every frame in fragment order, whatever their arrival order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 1000 }),
        (counts, seed) => {
          const assembler = new FrameAssembler();
          counts.forEach((count, frameId) => {
            const parts = slices(frameId, count).map((bytes, index) => ({ bytes, index }));
            // Shuffle within the frame (datagrams of one frame may be reordered).
            parts.sort((a, b) => ((a.index * 7919 + seed) % 13) - ((b.index * 7919 + seed) % 13));
            const done = parts.map((p) => assembler.push(header(frameId, p.index, count), p.bytes));
            const complete = done.filter((d) => d !== undefined);
            expect(complete).toHaveLength(1);
            expect(complete[0]?.frameId).toBe(frameId);
            expect([...(complete[0]?.bytes ?? [])]).toEqual(
              slices(frameId, count).flatMap((s) => [...s]),
            );
          });
        },
      ),
    );
  });

  it('drops a frame that missed a fragment once a newer one completes, and late or duplicate datagrams', () => {
    const assembler = new FrameAssembler();
    expect(assembler.push(header(1, 0, 2), Uint8Array.of(1))).toBeUndefined();
    expect(assembler.push(header(2, 0, 1), Uint8Array.of(2))?.frameId).toBe(2);
    expect(assembler.drops.superseded).toBe(1);
    expect(assembler.push(header(1, 1, 2), Uint8Array.of(1))).toBeUndefined();
    expect(assembler.drops.late).toBe(1);
    expect(assembler.push(header(3, 0, 2), Uint8Array.of(3))).toBeUndefined();
    expect(assembler.push(header(3, 0, 2), Uint8Array.of(3))).toBeUndefined();
    expect(assembler.drops['duplicate-fragment']).toBe(1);
    expect(assembler.push(header(3, 1, 3), Uint8Array.of(3))).toBeUndefined();
    expect(assembler.drops['inconsistent-fragment-count']).toBe(1);
  });

  it('starts a stream afresh when its publisher numbers frames from zero again (a new session)', () => {
    const assembler = new FrameAssembler();
    for (let id = 0; id < 300; id++)
      expect(assembler.push(header(id, 0, 1), Uint8Array.of(1))).toBeDefined();
    expect(assembler.push(header(250, 0, 1), Uint8Array.of(1))).toBeUndefined();
    for (let id = 0; id < 5; id++) {
      expect(assembler.push(header(id, 0, 2), Uint8Array.of(1))).toBeUndefined();
      expect(assembler.push(header(id, 1, 2), Uint8Array.of(2))?.frameId).toBe(id);
    }
  });

  it('orders frame ids across the 32-bit wrap', () => {
    expect(frameIdBefore(0xffffffff, 0)).toBe(true);
    expect(frameIdBefore(0, 0xffffffff)).toBe(false);
    expect(frameIdBefore(5, 5)).toBe(false);
    const assembler = new FrameAssembler();
    expect(assembler.push(header(0xffffffff, 0, 1), Uint8Array.of(1))).toBeDefined();
    expect(assembler.push(header(0, 0, 1), Uint8Array.of(1))?.frameId).toBe(0);
  });

  it('bounds the frames in progress and the bytes of one frame', () => {
    const assembler = new FrameAssembler({ maxPartialFrames: 2, maxFrameBytes: 4 });
    for (let id = 0; id < 5; id++) assembler.push(header(id, 0, 2), Uint8Array.of(1));
    expect(assembler.drops.superseded).toBe(3);
    expect(assembler.push(header(9, 0, 2), new Uint8Array(5))).toBeUndefined();
    expect(assembler.drops['too-large']).toBe(1);
  });
});
