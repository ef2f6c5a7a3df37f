import { z } from 'zod';
import type { MeetingCache, MeetingRecord } from '../../ports/gc.ts';
import type { Redis } from './client.ts';

const cachedMeeting = z.object({
  meetingId: z.string(),
  orgId: z.string(),
  title: z.string(),
  createdBy: z.string(),
  maxParticipants: z.number(),
  status: z.enum(['active', 'ended']),
  createdAtMs: z.number(),
  endedAtMs: z.number().optional(),
});

/** Meeting metadata in Redis under `meeting:<id>:info` for `ttlMs`. */
export class RedisMeetingCache implements MeetingCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs = 5 * 60_000,
  ) {}

  async get(meetingId: string): Promise<MeetingRecord | undefined> {
    const raw = await this.redis.get(`meeting:${meetingId}:info`);
    if (raw === null) return undefined;
    const parsed = cachedMeeting.safeParse(JSON.parse(raw));
    return parsed.success ? { ...parsed.data, endedAtMs: parsed.data.endedAtMs } : undefined;
  }

  async put(meeting: MeetingRecord): Promise<void> {
    await this.redis.set(
      `meeting:${meeting.meetingId}:info`,
      JSON.stringify(meeting),
      'PX',
      this.ttlMs,
    );
  }
}
