import type { Result } from '../../core/result.ts';

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

export type MeetingStoreError =
  | { readonly kind: 'duplicate'; readonly meetingId: string }
  | { readonly kind: 'unknown_org'; readonly orgId: string };

export interface MeetingStore {
  create(meeting: MeetingRecord): Promise<Result<void, MeetingStoreError>>;
  get(meetingId: string): Promise<MeetingRecord | undefined>;
  /** Marks a meeting ended; returns the record after the change, or undefined if unknown. */
  end(meetingId: string, endedAtMs: number): Promise<MeetingRecord | undefined>;
}

export interface TenantStore {
  getTenant(orgId: string): Promise<TenantConfig | undefined>;
}

/** A time-bounded cache of tenant configuration (Redis, 5-minute TTL). */
export interface TenantConfigCache {
  get(orgId: string): Promise<TenantConfig | undefined>;
  put(config: TenantConfig): Promise<void>;
}
