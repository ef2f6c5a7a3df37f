/**
 * What a Meeting Controller keeps in its shared store (Redis, single node or Cluster): each
 * controller's lease, each meeting's record and snapshot, and the coordination channel between controller replicas.
 */
import type { ControllerId, MeetingId } from '../core/ids.ts';
import type { Holder } from '../core/mc/ownership.ts';
import type { LiveSession, MeetingSnapshot } from '../core/mc/snapshot.ts';
import type { Result } from '../core/result.ts';

/** A stored meeting record that cannot be read as a snapshot. */
export interface UndecodableRecord {
  readonly kind: 'bad-encoding';
  readonly detail: string;
}

export interface MeetingStateStore {
  /**
   * Sets `holder`'s controller lease to its token for `leaseMs`; answers the token it carried
   * before (null: none).
   */
  renewLease(holder: Holder, leaseMs: number): Promise<string | null>;
  /** Deletes `holder`'s controller lease if it carries its token. */
  releaseLease(holder: Holder): Promise<void>;
  /** Whether `holder`'s controller lease carries its token (its meeting records are valid). */
  holderAlive(holder: Holder): Promise<boolean>;
  /**
   * Takes the meeting's record for `holder` (for `holdMs`) when it is free, names `holder`, or
   * names `lapsed`; answers the holder it names.
   */
  acquire(meeting: MeetingId, holder: Holder, holdMs: number, lapsed?: Holder): Promise<Holder>;
  /**
   * Refreshes `holder`'s record (taking it again if it lapsed and nobody took it), and keeps
   * the snapshot as long; answers the holder the record names.
   */
  keep(meeting: MeetingId, holder: Holder, holdMs: number): Promise<Holder>;
  /** Deletes the meeting's record if it names `holder`. */
  release(meeting: MeetingId, holder: Holder): Promise<void>;
  /** A snapshot in its stored form, and a fingerprint of all of it but the time it was taken. */
  encode(snapshot: MeetingSnapshot): EncodedSnapshot;
  /**
   * Writes the snapshot, and the members' session keys with the time each has left, while the
   * record names `holder` (taking it again for `holdMs` if it lapsed and nobody took it); false
   * when it names another holder.
   */
  write(
    snapshot: EncodedSnapshot,
    holder: Holder,
    sessions: readonly LiveSession[],
    holdMs: number,
  ): Promise<boolean>;
  /** The stored snapshot, undefined when there is none, or why it is unreadable. */
  read(meeting: MeetingId): Promise<Result<MeetingSnapshot | undefined, UndecodableRecord>>;
}

/** A snapshot encoded for the store (`MeetingStateStore.encode`). */
export interface EncodedSnapshot {
  readonly meeting: MeetingId;
  readonly stored: string;
  /** Equal for two snapshots that differ at most in `takenAt`. */
  readonly fingerprint: string;
}

/** Deletes an ended meeting's stored state. */
export interface MeetingStateEraser {
  /**
   * Deletes the meeting's snapshot and record unless another holder (another controller, or
   * this controller's id in another process) holds the record (false then: nothing deleted).
   * Sent on the connection the writes go on, so it follows them.
   */
  erase(meeting: MeetingId, holder: Holder): Promise<boolean>;
}

/** A message between controller replicas. */
export interface CoordinationMessage {
  /** `claim`: the sender was named for the meeting; `released`: the sender let it go. */
  readonly type: 'claim' | 'released';
  readonly meeting: MeetingId;
  readonly by: ControllerId;
}

export interface MeetingCoordination {
  publish(message: CoordinationMessage): Promise<void>;
  /** Starts delivering messages (malformed ones go to `onMalformed`). */
  subscribe(
    onMessage: (message: CoordinationMessage) => void,
    onMalformed: (detail: string) => void,
  ): Promise<void>;
  close(): Promise<void>;
}
