import { describe, expect, it } from 'vitest';
import { watchEventLoopLag } from './lag.ts';

describe("the load process's own event-loop delay", () => {
  it('sees the event loop held up', async () => {
    const stop = watchEventLoopLag();
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Hold the loop for 40 ms: a timer due meanwhile runs that much late.
    const until = performance.now() + 40;
    while (performance.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const lag = stop();
    expect(lag.maxMs).toBeGreaterThan(30);
    expect(lag.p50Ms).toBeLessThanOrEqual(lag.p99Ms);
    expect(lag.p99Ms).toBeLessThanOrEqual(lag.maxMs);
  });
});
