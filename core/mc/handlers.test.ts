import { describe, expect, it } from 'vitest';
import type { RoutingHandler } from '../routing/types.ts';
import { HandlerView } from './handlers.ts';
import { MBPS, OTHER_REGION, REGION, TEST_VIEW_POLICY, h, report } from './testing.ts';

const load = (handler: string, meetingBps: number) => ({
  handler: h(handler),
  meetingBps,
  totalBps: meetingBps,
  hardLimitBps: 800 * MBPS,
});

describe('HandlerView', () => {
  it('knows a handler from its first report, in the order first heard, by region', () => {
    const view = new HandlerView(TEST_VIEW_POLICY);
    view.report(report('h2', 0), 0);
    view.report(report('h9', 0, { region: OTHER_REGION }), 0);
    view.report(report('h1', 0, { site: 'dc2', capacityBps: 50 * MBPS, utilisation: 0.5 }), 0);
    expect(view.known()).toEqual([
      { id: h('h2'), region: REGION, healthy: true },
      { id: h('h9'), region: OTHER_REGION, healthy: true },
      { id: h('h1'), region: REGION, healthy: true },
    ]);
    const out: RoutingHandler[] = [];
    view.routingHandlers(REGION, new Map(), out);
    expect(out).toEqual([
      {
        id: h('h2'),
        region: REGION,
        site: 'dc1',
        capacityBps: 1_000 * MBPS,
        loadBps: 0,
        healthy: true,
        quality: 1,
        capabilities: [],
      },
      {
        id: h('h1'),
        region: REGION,
        site: 'dc2',
        capacityBps: 50 * MBPS,
        loadBps: 25 * MBPS,
        healthy: true,
        quality: 1,
        capabilities: [],
      },
    ]);
    expect(view.isHealthy(h('nope'))).toBe(false);
    expect(view.estimatedBps(h('nope'))).toBe(0);
  });

  it('estimates load as the last report plus this controller’s own planned change since', () => {
    const view = new HandlerView(TEST_VIEW_POLICY);
    view.report(report('h1', 0, { capacityBps: 100 * MBPS, utilisation: 0.1 }), 0);
    expect(view.estimatedBps(h('h1'))).toBe(10 * MBPS);
    view.plannedChanged([], [load('h1', 4 * MBPS)]);
    expect(view.estimatedBps(h('h1'))).toBe(14 * MBPS);
    view.plannedChanged([load('h1', 4 * MBPS)], [load('h1', 6 * MBPS)]);
    expect(view.estimatedBps(h('h1'))).toBe(16 * MBPS);
    // The next report includes what was planned before it: only later changes are added.
    view.report(report('h1', 1_000, { capacityBps: 100 * MBPS, utilisation: 0.2 }), 1_000);
    expect(view.estimatedBps(h('h1'))).toBe(20 * MBPS);
    view.plannedChanged([load('h1', 6 * MBPS)], []);
    expect(view.estimatedBps(h('h1'))).toBe(14 * MBPS);
    view.plannedChanged([load('h1', 30 * MBPS)], []);
    expect(view.estimatedBps(h('h1'))).toBe(0);
  });

  it('gives the planner each handler’s load less the planned meeting’s own', () => {
    const view = new HandlerView(TEST_VIEW_POLICY);
    view.report(report('h1', 0, { capacityBps: 100 * MBPS, utilisation: 0.3 }), 0);
    view.plannedChanged([], [load('h1', 5 * MBPS)]);
    const out: RoutingHandler[] = [];
    view.routingHandlers(REGION, new Map([[h('h1'), 5 * MBPS]]), out);
    expect(out[0]?.loadBps).toBe(30 * MBPS);
    const others: RoutingHandler[] = [];
    view.routingHandlers(REGION, new Map([[h('h1'), 500 * MBPS]]), others);
    expect(others[0]?.loadBps).toBe(0);
  });

  it('loses a handler silent for detectionMs; a newer report brings it back, an older or equal one does not', () => {
    const view = new HandlerView(TEST_VIEW_POLICY);
    view.report(report('h1', 0), 0);
    view.report(report('h2', 500), 500);
    expect(view.nextExpiry()).toBe(TEST_VIEW_POLICY.detectionMs);
    expect(view.expire(TEST_VIEW_POLICY.detectionMs - 1)).toEqual([]);
    expect(view.expire(TEST_VIEW_POLICY.detectionMs)).toEqual([h('h1')]);
    expect(view.isHealthy(h('h1'))).toBe(false);
    expect(view.healthVersion).toBe(1);
    expect(view.nextExpiry()).toBe(500 + TEST_VIEW_POLICY.detectionMs);

    // The store still holds h1's last report: reading it again does not revive it.
    expect(view.report(report('h1', 0), 3_000)).toBe(false);
    expect(view.isHealthy(h('h1'))).toBe(false);
    expect(view.report(report('h1', 3_000), 3_000)).toBe(true);
    expect(view.isHealthy(h('h1'))).toBe(true);
    expect(view.healthVersion).toBe(2);
    expect(view.report(report('h1', 3_500), 3_500)).toBe(false);
    expect(view.healthVersion).toBe(2);
  });

  it('takes a report made "in the future" as made now', () => {
    const view = new HandlerView(TEST_VIEW_POLICY);
    view.report(report('h1', 10_000), 1_000);
    expect(view.nextExpiry()).toBe(1_000 + TEST_VIEW_POLICY.detectionMs);
  });

  it('loses a handler once on a closed connection', () => {
    const view = new HandlerView(TEST_VIEW_POLICY);
    view.report(report('h1', 0), 0);
    expect(view.lose(h('h1'))).toBe(true);
    expect(view.lose(h('h1'))).toBe(false);
    expect(view.lose(h('h2'))).toBe(false);
    expect(view.healthVersion).toBe(1);
    expect(view.nextExpiry()).toBeNull();
    expect(view.expire(10_000)).toEqual([]);
  });
});

