import type { LocalCache } from '../../adapters/cache/local-cache.ts';
import type { Result } from '../../core/result.ts';
import type {
  IdempotencyTag,
  MeetingAssignments,
  MeetingRecord,
  MeetingStore,
  MeetingStoreError,
  TenantConfig,
  TenantConfigCache,
} from '../../ports/gc.ts';

/** Tells every replica to drop a key from its in-process caches. */
export interface InvalidationPublisher {
  publish(key: string): Promise<void>;
}

/**
 * Meeting reads served from this replica's memory in front of the shared store. A meeting
 * changes only when it ends: the replica that ends it keeps the ended record and publishes
 * the meeting id, so every other replica drops its copy and reads the ended record from the
 * shared cache. The answer to a DELETE goes out only after Redis took the invalidation.
 */
export class LocallyCachedMeetings implements MeetingStore {
  constructor(
    private readonly store: MeetingStore,
    private readonly cache: LocalCache<MeetingRecord>,
    private readonly invalidations: InvalidationPublisher,
  ) {}

  async create(
    meeting: MeetingRecord,
    idempotency?: IdempotencyTag,
  ): Promise<Result<void, MeetingStoreError>> {
    const created = await this.store.create(meeting, idempotency);
    if (created.ok) this.cache.store(meeting.meetingId, meeting);
    return created;
  }

  get(meetingId: string): Promise<MeetingRecord | undefined> {
    return this.cache.read(meetingId, () => this.store.get(meetingId));
  }

  peek(meetingId: string): MeetingRecord | undefined {
    return this.cache.peek(meetingId);
  }

  async end(meetingId: string, endedAtMs: number): Promise<MeetingRecord | undefined> {
    const ended = await this.store.end(meetingId, endedAtMs);
    if (ended) {
      this.cache.store(meetingId, ended);
      await this.invalidations.publish(meetingId);
    }
    return ended;
  }
}

/**
 * Meeting placements served from this replica's memory in front of the shared ones. A
 * placement changes when a meeting is placed again (its controller went unhealthy): the
 * replica that places it publishes the meeting id, and the others drop their copy.
 */
export class LocallyCachedAssignments implements MeetingAssignments {
  constructor(
    private readonly assignments: MeetingAssignments,
    private readonly cache: LocalCache<string>,
    private readonly invalidations: InvalidationPublisher,
  ) {}

  get(meetingId: string): Promise<string | undefined> {
    return this.cache.read(meetingId, () => this.assignments.get(meetingId));
  }

  peek(meetingId: string): string | undefined {
    return this.cache.peek(meetingId);
  }

  async set(meetingId: string, mcId: string): Promise<void> {
    await this.assignments.set(meetingId, mcId);
    this.cache.store(meetingId, mcId);
    await this.invalidations.publish(meetingId);
  }
}

/**
 * Tenant configuration served from this replica's memory for a short while in front of the
 * shared (5-minute) cache. Nothing in GC changes a tenant, so there is no invalidation: a
 * change made in the database shows within the shared cache's TTL plus this one's.
 */
export class LocallyCachedTenants implements TenantConfigCache {
  constructor(
    private readonly shared: TenantConfigCache,
    private readonly cache: LocalCache<TenantConfig>,
  ) {}

  get(orgId: string): Promise<TenantConfig | undefined> {
    return this.cache.read(orgId, () => this.shared.get(orgId));
  }

  peek(orgId: string): TenantConfig | undefined {
    return this.cache.peek(orgId);
  }

  async put(config: TenantConfig): Promise<void> {
    await this.shared.put(config);
    this.cache.store(config.orgId, config);
  }
}
