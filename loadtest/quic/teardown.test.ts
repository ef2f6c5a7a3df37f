import { describe, expect, it } from 'vitest';
import {
  MAX_TEARDOWN_BYTES,
  measureTeardown,
  measureTeardownOnce,
  startHolder,
} from './teardown.ts';

describe('a killed process’s teardown', () => {
  it('is timed from the kill to its connection closing, once per round', async () => {
    const samples = await measureTeardown(16 * 2 ** 20, 2);
    expect(samples).toHaveLength(2);
    for (const ms of samples) {
      expect(Number.isFinite(ms)).toBe(true);
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThan(10_000);
    }
  });

  it('takes longer for a process that holds more memory (the kernel frees it first)', async () => {
    // The least of three each: a preempted round only ever adds time.
    const empty = Math.min(...(await measureTeardown(0, 3)));
    const holding = Math.min(...(await measureTeardown(256 * 2 ** 20, 3)));
    // About 15 ms more for 256 MiB on these machines; a few ms tells it from noise.
    expect(holding - empty).toBeGreaterThan(4);
  });

  it('holds its memory as V8 heap, as a service does (the kernel frees a heap more slowly)', async () => {
    const holder = await startHolder(128 * 2 ** 20);
    holder.child.kill('SIGKILL');
    // An empty Node process uses a few MiB of heap (buffers live outside it); half of 128 MiB
    // resident is base and heap committed but not in use.
    expect(holder.heapBytes).toBeGreaterThan(32 * 2 ** 20);
  });

  it('holds at most its bound, and nothing for a negative size', async () => {
    expect(MAX_TEARDOWN_BYTES).toBe(2 * 1024 ** 3);
    expect(await measureTeardownOnce(-5)).toBeGreaterThan(0);
  });
});
