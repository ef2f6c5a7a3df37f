/**
 * The Global Controller's registry of Meeting Controllers (MC) and its choice of MC for a new
 * meeting. The registry is an immutable value driven by a pure reducer:
 * `handleRegistryEvent(registry, event, nowMs) -> { registry, effects }`, with
 * `registryDeadline(registry)` telling the caller when to send a `tick`. All times are
 * milliseconds on the caller's clock.
 */
import type { ControllerId, MeetingId, RegionId } from '../ids.ts';
import { err, ok, type Result } from '../result.ts';
import { buildRing, firstAccepted, type HashRing } from './ring.ts';

/** A controller at this many meetings takes no new ones (spec 003: scale out above 800). */
export const MAX_MEETINGS_PER_CONTROLLER = 800;
/** A controller silent this long is unhealthy (spec 000, round 3: 5 s health-check SLA). */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 5_000;

/**
 * A WebTransport signaling endpoint a controller announces (passed to clients as is): its
 * `https` URL, what carries it (`h3`: HTTP/3, `h2`: HTTP/2) and the SHA-256 of the certificate
 * it presents (hex; empty when the certificate chains to a trusted CA).
 */
export interface WebTransportEndpoint {
  readonly url: string;
  readonly carrier: 'h3' | 'h2';
  readonly certSha256: string;
}

export interface ControllerRegistration {
  readonly id: ControllerId;
  readonly region: RegionId;
  /** Where clients reach the controller. */
  readonly endpoint: string;
  /** Its WebTransport signaling endpoints, best first (absent: none). */
  readonly webTransport?: readonly WebTransportEndpoint[];
  /** False after a missed heartbeat deadline or when the controller reports itself unhealthy. */
  readonly healthy: boolean;
  /** Last reported meeting count plus meetings assigned since. */
  readonly meetingCount: number;
  readonly lastHeartbeatMs: number;
}

export interface ControllerRegistry {
  readonly heartbeatTimeoutMs: number;
  readonly controllers: ReadonlyMap<ControllerId, ControllerRegistration>;
  /** Ring over every registered controller, healthy or not, so recoveries restore placement. */
  readonly ring: HashRing<ControllerId>;
}

export type RegistryEvent =
  /** A controller registers, or registers again (idempotent; keeps its meeting count). */
  | {
      readonly type: 'register';
      readonly id: ControllerId;
      readonly region: RegionId;
      readonly endpoint: string;
      readonly webTransport?: readonly WebTransportEndpoint[];
    }
  /** A controller reports its load and its own view of its health. */
  | {
      readonly type: 'heartbeat';
      readonly id: ControllerId;
      readonly meetingCount: number;
      readonly healthy: boolean;
    }
  /** GC placed a meeting on this controller; counts until the next heartbeat. */
  | { readonly type: 'meeting-assigned'; readonly id: ControllerId }
  | { readonly type: 'deregister'; readonly id: ControllerId }
  /** The deadline from `registryDeadline` has passed. */
  | { readonly type: 'tick' };

export type RegistryEffect =
  | {
      readonly type: 'controller-unhealthy';
      readonly id: ControllerId;
      readonly reason: 'heartbeat-timeout' | 'reported';
    }
  | { readonly type: 'controller-healthy'; readonly id: ControllerId }
  /** A heartbeat or assignment named a controller GC does not know: it must register again. */
  | { readonly type: 'registration-required'; readonly id: ControllerId };

export interface RegistryUpdate {
  readonly registry: ControllerRegistry;
  readonly effects: readonly RegistryEffect[];
}

export type PlacementError = {
  readonly kind: 'no-eligible-controller';
  readonly region: RegionId;
  readonly registered: number;
  readonly healthy: number;
};

/** An empty registry. */
export function createRegistry(
  heartbeatTimeoutMs = DEFAULT_HEARTBEAT_TIMEOUT_MS,
): ControllerRegistry {
  return { heartbeatTimeoutMs, controllers: new Map(), ring: buildRing([]) };
}

/** Applies one event at `nowMs`, then marks controllers whose heartbeat deadline has passed. */
export function handleRegistryEvent(
  registry: ControllerRegistry,
  event: RegistryEvent,
  nowMs: number,
): RegistryUpdate {
  const applied = applyEvent(registry, event, nowMs);
  const expired = expireHeartbeats(applied.registry, nowMs);
  return { registry: expired.registry, effects: [...applied.effects, ...expired.effects] };
}

/** When the next healthy controller's heartbeat deadline falls, or undefined if none is due. */
export function registryDeadline(registry: ControllerRegistry): number | undefined {
  let earliest: number | undefined;
  for (const controller of registry.controllers.values()) {
    if (!controller.healthy) continue;
    const deadline = controller.lastHeartbeatMs + registry.heartbeatTimeoutMs;
    if (earliest === undefined || deadline < earliest) earliest = deadline;
  }
  return earliest;
}

/** Healthy and below the meeting limit. */
export function isEligible(controller: ControllerRegistration): boolean {
  return controller.healthy && controller.meetingCount < MAX_MEETINGS_PER_CONTROLLER;
}