describe('HandlerView reports', () => {
  it('takes a later report’s site, capacity and load, and moves the expiry on', () => {
    const view = new HandlerView(TEST_VIEW_POLICY);
    view.report(report('h1', 0, { capacityBps: 100 * MBPS, utilisation: 0.5 }), 0);
    expect(view.nextExpiry()).toBe(TEST_VIEW_POLICY.detectionMs);
    view.report(
      report('h1', 1_000, { site: 'dc7', capacityBps: 200 * MBPS, utilisation: -0.2 }),
      1_000,
    );
    expect(view.nextExpiry()).toBe(1_000 + TEST_VIEW_POLICY.detectionMs);
    const out: RoutingHandler[] = [];
    view.routingHandlers(REGION, new Map(), out);
    expect(out).toMatchObject([{ site: 'dc7', capacityBps: 200 * MBPS, loadBps: 0 }]);
  });

  it('leaves a lost handler out of the next expiry, and reports it unhealthy to the planner', () => {
    const view = new HandlerView(TEST_VIEW_POLICY);
    view.report(report('h1', 0), 0);
    view.report(report('h2', 1_000), 1_000);
    expect(view.nextExpiry()).toBe(TEST_VIEW_POLICY.detectionMs);
    view.lose(h('h1'));
    expect(view.nextExpiry()).toBe(1_000 + TEST_VIEW_POLICY.detectionMs);
    const out: RoutingHandler[] = [];
    view.routingHandlers(REGION, new Map(), out);
    expect(out.map((x) => [x.id, x.healthy])).toEqual([
      [h('h1'), false],
      [h('h2'), true],
    ]);
    view.routingHandlers(OTHER_REGION, new Map(), out);
    expect(out).toHaveLength(2);
  });
});

describe('HandlerView defaults', () => {
  it('ignores planned load on a handler it never heard of', () => {
    const view = new HandlerView();
    view.plannedChanged([load('hx', MBPS)], [load('hy', MBPS)]);
    expect(view.known()).toEqual([]);
    expect(view.estimatedBps(h('hy'))).toBe(0);
  });

  it('loses a handler after 2.5 s of silence by default', () => {
    const view = new HandlerView();
    view.report(report('h1', 0), 0);
    expect(view.expire(2_499)).toEqual([]);
    expect(view.expire(2_500)).toEqual([h('h1')]);
  });
});
