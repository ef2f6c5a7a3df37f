import { err, ok, type Result } from '../../core/result.ts';
import { ENDED_MEETING_NOTICE_MS } from '../../ports/gc.ts';
import type {
  HeartbeatOutcome,
  McOwnershipError,
  McRegistration,
  IdempotencyTag,
  MeetingCache,
  McAvailability,
  McRecord,
  MeetingAssignments,
  EndedMeetings,
  MeetingRecord,
  MeetingStore,
  MeetingStoreError,
  PlacementBacklog,
  TenantConfig,
  TenantConfigCache,
  TenantStore,
} from '../../ports/gc.ts';

/** In-memory meetings and tenants (the tenant set is fixed at construction). */
export class MemoryMeetingStore implements MeetingStore, TenantStore, PlacementBacklog {
  private readonly meetings = new Map<string, MeetingRecord>();
  /** `org creator key` → the meeting created with it and its request's fingerprint. */
  private readonly idempotency = new Map<string, { meetingId: string; fingerprint: string }>();
  private readonly pending = new Set<string>();
  private readonly tenants: ReadonlyMap<string, TenantConfig>;

  constructor(tenants: readonly TenantConfig[]) {
    this.tenants = new Map(tenants.map((tenant) => [tenant.orgId, tenant]));
  }

  async create(
    meeting: MeetingRecord,
    idempotency?: IdempotencyTag,
  ): Promise<Result<void, MeetingStoreError>> {
    if (!this.tenants.has(meeting.orgId)) return err({ kind: 'unknown_org', orgId: meeting.orgId });
    const tagKey =
      idempotency && JSON.stringify([meeting.orgId, meeting.createdBy, idempotency.key]);
    const earlier = tagKey === undefined ? undefined : this.idempotency.get(tagKey);
    const existing = earlier && this.meetings.get(earlier.meetingId);
    if (earlier && existing) {
      return err({ kind: 'idempotency_key_used', existing, fingerprint: earlier.fingerprint });
    }
    if (this.meetings.has(meeting.meetingId)) {
      return err({ kind: 'duplicate', meetingId: meeting.meetingId });
    }
    this.meetings.set(meeting.meetingId, meeting);
    if (tagKey !== undefined && idempotency) {
      this.idempotency.set(tagKey, {
        meetingId: meeting.meetingId,
        fingerprint: idempotency.fingerprint,
      });
    }
    return ok(undefined);
  }

  async addPendingPlacement(meetingId: string): Promise<void> {
    if (this.meetings.has(meetingId)) this.pending.add(meetingId);
  }

  async pendingPlacements(limit: number): Promise<string[]> {
    return [...this.pending]
      .flatMap((id) => {
        const meeting = this.meetings.get(id);
        return meeting?.status === 'active' ? [meeting] : [];
      })
      .sort((a, b) => a.createdAtMs - b.createdAtMs)
      .slice(0, limit)
      .map((meeting) => meeting.meetingId);
  }

  async removePendingPlacement(meetingId: string): Promise<void> {
    this.pending.delete(meetingId);
  }

  async get(meetingId: string): Promise<MeetingRecord | undefined> {
    return this.meetings.get(meetingId);
  }

  async end(meetingId: string, endedAtMs: number): Promise<MeetingRecord | undefined> {
    const meeting = this.meetings.get(meetingId);
    if (!meeting) return undefined;
    if (meeting.status === 'ended') return meeting;
    const ended: MeetingRecord = { ...meeting, status: 'ended', endedAtMs };
    this.meetings.set(meetingId, ended);
    return ended;
  }

  async getTenant(orgId: string): Promise<TenantConfig | undefined> {
    return this.tenants.get(orgId);
  }
}

/** In-memory tenant cache with the same expiry rule as Redis (entries live `ttlMs`). */
export class MemoryTenantConfigCache implements TenantConfigCache {
  private readonly entries = new Map<string, { config: TenantConfig; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  async get(orgId: string): Promise<TenantConfig | undefined> {
    const entry = this.entries.get(orgId);
    return entry && entry.expiresAt > this.now() ? entry.config : undefined;
  }

  async put(config: TenantConfig): Promise<void> {
    this.entries.set(config.orgId, { config, expiresAt: this.now() + this.ttlMs });
  }
}

/** In-memory controller availability. */
export class MemoryMcAvailability implements McAvailability {
  private readonly controllers = new Map<string, McRecord & { readonly owner: string }>();

  async register(mc: McRegistration, now: number): Promise<Result<void, McOwnershipError>> {
    const previous = this.controllers.get(mc.id);
    if (previous && previous.owner !== mc.owner) return err({ kind: 'owned_by_other' });
    const { webTransport, ...registration } = mc;
    this.controllers.set(mc.id, {
      ...registration,
      ...(webTransport === undefined || webTransport.length === 0 ? {} : { webTransport }),
      healthy: true,
      meetingCount: previous?.meetingCount ?? 0,
      lastHeartbeatMs: now,
    });
    return ok(undefined);
  }

  async heartbeat(
    id: string,
    owner: string,
    meetingCount: number,
    healthy: boolean,
    now: number,
  ): Promise<HeartbeatOutcome> {
    const previous = this.controllers.get(id);
    if (!previous) return 'unknown';
    if (previous.owner !== owner) return 'owned_by_other';
    this.controllers.set(id, { ...previous, meetingCount, healthy, lastHeartbeatMs: now });
    return 'recorded';
  }

  async countAssignment(id: string) {
    const previous = this.controllers.get(id);
    if (previous)
      this.controllers.set(id, { ...previous, meetingCount: previous.meetingCount + 1 });
  }

  async list(): Promise<McRecord[]> {
    return [...this.controllers.values()]
      .map(({ owner: _owner, ...record }) => record)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}

/** In-memory meeting assignments. */
export class MemoryMeetingAssignments implements MeetingAssignments {
  private readonly assignments = new Map<string, string>();

  async get(meetingId: string) {
    return this.assignments.get(meetingId);
  }

  async set(meetingId: string, mcId: string) {
    this.assignments.set(meetingId, mcId);
  }
}

/** In-memory meetings ended at GC, by controller (kept as the Redis store keeps them). */
export class MemoryEndedMeetings implements EndedMeetings {
  private readonly ended = new Map<string, Map<string, number>>();

  async add(controller: string, meetingId: string, endedAtMs: number) {
    const meetings = this.ended.get(controller) ?? new Map<string, number>();
    if (!meetings.has(meetingId)) meetings.set(meetingId, endedAtMs);
    this.ended.set(controller, meetings);
  }

  async list(controller: string, limit: number, nowMs: number) {
    return [...(this.ended.get(controller) ?? new Map<string, number>())]
      .filter(([, at]) => at > nowMs - ENDED_MEETING_NOTICE_MS)
      .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, limit)
      .map(([meeting]) => meeting);
  }

  async remove(controller: string, meetingIds: readonly string[]) {
    const meetings = this.ended.get(controller);
    for (const meeting of meetingIds) meetings?.delete(meeting);
  }
}

/** In-memory meeting cache (no expiry: the in-memory store never changes behind it). */
export class MemoryMeetingCache implements MeetingCache {
  private readonly meetings = new Map<string, MeetingRecord>();

  async get(meetingId: string) {
    return this.meetings.get(meetingId);
  }

  async put(meeting: MeetingRecord) {
    this.meetings.set(meeting.meetingId, meeting);
  }
}
