// Smoke test of the QUIC load client (a few seconds, not a load run): the smoke scenario on one
// handler process of its own, every datagram accounted for, the reports written; and a run too
// large for the machine refused before anything starts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../../services/shared/testing.ts';
import { startHandlers, type HandlerSet } from './handlers.ts';
import { runLoad, type LoadResult } from './load.ts';
import { readLoadScenario, writeReports } from './run.ts';

let handlers: HandlerSet | undefined;
let result: LoadResult;
const dir = mkdtempSync(join(tmpdir(), 'load-quic-'));

beforeAll(async () => {
  const read = readLoadScenario('smoke');
  if (!read.ok) throw new Error(read.message);
  handlers = await startHandlers({
    count: read.plan.handlers,
    capacityBps: read.plan.capacityBps,
    region: read.plan.region,
    redisUrl: TEST_REDIS_URL,
  });
  result = await runLoad({ plan: read.plan, handlers });
}, 60_000);

afterAll(async () => {
  await handlers?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('QUIC load client, smoke scenario', () => {
  it('admits every member over QUIC and delivers each datagram to every other member', () => {
    expect(result.sessions).toMatchObject({ attempted: 3, accepted: 3, refused: {} });
    expect(result.meetings).toEqual({ started: 1, refused: 0 });
    const d = result.datagrams;
    // Two publishers at 20/s for up to 3 s, each datagram to the two other members.
    expect(d.sent).toBeGreaterThan(40);
    expect(d.expected).toBe(2 * d.sent - d.clientSendRefused * 2);
    expect(d.received + d.handlerDrops).toBe(d.expected);
    expect(d.unaccounted).toBe(0);
    expect(d.sequenceGaps).toBe(0);
    expect(result.endToEndLatencyUs.count).toBe(d.received);
    expect(result.endToEndLatencyUs.p50).toBeGreaterThan(0);
  });

  it("reads the handler's own counts: datagrams in and out, forwarding latency, utilisation, CPU", () => {
    const [h] = result.handlers;
    expect(h?.datagramsIn).toBe(result.datagrams.sent);
    expect(h?.datagramsOut).toBe(result.datagrams.received);
    expect(h?.forwardingLatencyUs.p50).toBeGreaterThan(0);
    expect(h?.forwardingLatencyUs.p99).toBeGreaterThanOrEqual(h?.forwardingLatencyUs.p50 ?? 0);
    expect(h?.utilisation.maxPercent).toBeGreaterThan(0);
    expect(h?.utilisation.maxPercent).toBeLessThan(70);
    expect(h?.bandCrossings).toEqual([]);
    expect(h?.finalQuality).toBe('optimal');
    expect(h?.hellos).toEqual({ accepted: 3 });
    expect(h?.cpuSeconds).toBeGreaterThan(0);
  });

  it('writes the JSON and HTML reports', () => {
    writeReports(result, join(dir, 'r.json'), join(dir, 'r.html'));
    expect(JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'))).toMatchObject({
      scenario: 'smoke',
    });
    const html = readFileSync(join(dir, 'r.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('load-mh-1');
  });

  it('refuses a run too large for the machine with exit status 2, starting nothing', () => {
    const big = join(dir, 'big.yaml');
    writeFileSync(
      big,
      readFileSync(new URL('./scenarios/smoke.yaml', import.meta.url), 'utf8').replace(
        'concurrentMeetings: 1',
        'concurrentMeetings: 500',
      ),
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'loadtest/quic/run.ts', big], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('too large for this machine');
    expect(run.stderr).toContain('participants 1500 is above the bound');
  });
});
