import type { WebTransportEndpoint } from '../core/placement/index.ts';
import type { Result } from '../core/result.ts';

/** A tenant's settings, as GC reads them on every meeting request (cached 5 minutes). */
export interface TenantConfig {
  readonly orgId: string;
  readonly displayName: string;
  /** Upper bound on any meeting's participants in this tenant. */
  readonly maxParticipants: number;
}

export type MeetingStatus = 'active' | 'ended';

/** Meeting metadata; live meeting state belongs to the Meeting Controller. */
export interface MeetingRecord {
  readonly meetingId: string;
  readonly orgId: string;
  readonly title: string;
  /** Subject of the token that created the meeting. */
  readonly createdBy: string;
  readonly maxParticipants: number;
  readonly status: MeetingStatus;
  /** Milliseconds since the Unix epoch. */
  readonly createdAtMs: number;
  readonly endedAtMs: number | undefined;
}

/**
 * The `Idempotency-Key` a create was sent with, and a digest of its request. A key is unique
 * per organisation and creator, and is kept with the meeting.
 */
export interface IdempotencyTag {
  readonly key: string;
  readonly fingerprint: string;
}

export type MeetingStoreError =
  | { readonly kind: 'duplicate'; readonly meetingId: string }
  | { readonly kind: 'unknown_org'; readonly orgId: string }
  /** The creator already created `existing` with this key, from a request of `fingerprint`. */
  | {
      readonly kind: 'idempotency_key_used';
      readonly existing: MeetingRecord;
      readonly fingerprint: string;
    };

export interface MeetingStore {
  /** Creates a meeting; with a tag, once per (org, creator, key). */
  create(
    meeting: MeetingRecord,
    idempotency?: IdempotencyTag,
  ): Promise<Result<void, MeetingStoreError>>;
  get(meetingId: string): Promise<MeetingRecord | undefined>;
  /** What {@link get} would answer, if this replica holds it in memory (no I/O); else undefined. */
  peek?(meetingId: string): MeetingRecord | undefined;
  /** Marks a meeting ended; returns the record after the change, or undefined if unknown. */
  end(meetingId: string, endedAtMs: number): Promise<MeetingRecord | undefined>;
}

/**
 * Active meetings whose placement on a Meeting Controller is still to be done (it failed
 * when they were created: Redis unreachable, or no controller available), kept in the store
 * of record so they survive a Redis that comes back empty.
 */
export interface PlacementBacklog {
  addPendingPlacement(meetingId: string): Promise<void>;
  /** Up to `limit` pending meetings, oldest first. */
  pendingPlacements(limit: number): Promise<string[]>;
  removePendingPlacement(meetingId: string): Promise<void>;
}

export interface TenantStore {
  getTenant(orgId: string): Promise<TenantConfig | undefined>;
}

/** A time-bounded cache of tenant configuration (Redis, 5-minute TTL). */
export interface TenantConfigCache {
  get(orgId: string): Promise<TenantConfig | undefined>;
  /** What {@link get} would answer, if this replica holds it in memory (no I/O); else undefined. */
  peek?(orgId: string): TenantConfig | undefined;
  put(config: TenantConfig): Promise<void>;
}

/** A Meeting Controller as GC last heard of it. */
/** A controller's availability record (core/gc's ControllerRecord). */
export interface McRecord {
  readonly id: string;
  readonly region: string;
  /** Where clients reach the controller. */
  readonly endpoint: string;
  /** Its WebTransport signaling endpoints, best first (absent: none registered). */
  readonly webTransport?: readonly WebTransportEndpoint[];
  readonly healthy: boolean;
  readonly meetingCount: number;
  /** Milliseconds since the Unix epoch. */
  readonly lastHeartbeatMs: number;
}

/** A controller registration, bound to the service (token `sub`) that made it. */
export interface McRegistration {
  readonly id: string;
  readonly region: string;
  readonly endpoint: string;
  /** Its WebTransport signaling endpoints, best first (absent or empty: none). */
  readonly webTransport?: readonly WebTransportEndpoint[];
  /** The registering service: only it may register this id again or heartbeat for it. */
  readonly owner: string;
}

/** Why a registration or heartbeat was refused: the id is another service's. */
export type McOwnershipError = { readonly kind: 'owned_by_other' };

/** What became of a heartbeat. */
export type HeartbeatOutcome =
  | 'recorded'
  /** The controller is unknown (or was registered before owners were kept): register again. */
  | 'unknown'
  | 'owned_by_other';

/** Meeting Controller availability shared by every GC replica (Redis). */
export interface McAvailability {
  /**
   * Records a registration (idempotent: keeps the meeting count of an earlier one). Refused
   * when the id is registered by another service, until that registration is forgotten.
   */
  register(mc: McRegistration, now: number): Promise<Result<void, McOwnershipError>>;
  /** Records a heartbeat of the controller's owner; anything else changes nothing. */
  heartbeat(
    id: string,
    owner: string,
    meetingCount: number,
    healthy: boolean,
    now: number,
  ): Promise<HeartbeatOutcome>;
  /** Counts a meeting GC placed on the controller, until its next heartbeat. */
  countAssignment(id: string): Promise<void>;
  list(): Promise<McRecord[]>;
}

/** Which controller a meeting was placed on (regional cache, shared by GC replicas). */
export interface MeetingAssignments {
  get(meetingId: string): Promise<string | undefined>;
  /** What {@link get} would answer, if this replica holds it in memory (no I/O); else undefined. */
  peek?(meetingId: string): string | undefined;
  set(meetingId: string, mcId: string): Promise<void>;
}

/**
 * Meetings ended at GC, by the controller they were placed on, until that controller says it
 * ended them (its heartbeat): GC's answer to each heartbeat names them. Kept 10 minutes at most
 * (a controller's stored meeting state is gone by then anyway).
 */
export interface EndedMeetings {
  add(controller: string, meetingId: string, endedAtMs: number): Promise<void>;
  /** Up to `limit` meetings ended for `controller` and not yet acknowledged, oldest first. */
  list(controller: string, limit: number, nowMs: number): Promise<string[]>;
  /** The controller ended these: they are not named again. */
  remove(controller: string, meetingIds: readonly string[]): Promise<void>;
}

/** How long a meeting ended at GC is named to its controller at most (ms). */
export const ENDED_MEETING_NOTICE_MS = 10 * 60_000;

/** Meeting metadata cached regionally (Redis), shared by every GC replica. */
export interface MeetingCache {
  get(meetingId: string): Promise<MeetingRecord | undefined>;
  put(meeting: MeetingRecord): Promise<void>;
}
