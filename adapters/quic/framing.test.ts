import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ControlDecoder, frameControlMessage, MAX_CONTROL_MESSAGE_BYTES } from './framing.ts';

describe('control-stream framing', () => {
  it('decodes framed messages whole and in order, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3_000 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 4_000 }), { minLength: 1, maxLength: 50 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages.map(frameControlMessage));
          const decoder = new ControlDecoder();
          const out: Uint8Array[] = [];
          let offset = 0;
          for (let i = 0; offset < stream.length; i++) {
            const size = cuts[i % cuts.length]!;
            const chunk = Buffer.from(stream.subarray(offset, offset + size));
            offset += size;
            const decoded = decoder.push(chunk);
            if (!Array.isArray(decoded)) throw new Error('unexpected error');
            out.push(...decoded);
            chunk.fill(0xee); // the decoder must have copied what it keeps
          }
          expect(out.map((m) => Buffer.from(m))).toEqual(messages.map((m) => Buffer.from(m)));
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
      { seed: 7, numRuns: 200 },
    );
  });

  it('accepts exactly 64 KiB and rejects one byte more from the length alone', () => {
    const decoder = new ControlDecoder();
    const max = decoder.push(frameControlMessage(new Uint8Array(MAX_CONTROL_MESSAGE_BYTES)));
    expect(Array.isArray(max) && max[0]!.length).toBe(MAX_CONTROL_MESSAGE_BYTES);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MAX_CONTROL_MESSAGE_BYTES + 1);
    expect(decoder.push(header)).toEqual({
      kind: 'control-message-too-large',
      declaredLength: MAX_CONTROL_MESSAGE_BYTES + 1,
    });
    // Failed for good: later bytes do not revive it.
    expect(Array.isArray(decoder.push(frameControlMessage(Buffer.from('x'))))).toBe(false);
  });
});
