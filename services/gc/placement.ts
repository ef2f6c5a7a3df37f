import {
  chooseController,
  createRegistry,
  handleRegistryEvent,
  type ControllerRegistration,
  type ControllerRegistry,
  type PlacementError,
} from '../../core/placement/index.ts';
import { controllerId, meetingId, regionId } from '../../core/ids.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type { McAvailability, McRecord, MeetingAssignments } from './ports.ts';

/** How long a registry view read from Redis is reused before reading it again (ms). */
const VIEW_REFRESH_MS = 1_000;

/**
 * Rebuilds core's placement registry from the shared availability records at `now` (ms):
 * each controller registers and reports its last heartbeat at the time it was recorded, then
 * a tick at `now` marks the silent ones unhealthy, exactly as core's registry would have.
 */
export function registryFrom(records: readonly McRecord[], now: number): ControllerRegistry {
  let registry = createRegistry();
  for (const record of [...records].sort((a, b) => a.lastHeartbeatMs - b.lastHeartbeatMs)) {
    const id = controllerId(record.id);
    const at = record.lastHeartbeatMs;
    registry = handleRegistryEvent(
      registry,
      { type: 'register', id, region: regionId(record.region), endpoint: record.endpoint },
      at,
    ).registry;
    registry = handleRegistryEvent(
      registry,
      { type: 'heartbeat', id, meetingCount: record.meetingCount, healthy: record.healthy },
      at,
    ).registry;
  }
  return handleRegistryEvent(registry, { type: 'tick' }, now).registry;
}

/**
 * Places meetings on Meeting Controllers with core's placement (consistent hash ring, own
 * region first, healthy and below the meeting limit), over availability shared in Redis. A
 * meeting keeps its controller while that controller stays healthy.
 */
export class MeetingPlacement {
  private view: { registry: ControllerRegistry; readAt: number } | undefined;

  constructor(
    private readonly availability: McAvailability,
    private readonly assignments: MeetingAssignments,
    private readonly region: string,
  ) {}

  /** The controller serving `meeting` at `now` (ms), placing the meeting if needed. */
  async controllerFor(
    meeting: string,
    now: number,
  ): Promise<Result<ControllerRegistration, PlacementError>> {
    const current = await this.currentController(meeting, now);
    if (current !== undefined) return ok(current);
    const registry = await this.registry(now);
    const chosen = chooseController(registry, meetingId(meeting), regionId(this.region));
    if (!chosen.ok) return err(chosen.error);
    await this.availability.countAssignment(chosen.value.id);
    await this.assignments.set(meeting, chosen.value.id);
    this.view = undefined;
    return chosen;
  }

  /**
   * The healthy controller `meeting` is already assigned to at `now` (ms), if any. Reads only:
   * it places nothing, so it may run before the meeting itself is known to exist.
   */
  async currentController(
    meeting: string,
    now: number,
  ): Promise<ControllerRegistration | undefined> {
    const [registry, assigned] = await Promise.all([
      this.registry(now),
      this.assignments.get(meeting),
    ]);
    const current =
      assigned === undefined ? undefined : registry.controllers.get(controllerId(assigned));
    return current?.healthy ? current : undefined;
  }

  /**
   * What {@link currentController} would answer at `now`, when this replica can tell without
   * I/O (its view of the controllers is fresh and it holds the meeting's placement in memory)
   * and the answer is a healthy controller; otherwise undefined, and the caller asks
   * {@link currentController} (or places the meeting).
   */
  peekCurrentController(meeting: string, now: number): ControllerRegistration | undefined {
    const registry = this.freshView(now);
    const assigned = registry === undefined ? undefined : this.assignments.peek?.(meeting);
    if (registry === undefined || assigned === undefined) return undefined;
    const current = registry.controllers.get(controllerId(assigned));
    return current?.healthy ? current : undefined;
  }

  /** Forgets the cached view, so the next placement reads availability afresh. */
  invalidate(): void {
    this.view = undefined;
  }

  private freshView(now: number): ControllerRegistry | undefined {
    const view = this.view;
    return view && now - view.readAt < VIEW_REFRESH_MS && now >= view.readAt
      ? view.registry
      : undefined;
  }

  private async registry(now: number): Promise<ControllerRegistry> {
    const fresh = this.freshView(now);
    if (fresh !== undefined) return fresh;
    const registry = registryFrom(await this.availability.list(), now);
    this.view = { registry, readAt: now };
    return registry;
  }
}
