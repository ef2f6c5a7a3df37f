import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../../core/placement/index.ts';
import { controllerId } from '../../core/ids.ts';
import { CacheCoherence, LocalCache } from '../../adapters/cache/local-cache.ts';
import { LocallyCachedAssignments } from './local-stores.ts';
import { MemoryMcAvailability, MemoryMeetingAssignments } from './memory-stores.ts';
import { MeetingPlacement, registryFrom } from './placement.ts';
import type { McRecord } from '../../ports/gc.ts';

const record = fc.record({
  id: fc.stringMatching(/^mc-[a-z0-9]{1,6}$/),
  region: fc.constantFrom('us-west-1', 'eu-west-1'),
  endpoint: fc.constant('https://mc.example'),
  healthy: fc.boolean(),
  meetingCount: fc.integer({ min: 0, max: 1_000 }),
  lastHeartbeatMs: fc.integer({ min: 0, max: 100_000 }),
});

describe('registryFrom', () => {
  it('holds every controller, healthy exactly when it reported healthy and is not silent', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(record, { selector: (r: McRecord) => r.id, maxLength: 8 }),
        fc.integer({ min: 0, max: 200_000 }),
        (records, offset) => {
          const now = Math.max(0, ...records.map((r) => r.lastHeartbeatMs)) + offset;
          const registry = registryFrom(records, now);
          expect(registry.controllers.size).toBe(records.length);
          for (const r of records) {
            const controller = registry.controllers.get(controllerId(r.id));
            const silent = now >= r.lastHeartbeatMs + DEFAULT_HEARTBEAT_TIMEOUT_MS;
            expect(controller?.healthy).toBe(r.healthy && !silent);
            expect(controller?.meetingCount).toBe(r.meetingCount);
          }
        },
      ),
    );
  });
});

describe('MeetingPlacement', () => {
  it('keeps a meeting on its controller while healthy and moves it when it goes silent', async () => {
    const availability = new MemoryMcAvailability();
    const placement = new MeetingPlacement(
      availability,
      new MemoryMeetingAssignments(),
      'us-west-1',
    );
    await availability.register(
      { id: 'mc-a', region: 'us-west-1', endpoint: 'https://a', owner: 'mc-svc' },
      0,
    );
    await availability.register(
      { id: 'mc-b', region: 'us-west-1', endpoint: 'https://b', owner: 'mc-svc' },
      0,
    );
    const first = await placement.controllerFor('meeting-1', 1_000);
    if (!first.ok) throw new Error('no controller');
    expect((await availability.list()).find((r) => r.id === first.value.id)?.meetingCount).toBe(1);
    const other = first.value.id === 'mc-a' ? 'mc-b' : 'mc-a';
    await availability.heartbeat(other, 'mc-svc', 0, true, 9_000);
    await availability.heartbeat(first.value.id, 'mc-svc', 1, true, 9_000);
    const kept = await placement.controllerFor('meeting-1', 10_000);
    expect(kept.ok && kept.value.id).toBe(first.value.id);
    await availability.heartbeat(other, 'mc-svc', 0, true, 16_000);
    const moved = await placement.controllerFor('meeting-1', 16_500);
    expect(moved.ok && moved.value.id).toBe(other);
  });

  it('looks up the current controller without placing the meeting', async () => {
    const availability = new MemoryMcAvailability();
    const assignments = new MemoryMeetingAssignments();
    const placement = new MeetingPlacement(availability, assignments, 'us-west-1');
    await availability.register(
      { id: 'mc-a', region: 'us-west-1', endpoint: 'https://a', owner: 'mc-svc' },
      0,
    );
    expect(await placement.currentController('meeting-1', 1_000)).toBeUndefined();
    expect(await assignments.get('meeting-1')).toBeUndefined();
    expect((await availability.list())[0]?.meetingCount).toBe(0);
    const placed = await placement.controllerFor('meeting-1', 1_000);
    expect(placed.ok && placed.value.id).toBe('mc-a');
    expect((await placement.currentController('meeting-1', 2_000))?.id).toBe('mc-a');
    // Silent past the heartbeat timeout: no longer a current controller.
    placement.invalidate();
    const late = DEFAULT_HEARTBEAT_TIMEOUT_MS + 1_000;
    expect(await placement.currentController('meeting-1', late)).toBeUndefined();
  });

  it('answers the current controller from memory only when its view and the placement are held', async () => {
    let now = 1_000;
    const availability = new MemoryMcAvailability();
    const shared = new MemoryMeetingAssignments();
    const assignments = new LocallyCachedAssignments(
      shared,
      new LocalCache(new CacheCoherence(true), { capacity: 10, ttlMs: 60_000, now: () => now }),
      { publish: async () => undefined },
    );
    const placement = new MeetingPlacement(availability, assignments, 'us-west-1');
    await availability.register(
      { id: 'mc-a', region: 'us-west-1', endpoint: 'https://a', owner: 'mc-svc' },
      0,
    );
    expect(placement.peekCurrentController('meeting-1', now)).toBeUndefined();
    await shared.set('meeting-1', 'mc-a');
    // Neither the view nor the placement is held yet.
    expect(placement.peekCurrentController('meeting-1', now)).toBeUndefined();
    expect((await placement.currentController('meeting-1', now))?.id).toBe('mc-a');
    expect(placement.peekCurrentController('meeting-1', now)?.id).toBe('mc-a');
    // A view older than a second is not answered from.
    now += 1_000;
    expect(placement.peekCurrentController('meeting-1', now)).toBeUndefined();
    // Nor is an unhealthy controller: the caller places the meeting again.
    now = DEFAULT_HEARTBEAT_TIMEOUT_MS + 1_000;
    expect(await placement.currentController('meeting-1', now)).toBeUndefined();
    expect(placement.peekCurrentController('meeting-1', now)).toBeUndefined();
    // Without an in-memory layer there is nothing to peek at.
    const plain = new MeetingPlacement(availability, shared, 'us-west-1');
    await plain.currentController('meeting-1', 1_000);
    expect(plain.peekCurrentController('meeting-1', 1_000)).toBeUndefined();
  });

  it('reports no eligible controller when none is registered', async () => {
    const placement = new MeetingPlacement(
      new MemoryMcAvailability(),
      new MemoryMeetingAssignments(),
      'local',
    );
    const placed = await placement.controllerFor('meeting-1', 0);
    expect(placed.ok ? undefined : placed.error.kind).toBe('no-eligible-controller');
  });
});
