import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { controllerId, meetingId, regionId, type ControllerId, type RegionId } from '../ids.ts';
import { unwrap } from '../result.ts';
import {
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  MAX_MEETINGS_PER_CONTROLLER,
  chooseController,
  createRegistry,
  handleRegistryEvent,
  isEligible,
  registryDeadline,
  type ControllerRegistry,
  type RegistryEvent,
} from './registry.ts';
import { buildRing, ringOwner } from './ring.ts';

const WEST = regionId('us-west-1');
const EAST = regionId('us-east-1');
const TIMEOUT = DEFAULT_HEARTBEAT_TIMEOUT_MS;

/** Applies events in order at the given times and returns the final registry. */
function run(
  events: readonly [RegistryEvent, number][],
  start = createRegistry(),
): ControllerRegistry {
  return events.reduce(
    (registry, [event, now]) => handleRegistryEvent(registry, event, now).registry,
    start,
  );
}

const register = (id: string, region: RegionId): Extract<RegistryEvent, { type: 'register' }> => ({
  type: 'register',
  id: controllerId(id),
  region,
  endpoint: `https://${id}.example:4433`,
});

const heartbeat = (id: string, meetingCount: number, healthy = true): RegistryEvent => ({
  type: 'heartbeat',
  id: controllerId(id),
  meetingCount,
  healthy,
});

function controller(registry: ControllerRegistry, id: string) {
  return registry.controllers.get(controllerId(id));
}

describe('controller registry', () => {
  it('registers a controller as healthy with no meetings', () => {
    const registry = run([[register('mc-1', WEST), 1_000]]);
    expect(controller(registry, 'mc-1')).toEqual({
      id: 'mc-1',
      region: WEST,
      endpoint: 'https://mc-1.example:4433',
      healthy: true,
      meetingCount: 0,
      lastHeartbeatMs: 1_000,
    });
    expect(registry.ring.nodes).toEqual(['mc-1']);
    expect(registryDeadline(registry)).toBe(1_000 + TIMEOUT);
  });

  it('marks a controller unhealthy once its heartbeat deadline passes, not before', () => {
    const registered = run([[register('mc-1', WEST), 0]]);
    const early = handleRegistryEvent(registered, { type: 'tick' }, TIMEOUT - 1);
    expect(early.effects).toEqual([]);
    expect(controller(early.registry, 'mc-1')?.healthy).toBe(true);
    const late = handleRegistryEvent(registered, { type: 'tick' }, TIMEOUT);
    expect(late.effects).toEqual([
      { type: 'controller-unhealthy', id: 'mc-1', reason: 'heartbeat-timeout' },
    ]);
    expect(controller(late.registry, 'mc-1')?.healthy).toBe(false);
    expect(registryDeadline(late.registry)).toBeUndefined();
  });

  it('pushes the deadline back on every heartbeat and records the reported load', () => {
    const registry = run([
      [register('mc-1', WEST), 0],
      [heartbeat('mc-1', 17), 4_000],
    ]);
    expect(controller(registry, 'mc-1')).toMatchObject({
      meetingCount: 17,
      lastHeartbeatMs: 4_000,
    });
    expect(registryDeadline(registry)).toBe(4_000 + TIMEOUT);
  });

  it('reports health transitions from heartbeats and recovery after a timeout', () => {
    const registered = run([[register('mc-1', WEST), 0]]);
    const degraded = handleRegistryEvent(registered, heartbeat('mc-1', 3, false), 1_000);
    expect(degraded.effects).toEqual([
      { type: 'controller-unhealthy', id: 'mc-1', reason: 'reported' },
    ]);
    const recovered = handleRegistryEvent(degraded.registry, heartbeat('mc-1', 3, true), 2_000);
    expect(recovered.effects).toEqual([{ type: 'controller-healthy', id: 'mc-1' }]);
    const timedOut = handleRegistryEvent(recovered.registry, { type: 'tick' }, 2_000 + TIMEOUT);
    const back = handleRegistryEvent(timedOut.registry, heartbeat('mc-1', 3), 2_000 + TIMEOUT + 1);
    expect(back.effects).toEqual([{ type: 'controller-healthy', id: 'mc-1' }]);
  });

  it('asks an unknown controller to register again and changes nothing', () => {
    const registry = run([[register('mc-1', WEST), 0]]);
    for (const event of [
      heartbeat('mc-9', 1),
      { type: 'meeting-assigned', id: controllerId('mc-9') } as const,
    ]) {
      const update = handleRegistryEvent(registry, event, 10);
      expect(update.effects).toEqual([{ type: 'registration-required', id: 'mc-9' }]);
      expect(update.registry).toBe(registry);
    }
  });

  it('keeps the meeting count and the ring when a controller registers again', () => {
    const before = run([
      [register('mc-1', WEST), 0],
      [heartbeat('mc-1', 40), 1_000],
    ]);
    const after = handleRegistryEvent(
      before,
      { ...register('mc-1', WEST), endpoint: 'https://new' },
      2_000,
    );
    expect(controller(after.registry, 'mc-1')).toMatchObject({
      meetingCount: 40,
      endpoint: 'https://new',
    });
    expect(after.registry.ring).toBe(before.ring);
  });

  it('counts assigned meetings until the next heartbeat reports the real figure', () => {
    const assigned = run([
      [register('mc-1', WEST), 0],
      [{ type: 'meeting-assigned', id: controllerId('mc-1') }, 1],
      [{ type: 'meeting-assigned', id: controllerId('mc-1') }, 2],
    ]);
    expect(controller(assigned, 'mc-1')?.meetingCount).toBe(2);
    expect(controller(run([[heartbeat('mc-1', 1), 3]], assigned), 'mc-1')?.meetingCount).toBe(1);
  });

  it('removes a deregistered controller from the registry and the ring', () => {
    const registry = run([
      [register('mc-1', WEST), 0],
      [register('mc-2', WEST), 0],
      [{ type: 'deregister', id: controllerId('mc-1') }, 1],
    ]);
    expect([...registry.controllers.keys()]).toEqual(['mc-2']);
    expect(registry.ring.nodes).toEqual(['mc-2']);
  });
});

