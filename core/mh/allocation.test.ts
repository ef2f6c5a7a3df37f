/**
 * The datagram path allocates nothing: a million forward() calls over a warmed-up table leave
 * the heap where it was, and no garbage collection runs meanwhile.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { participantId } from '../ids.ts';
import type { Forwarder } from './forwarder.ts';
import {
  ME,
  PEER,
  cascade,
  command,
  datagram,
  deliver,
  forwarder,
  open,
  publish,
} from './testing.ts';

const DATAGRAMS = 1_000_000;

function setUp(): { f: Forwarder; packets: Uint8Array[]; senders: number[] } {
  const f = forwarder();
  const packets: Uint8Array[] = [];
  const senders: number[] = [];
  const people = Array.from({ length: 20 }, (_, i) => participantId(`p${i}`));
  people.forEach((p, i) => open(f, i, p));
  f.handle({ type: 'peer-connected', handler: PEER, connection: 100 }, 0);
  const routes = people.flatMap((p) => [
    publish(p),
    cascade(p, ME, PEER),
    ...people
      .filter((q) => q !== p)
      .slice(0, 8)
      .map((q) => deliver(p, q)),
  ]);
  command(f, routes);
  people.forEach((p, i) => {
    packets.push(datagram(p, 'camera', {}, 1000));
    senders.push(i);
  });
  // A few drops on the same path: unknown stream and a wrong sender.
  packets.push(datagram(participantId('nobody')));
  senders.push(0);
  packets.push(datagram(people[1]!));
  senders.push(0);
  return { f, packets, senders };
}

/** Garbage collections that started while `run` ran. */
async function gcCountDuring(run: () => void): Promise<number> {
  const starts: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) starts.push(entry.startTime);
  });
  observer.observe({ entryTypes: ['gc'] });
  const from = performance.now();
  run();
  const to = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return starts.filter((t) => t >= from && t <= to).length;
}

/** Stryker's instrumented code allocates on every call: the guarantee is for the real code. */
const mutating = process.env['STRYKER_MUTATOR_WORKER'] !== undefined;

describe('forward allocation', () => {
  it.skipIf(mutating)(
    'forwards a million datagrams with a flat heap and no garbage collection',
    async () => {
      const { f, packets, senders } = setUp();
      const out = new Int32Array(16);
      const loop = (n: number) => {
        let total = 0;
        for (let i = 0; i < n; i++) {
          const k = i % packets.length;
          total += f.forward(senders[k]!, packets[k]!, out);
        }
        return total;
      };
      loop(DATAGRAMS); // resolve every stream's connections and let the JIT settle
      let total = 0;
      let growth = 0;
      const collections = await gcCountDuring(() => {
        const before = process.memoryUsage().heapUsed;
        total = loop(DATAGRAMS);
        growth = process.memoryUsage().heapUsed - before;
      });
      expect(total).not.toBe(0);
      expect(f.counters.datagramsIn).toBe(2 * DATAGRAMS);
      // One allocated byte per datagram would be 1 MB; a small object each would be 16+ MB and
      // set off scavenges. The test runner's own work in the same process (its messages and
      // timers) has been seen to add up to about 80 KB while the loop runs.
      expect(growth).toBeLessThan(256 * 1024);
      expect(collections).toBe(0);
    },
  );
});
