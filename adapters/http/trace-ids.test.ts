import { describe, expect, it } from 'vitest';
import { TraceIdSource } from './trace-ids.ts';

describe('TraceIdSource', () => {
  it('gives W3C-shaped trace and span ids', () => {
    const ids = new TraceIdSource();
    expect(ids.traceId()).toMatch(/^[0-9a-f]{32}$/);
    expect(ids.spanId()).toMatch(/^[0-9a-f]{16}$/);
  });

  it('never repeats an id across many pool refills', () => {
    const ids = new TraceIdSource();
    const seen = new Set<string>();
    // 4096-byte pool: 3 trace ids + 3 span ids use 72 bytes, so this refills about 100 times.
    for (let i = 0; i < 6_000; i++) {
      seen.add(ids.traceId());
      seen.add(ids.spanId());
    }
    expect(seen.size).toBe(12_000);
  });

  it('draws independent ids in separate sources', () => {
    expect(new TraceIdSource().traceId()).not.toBe(new TraceIdSource().traceId());
  });
});