/**
 * Chooses the controller for a new meeting: an eligible controller in the caller's region if
 * there is one, else an eligible controller elsewhere. Within each group the ring decides, so
 * a meeting maps to the same controller while membership and eligibility are unchanged.
 */
export function chooseController(
  registry: ControllerRegistry,
  meeting: MeetingId,
  callerRegion: RegionId,
): Result<ControllerRegistration, PlacementError> {
  const eligibleIn = (sameRegion: boolean) => (id: ControllerId) => {
    const controller = registry.controllers.get(id);
    return (
      controller !== undefined &&
      isEligible(controller) &&
      (controller.region === callerRegion) === sameRegion
    );
  };
  const chosen =
    firstAccepted(registry.ring, meeting, eligibleIn(true)) ??
    firstAccepted(registry.ring, meeting, eligibleIn(false));
  const controller = chosen === undefined ? undefined : registry.controllers.get(chosen);
  if (controller !== undefined) return ok(controller);
  return err({
    kind: 'no-eligible-controller',
    region: callerRegion,
    registered: registry.controllers.size,
    healthy: [...registry.controllers.values()].filter((c) => c.healthy).length,
  });
}

function applyEvent(
  registry: ControllerRegistry,
  event: RegistryEvent,
  nowMs: number,
): RegistryUpdate {
  switch (event.type) {
    case 'register':
      return register(registry, event, nowMs);
    case 'heartbeat':
      return heartbeat(registry, event, nowMs);
    case 'meeting-assigned':
      return assignMeeting(registry, event.id);
    case 'deregister':
      return deregister(registry, event.id);
    case 'tick':
      return { registry, effects: [] };
  }
}

function register(
  registry: ControllerRegistry,
  event: Extract<RegistryEvent, { type: 'register' }>,
  nowMs: number,
): RegistryUpdate {
  const previous = registry.controllers.get(event.id);
  const registration: ControllerRegistration = {
    id: event.id,
    region: event.region,
    endpoint: event.endpoint,
    ...(event.webTransport === undefined || event.webTransport.length === 0
      ? {}
      : { webTransport: event.webTransport }),
    healthy: true,
    meetingCount: previous?.meetingCount ?? 0,
    lastHeartbeatMs: nowMs,
  };
  const controllers = withController(registry.controllers, registration);
  const ring = previous === undefined ? buildRing(controllers.keys()) : registry.ring;
  const effects: RegistryEffect[] =
    previous !== undefined && !previous.healthy
      ? [{ type: 'controller-healthy', id: event.id }]
      : [];
  return { registry: { ...registry, controllers, ring }, effects };
}

function heartbeat(
  registry: ControllerRegistry,
  event: Extract<RegistryEvent, { type: 'heartbeat' }>,
  nowMs: number,
): RegistryUpdate {
  const previous = registry.controllers.get(event.id);
  if (previous === undefined) {
    return { registry, effects: [{ type: 'registration-required', id: event.id }] };
  }
  const updated: ControllerRegistration = {
    ...previous,
    healthy: event.healthy,
    meetingCount: event.meetingCount,
    lastHeartbeatMs: nowMs,
  };
  const controllers = withController(registry.controllers, updated);
  return { registry: { ...registry, controllers }, effects: healthChange(previous, updated) };
}

function healthChange(
  previous: ControllerRegistration,
  updated: ControllerRegistration,
): RegistryEffect[] {
  if (previous.healthy === updated.healthy) return [];
  return updated.healthy
    ? [{ type: 'controller-healthy', id: updated.id }]
    : [{ type: 'controller-unhealthy', id: updated.id, reason: 'reported' }];
}

function assignMeeting(registry: ControllerRegistry, id: ControllerId): RegistryUpdate {
  const previous = registry.controllers.get(id);
  if (previous === undefined) {
    return { registry, effects: [{ type: 'registration-required', id }] };
  }
  const updated = { ...previous, meetingCount: previous.meetingCount + 1 };
  return {
    registry: { ...registry, controllers: withController(registry.controllers, updated) },
    effects: [],
  };
}

function deregister(registry: ControllerRegistry, id: ControllerId): RegistryUpdate {
  if (!registry.controllers.has(id)) return { registry, effects: [] };
  const controllers = new Map(registry.controllers);
  controllers.delete(id);
  return {
    registry: { ...registry, controllers, ring: buildRing(controllers.keys()) },
    effects: [],
  };
}

function expireHeartbeats(registry: ControllerRegistry, nowMs: number): RegistryUpdate {
  const expired = [...registry.controllers.values()].filter(
    (c) => c.healthy && nowMs - c.lastHeartbeatMs >= registry.heartbeatTimeoutMs,
  );
  if (expired.length === 0) return { registry, effects: [] };
  const controllers = new Map(registry.controllers);
  for (const controller of expired)
    controllers.set(controller.id, { ...controller, healthy: false });
  return {
    registry: { ...registry, controllers },
    effects: expired.map((c) => ({
      type: 'controller-unhealthy',
      id: c.id,
      reason: 'heartbeat-timeout',
    })),
  };
}

function withController(
  controllers: ReadonlyMap<ControllerId, ControllerRegistration>,
  registration: ControllerRegistration,
): ReadonlyMap<ControllerId, ControllerRegistration> {
  return new Map(controllers).set(registration.id, registration);
}
