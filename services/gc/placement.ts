import type {
  ControllerRegistration,
  ControllerRegistry,
  PlacementError,
} from '../../core/placement/index.ts';
import { currentController, placeMeeting, registryFrom } from '../../core/gc/placement.ts';
import { controllerId, meetingId, regionId } from '../../core/ids.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type { McAvailability, MeetingAssignments } from '../../ports/gc.ts';

export { registryFrom };

/** How long a registry view read from Redis is reused before reading it again (ms). */
const VIEW_REFRESH_MS = 1_000;

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

  /** The controller the meeting was last placed on, healthy or not (none: never placed). */
  async assignedController(meeting: string): Promise<string | undefined> {
    return this.assignments.get(meeting);
  }

  /** The controller serving `meeting` at `now` (ms), placing the meeting if needed. */
  async controllerFor(
    meeting: string,
    now: number,
  ): Promise<Result<ControllerRegistration, PlacementError>> {
    const [registry, assigned] = await Promise.all([
      this.registry(now),
      this.assignments.get(meeting),
    ]);
    const placement = placeMeeting(
      registry,
      meetingId(meeting),
      regionId(this.region),
      assigned === undefined ? undefined : controllerId(assigned),
      now,
    );
    if (!placement.ok) return err(placement.error);
    const { controller, placed } = placement.value;
    if (!placed) return ok(controller);
    await this.availability.countAssignment(controller.id);
    await this.assignments.set(meeting, controller.id);
    this.view = undefined;
    return ok(controller);
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
    return currentController(registry, assigned === undefined ? undefined : controllerId(assigned));
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
    return currentController(registry, controllerId(assigned));
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
