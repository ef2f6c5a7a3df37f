/**
 * An ended meeting's state deleted from Redis (docs/protocol.md, "Meeting Controller state in
 * Redis"): its snapshot and record, unless another holder holds the record. The keys share
 * the meeting's hash tag, so one script does it on one node or a Cluster. Sessions are deleted
 * one by one by the controller as core ends them.
 */
import type { MeetingId } from '../../core/ids.ts';
import type { Holder } from '../../core/mc/ownership.ts';
import type { MeetingStateEraser } from '../../ports/mc.ts';
import type { StateConnection } from './cluster.ts';
import { encodeHolder, ownerKey, stateKey } from './meeting-state.ts';

const ERASE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1`;

export class RedisMeetingStateEraser implements MeetingStateEraser {
  constructor(private readonly redis: StateConnection) {}

  async erase(meeting: MeetingId, holder: Holder): Promise<boolean> {
    const erased = await this.redis.eval(
      ERASE,
      2,
      ownerKey(meeting),
      stateKey(meeting),
      encodeHolder(holder),
    );
    return erased === 1;
  }
}
