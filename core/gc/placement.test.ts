import { describe, expect, it } from 'vitest';
import { controllerId, meetingId, regionId } from '../ids.ts';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../placement/registry.ts';
import { unwrap } from '../result.ts';
import {
  currentController,
  placeMeeting,
  registryFrom,
  type ControllerRecord,
} from './placement.ts';

const west = regionId('us-west-1');
const east = regionId('us-east-1');

function record(
  id: string,
  region: string,
  lastHeartbeatMs: number,
  overrides: Partial<ControllerRecord> = {},
): ControllerRecord {
  return {
    id,
    region,
    endpoint: `https://${id}.example`,
    meetingCount: 0,
    healthy: true,
    lastHeartbeatMs,
    ...overrides,
  };
}

const NOW = 100_000;
const fresh = [
  record('mc-a', 'us-west-1', NOW - 1_000),
  record('mc-b', 'us-west-1', NOW - 500),
  record('mc-e', 'us-east-1', NOW - 200),
];

describe('registryFrom', () => {
  it('marks controllers silent for the heartbeat timeout, or reporting themselves unhealthy, unhealthy', () => {
    const registry = registryFrom(
      [
        record('mc-a', 'us-west-1', NOW - DEFAULT_HEARTBEAT_TIMEOUT_MS - 1),
        record('mc-b', 'us-west-1', NOW - DEFAULT_HEARTBEAT_TIMEOUT_MS + 1, { meetingCount: 7 }),
        record('mc-c', 'us-west-1', NOW - 10, { healthy: false }),
      ],
      NOW,
    );
    const health = (id: string) => registry.controllers.get(controllerId(id))?.healthy;
    expect(health('mc-a')).toBe(false);
    expect(health('mc-b')).toBe(true);
    expect(health('mc-c')).toBe(false);
    expect(registry.controllers.get(controllerId('mc-b'))).toMatchObject({
      meetingCount: 7,
      region: west,
      endpoint: 'https://mc-b.example',
      lastHeartbeatMs: NOW - DEFAULT_HEARTBEAT_TIMEOUT_MS + 1,
    });
  });
});

describe('registryFrom order', () => {
  it('reads the records in any order', () => {
    const records = [
      record('mc-a', 'us-west-1', NOW - 4_000),
      record('mc-b', 'us-west-1', NOW - 9_000),
      record('mc-c', 'us-west-1', NOW - 100),
    ];
    const health = (rs: ControllerRecord[]) =>
      [...registryFrom(rs, NOW).controllers.values()]
        .map((c) => [c.id, c.healthy, c.lastHeartbeatMs] as const)
        .sort((x, y) => x[0].localeCompare(y[0]));
    expect(health([...records].reverse())).toEqual(health(records));
    expect(health(records).map((c) => c[1])).toEqual([true, false, true]);
  });
});

describe('placeMeeting', () => {
  it('keeps a meeting on its healthy controller, even outside its region', () => {
    const registry = registryFrom(fresh, NOW);
    const placed = unwrap(placeMeeting(registry, meetingId('m1'), west, controllerId('mc-e'), NOW));
    expect(placed.controller.id).toBe('mc-e');
    expect(placed.placed).toBe(false);
    expect(placed.registry).toBe(registry);
  });

  it('places a new meeting in its region and counts the assignment', () => {
    const registry = registryFrom(fresh, NOW);
    const placed = unwrap(placeMeeting(registry, meetingId('m1'), east, undefined, NOW));
    expect(placed).toMatchObject({ placed: true, controller: { id: 'mc-e' } });
    expect(placed.registry.controllers.get(controllerId('mc-e'))?.meetingCount).toBe(1);
    expect(registry.controllers.get(controllerId('mc-e'))?.meetingCount).toBe(0);
  });

  it('re-places a meeting whose controller is unhealthy, unless keepUnhealthy', () => {
    const registry = registryFrom(
      [record('mc-a', 'us-west-1', NOW - 10_000), ...fresh.slice(1)],
      NOW,
    );
    const placed = unwrap(placeMeeting(registry, meetingId('m1'), west, controllerId('mc-a'), NOW));
    expect(placed.placed).toBe(true);
    expect(placed.controller.id).toBe('mc-b');
    expect(placed.registry.controllers.get(controllerId('mc-b'))?.meetingCount).toBe(1);

    const kept = unwrap(
      placeMeeting(registry, meetingId('m1'), west, controllerId('mc-a'), NOW, {
        keepUnhealthy: true,
      }),
    );
    expect(kept).toMatchObject({ placed: false, controller: { id: 'mc-a', healthy: false } });
  });

  it('re-places a meeting assigned to a controller the registry does not know', () => {
    const registry = registryFrom(fresh, NOW);
    const placed = unwrap(
      placeMeeting(registry, meetingId('m1'), west, controllerId('mc-gone'), NOW),
    );
    expect(placed.placed).toBe(true);
    expect(['mc-a', 'mc-b']).toContain(placed.controller.id);
  });

  it('fails with no eligible controller', () => {
    const registry = registryFrom([record('mc-a', 'us-west-1', 0)], NOW);
    const result = placeMeeting(registry, meetingId('m1'), west, controllerId('mc-a'), NOW);
    expect(result).toEqual({
      ok: false,
      error: { kind: 'no-eligible-controller', region: west, registered: 1, healthy: 0 },
    });
  });
});

describe('currentController', () => {
  it('names the assigned controller only while it is healthy, or with keepUnhealthy', () => {
    const registry = registryFrom(
      [record('mc-a', 'us-west-1', 0), record('mc-b', 'us-west-1', NOW)],
      NOW,
    );
    expect(currentController(registry, undefined)).toBeUndefined();
    expect(currentController(registry, controllerId('mc-a'))).toBeUndefined();
    expect(currentController(registry, controllerId('mc-a'), { keepUnhealthy: true })?.id).toBe(
      'mc-a',
    );
    expect(currentController(registry, controllerId('mc-b'))?.id).toBe('mc-b');
    expect(
      currentController(registry, controllerId('mc-x'), { keepUnhealthy: true }),
    ).toBeUndefined();
  });
});
