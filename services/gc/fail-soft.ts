import type { Logger } from '../../adapters/logging/logger.ts';
import type { InvalidationPublisher } from './local-stores.ts';
import type {
  MeetingCache,
  MeetingRecord,
  TenantConfig,
  TenantConfigCache,
} from '../../ports/gc.ts';

/** One warning per `intervalMs` for a failure that repeats on every request. */
export class ThrottledWarning {
  private lastAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  report(error: unknown): void {
    const now = this.now();
    if (now - this.lastAt < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.logger.warn({ err: error, suppressed: this.suppressed }, this.message);
    this.lastAt = now;
    this.suppressed = 0;
  }
}

/**
 * GC's shared caches are caches: a read that fails (Redis unreachable, slow, or a corrupt
 * entry) is a miss, so the caller reads the store of record, and a write that fails is
 * dropped. Neither fails the request; both are reported (throttled).
 */
export function failSoftMeetingCache(cache: MeetingCache, warning: ThrottledWarning): MeetingCache {
  return {
    get: (meetingId: string): Promise<MeetingRecord | undefined> =>
      cache.get(meetingId).catch((error: unknown) => {
        warning.report(error);
        return undefined;
      }),
    put: (meeting: MeetingRecord): Promise<void> =>
      cache.put(meeting).catch((error: unknown) => warning.report(error)),
  };
}

/** The tenant cache, failing soft as {@link failSoftMeetingCache}. */
export function failSoftTenantCache(
  cache: TenantConfigCache,
  warning: ThrottledWarning,
): TenantConfigCache {
  return {
    get: (orgId: string): Promise<TenantConfig | undefined> =>
      cache.get(orgId).catch((error: unknown) => {
        warning.report(error);
        return undefined;
      }),
    put: (config: TenantConfig): Promise<void> =>
      cache.put(config).catch((error: unknown) => warning.report(error)),
  };
}

/**
 * Invalidations that never fail the write that published them. While Redis is unreachable
 * no replica's subscription is live, so every replica bypasses its in-process caches and
 * nothing stale is served; a publication lost otherwise is bounded by the caches' TTL.
 */
export function failSoftPublisher(
  publisher: InvalidationPublisher,
  warning: ThrottledWarning,
): InvalidationPublisher {
  return {
    publish: (key: string) =>
      publisher.publish(key).catch((error: unknown) => warning.report(error)),
  };
}
