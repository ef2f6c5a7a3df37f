import type { ParticipantId } from '../../core/ids.ts';
import type { ViolationLog } from './violations.ts';

/** What one participant's client holds: the media-key epochs it received and not yet erased. */
export interface EpochHolder {
  readonly participant: ParticipantId;
  readonly held: ReadonlySet<number>;
}

/** A participant who left, with the last epoch that was current while it was a member. */
export interface RemovedHolder extends EpochHolder {
  readonly lastAllowedEpoch: number;
}

/**
 * The media-key invariant, checked once a rotation has had time to settle: every member that
 * can be reached holds the meeting's current epoch as its newest, and no removed participant
 * holds an epoch started after it left.
 */
export function checkEpochs(
  log: ViolationLog,
  meeting: string,
  currentEpoch: number,
  members: readonly EpochHolder[],
  removed: readonly RemovedHolder[],
): void {
  for (const member of members) {
    const newest = Math.max(-1, ...member.held);
    if (newest !== currentEpoch) {
      log.report(
        'media-key-epoch',
        `client/${member.participant}`,
        `meeting ${meeting} is on media-key epoch ${currentEpoch} but the member's newest epoch is ${newest < 0 ? 'none' : newest}`,
      );
    }
  }
  for (const gone of removed) {
    const later = [...gone.held].filter((epoch) => epoch > gone.lastAllowedEpoch);
    if (later.length > 0) {
      log.report(
        'media-key-epoch',
        `client/${gone.participant}`,
        `removed from meeting ${meeting} after epoch ${gone.lastAllowedEpoch} but holds later epoch(s) ${later.join(', ')}`,
      );
    }
  }
}