describe('choosing a controller for a new meeting', () => {
  const fleet = run([
    [register('west-a', WEST), 0],
    [register('west-b', WEST), 0],
    [register('east-a', EAST), 0],
    [register('east-b', EAST), 0],
  ]);
  const meetings = Array.from({ length: 200 }, (_, i) => meetingId(`meeting-${i}`));

  it("prefers the caller's region", () => {
    for (const meeting of meetings) {
      expect(unwrap(chooseController(fleet, meeting, WEST)).region).toBe(WEST);
      expect(unwrap(chooseController(fleet, meeting, EAST)).region).toBe(EAST);
    }
  });

  it('falls back to another region when none in the caller region is eligible', () => {
    const westDown = run(
      [
        [heartbeat('west-a', 0, false), 1],
        [heartbeat('west-b', MAX_MEETINGS_PER_CONTROLLER), 1],
      ],
      fleet,
    );
    for (const meeting of meetings)
      expect(unwrap(chooseController(westDown, meeting, WEST)).region).toBe(EAST);
  });

  it('uses a region with no controllers of its own by falling back', () => {
    const elsewhere = regionId('eu-west-1');
    expect(
      unwrap(chooseController(fleet, meetings[0] ?? meetingId('m'), elsewhere)).region,
    ).not.toBe(elsewhere);
  });

  it('returns a typed error when no controller is eligible', () => {
    const allDown = handleRegistryEvent(fleet, { type: 'tick' }, TIMEOUT).registry;
    expect(chooseController(allDown, meetingId('m-1'), WEST)).toEqual({
      ok: false,
      error: { kind: 'no-eligible-controller', region: WEST, registered: 4, healthy: 0 },
    });
    expect(chooseController(createRegistry(), meetingId('m-1'), WEST)).toEqual({
      ok: false,
      error: { kind: 'no-eligible-controller', region: WEST, registered: 0, healthy: 0 },
    });
  });

  it('keeps a meeting on the same controller while membership and eligibility hold', () => {
    const busier = run(
      [
        [heartbeat('west-a', 120), 1_000],
        [heartbeat('east-b', 799), 1_000],
        [{ type: 'tick' }, 2_000],
      ],
      fleet,
    );
    for (const region of [WEST, EAST]) {
      for (const meeting of meetings) {
        expect(unwrap(chooseController(busier, meeting, region)).id).toBe(
          unwrap(chooseController(fleet, meeting, region)).id,
        );
      }
    }
  });

  it('never fills a controller past the limit when every choice is recorded', () => {
    let registry = run([
      [register('west-a', WEST), 0],
      [register('west-b', WEST), 0],
      [register('east-a', EAST), 0],
    ]);
    const placed = new Map<ControllerId, number>();
    for (let i = 0; i < 3 * MAX_MEETINGS_PER_CONTROLLER; i++) {
      const chosen = unwrap(chooseController(registry, meetingId(`m-${i}`), WEST));
      placed.set(chosen.id, (placed.get(chosen.id) ?? 0) + 1);
      registry = handleRegistryEvent(
        registry,
        { type: 'meeting-assigned', id: chosen.id },
        1,
      ).registry;
    }
    expect(Object.fromEntries(placed)).toEqual({ 'west-a': 800, 'west-b': 800, 'east-a': 800 });
    expect(chooseController(registry, meetingId('one-more'), WEST)).toMatchObject({
      ok: false,
      error: { kind: 'no-eligible-controller' },
    });
  });

  it('is the ring of the eligible controllers in the chosen region, for any fleet state', () => {
    const controllerState = fc.record({
      region: fc.constantFrom(WEST, EAST),
      healthy: fc.boolean(),
      meetingCount: fc.constantFrom(
        0,
        10,
        MAX_MEETINGS_PER_CONTROLLER - 1,
        MAX_MEETINGS_PER_CONTROLLER,
      ),
    });
    fc.assert(
      fc.property(
        fc.array(controllerState, { maxLength: 12 }),
        fc.string(),
        fc.constantFrom(WEST, EAST),
        (states, meeting, callerRegion) => {
          const registry = run(
            states.flatMap((state, i): [RegistryEvent, number][] => [
              [register(`mc-${i}`, state.region), 0],
              [heartbeat(`mc-${i}`, state.meetingCount, state.healthy), 0],
            ]),
          );
          const eligible = [...registry.controllers.values()].filter(isEligible);
          const local = eligible.filter((c) => c.region === callerRegion);
          const candidates = local.length > 0 ? local : eligible;
          const expected = ringOwner(buildRing(candidates.map((c) => c.id)), meeting);
          const chosen = chooseController(registry, meetingId(meeting), callerRegion);
          if (expected === undefined) expect(chosen.ok).toBe(false);
          else expect(unwrap(chosen).id).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
