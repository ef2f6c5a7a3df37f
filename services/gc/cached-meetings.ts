import type { Result } from '../../core/result.ts';
import type {
  IdempotencyTag,
  MeetingCache,
  MeetingRecord,
  MeetingStore,
  MeetingStoreError,
} from '../../ports/gc.ts';

/**
 * Meeting reads through a shared regional cache: a read tries the cache, then the store, and
 * fills the cache; writes go to the store first, then replace the cached record. Because the
 * cache is shared by every replica, an ended meeting reads as ended everywhere at once.
 */
export class CachedMeetingStore implements MeetingStore {
  constructor(
    private readonly store: MeetingStore,
    private readonly cache: MeetingCache,
  ) {}

  async create(
    meeting: MeetingRecord,
    idempotency?: IdempotencyTag,
  ): Promise<Result<void, MeetingStoreError>> {
    const created = await this.store.create(meeting, idempotency);
    if (created.ok) await this.cache.put(meeting);
    return created;
  }

  async get(meetingId: string): Promise<MeetingRecord | undefined> {
    const cached = await this.cache.get(meetingId);
    if (cached) return cached;
    const stored = await this.store.get(meetingId);
    if (stored) await this.cache.put(stored);
    return stored;
  }

  async end(meetingId: string, endedAtMs: number): Promise<MeetingRecord | undefined> {
    const ended = await this.store.end(meetingId, endedAtMs);
    if (ended) await this.cache.put(ended);
    return ended;
  }
}
