/**
 * Meetings ended at GC, by the controller they were placed on (`ports/gc.ts` `EndedMeetings`):
 * one sorted set per controller, `mc:<controller>:ended-meetings`, member the meeting id, score
 * when it ended (ms). Entries older than `ENDED_MEETING_NOTICE_MS` are dropped as new ones come,
 * and the set itself expires that long after its last addition.
 */
import { ENDED_MEETING_NOTICE_MS, type EndedMeetings } from '../../ports/gc.ts';
import type { Redis } from './client.ts';

export const endedMeetingsKey = (controller: string) => `mc:${controller}:ended-meetings`;

export class RedisEndedMeetings implements EndedMeetings {
  constructor(private readonly redis: Redis) {}

  async add(controller: string, meetingId: string, endedAtMs: number): Promise<void> {
    const key = endedMeetingsKey(controller);
    await this.redis
      .multi()
      .zadd(key, 'NX', endedAtMs, meetingId)
      .zremrangebyscore(key, '-inf', `(${endedAtMs - ENDED_MEETING_NOTICE_MS}`)
      .pexpire(key, ENDED_MEETING_NOTICE_MS)
      .exec();
  }

  async list(controller: string, limit: number, nowMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(
      endedMeetingsKey(controller),
      `(${nowMs - ENDED_MEETING_NOTICE_MS}`,
      '+inf',
      'LIMIT',
      0,
      limit,
    );
  }

  async remove(controller: string, meetingIds: readonly string[]): Promise<void> {
    if (meetingIds.length === 0) return;
    await this.redis.zrem(endedMeetingsKey(controller), ...meetingIds);
  }
}
