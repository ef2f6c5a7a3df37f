import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort, PICKED_PORTS } from './failover-testing.ts';

const listening: Server[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(listening.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('freePort', () => {
  it("picks below the kernel's ephemeral range, where no outgoing connection takes a port", async () => {
    const range = (await import('node:fs')).readFileSync(
      '/proc/sys/net/ipv4/ip_local_port_range',
      'utf8',
    );
    const ephemeralFrom = Number(range.trim().split(/\s+/)[0]);
    expect(PICKED_PORTS.to).toBeLessThanOrEqual(ephemeralFrom);
    for (let i = 0; i < 10; i++) {
      const port = await freePort();
      expect(port).toBeGreaterThanOrEqual(PICKED_PORTS.from);
      expect(port).toBeLessThan(PICKED_PORTS.to);
    }
  });

  it('draws again past a port someone holds', async () => {
    // Hold the port of the first draw; the second draw is free.
    const held = PICKED_PORTS.from + 1234;
    const server = createServer();
    listening.push(server);
    await new Promise<void>((resolve) => server.listen(held, '127.0.0.1', resolve));
    const span = PICKED_PORTS.to - PICKED_PORTS.from;
    const draws = [1234 / span, 4321 / span];
    vi.spyOn(Math, 'random').mockImplementation(() => draws.shift() ?? 0.5);
    expect(await freePort()).toBe(PICKED_PORTS.from + 4321);
  });
});
