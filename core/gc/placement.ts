/**
 * The Global Controller's choice of Meeting Controller for a meeting (spec 003 "Global
 * Controller", "Failure Scenarios" 2): a meeting stays on the controller it is assigned to
 * while that controller is healthy; otherwise it is placed afresh with core's placement
 * (consistent hash ring, own region first, healthy and below the meeting limit). The GC service
 * and the simulator both ask this.
 */
import type { ControllerId, MeetingId, RegionId } from '../ids.ts';
import { controllerId, regionId } from '../ids.ts';
import {
  chooseController,
  createRegistry,
  handleRegistryEvent,
  type ControllerRegistration,
  type ControllerRegistry,
  type PlacementError,
  type WebTransportEndpoint,
} from '../placement/registry.ts';
import { err, ok, type Result } from '../result.ts';

/** Where a meeting goes: kept on its controller, or placed (the caller records the assignment). */
export interface MeetingPlacement {
  readonly controller: ControllerRegistration;
  /** True when the meeting was placed now: the caller stores the assignment. */
  readonly placed: boolean;
  /** The registry with the placement counted (unchanged when kept). */
  readonly registry: ControllerRegistry;
}

export interface PlacementOptions {
  /**
   * A deliberate breakage for tests: keep a meeting on its controller even when that
   * controller is unhealthy (no failover). Never set outside tests.
   */
  readonly keepUnhealthy?: boolean;
}

/** The healthy controller `assigned` names in `registry`, if it is one. */
export function currentController(
  registry: ControllerRegistry,
  assigned: ControllerId | undefined,
  options: PlacementOptions = {},
): ControllerRegistration | undefined {
  if (assigned === undefined) return undefined;
  const current = registry.controllers.get(assigned);
  return current !== undefined && (current.healthy || options.keepUnhealthy === true)
    ? current
    : undefined;
}

/**
 * The controller for `meeting` (of `region`), already `assigned` to one or not, at `now` (ms).
 */
export function placeMeeting(
  registry: ControllerRegistry,
  meeting: MeetingId,
  region: RegionId,
  assigned: ControllerId | undefined,
  now: number,
  options: PlacementOptions = {},
): Result<MeetingPlacement, PlacementError> {
  const current = currentController(registry, assigned, options);
  if (current !== undefined) return ok({ controller: current, placed: false, registry });
  const chosen = chooseController(registry, meeting, region);
  if (!chosen.ok) return err(chosen.error);
  const counted = handleRegistryEvent(
    registry,
    { type: 'meeting-assigned', id: chosen.value.id },
    now,
  ).registry;
  return ok({ controller: chosen.value, placed: true, registry: counted });
}

/** A controller's availability as the GC stores it (Redis) between its heartbeats. */
export interface ControllerRecord {
  readonly id: string;
  readonly region: string;
  readonly endpoint: string;
  /** WebTransport signaling endpoints the controller registered, best first. */
  readonly webTransport?: readonly WebTransportEndpoint[];
  readonly meetingCount: number;
  readonly healthy: boolean;
  readonly lastHeartbeatMs: number;
}

/**
 * Rebuilds the placement registry from stored availability records at `now` (ms): each
 * controller registers and reports its last heartbeat at the time it was recorded, then a tick
 * at `now` marks the silent ones unhealthy, exactly as a registry fed live would have.
 */
export function registryFrom(
  records: readonly ControllerRecord[],
  now: number,
): ControllerRegistry {
  let registry = createRegistry();
  for (const record of [...records].sort((a, b) => a.lastHeartbeatMs - b.lastHeartbeatMs)) {
    const id = controllerId(record.id);
    const at = record.lastHeartbeatMs;
    registry = handleRegistryEvent(
      registry,
      {
        type: 'register',
        id,
        region: regionId(record.region),
        endpoint: record.endpoint,
        ...(record.webTransport === undefined ? {} : { webTransport: record.webTransport }),
      },
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
