/**
 * What a Meeting Controller keeps in its shared store (Redis, single node or Cluster): each
 * meeting's lease and snapshot, and the coordination channel between controller replicas.
 */
import type { ControllerId, MeetingId } from '../core/ids.ts';
import type { LiveSession, MeetingSnapshot } from '../core/mc/snapshot.ts';
import type { Result } from '../core/result.ts';

/** A stored meeting record that cannot be read as a snapshot. */
export interface UndecodableRecord {
  readonly kind: 'bad-encoding';
  readonly detail: string;
}

export interface MeetingStateStore {
  /** Takes the lease for `controller` unless another holds it; answers the holder. */
  acquire(meeting: MeetingId, controller: ControllerId, leaseMs: number): Promise<ControllerId>;
  /**
   * Renews `controller`'s lease (taking it again if it lapsed and nobody took it), and keeps
   * the snapshot as long; answers the holder.
   */
  renew(meeting: MeetingId, controller: ControllerId, leaseMs: number): Promise<ControllerId>;
  /** Deletes the lease if `controller` holds it. */
  release(meeting: MeetingId, controller: ControllerId): Promise<void>;
  /**
   * Writes the snapshot, and the members' session keys with the time each has left, while
   * `controller` holds the lease (taking it again for `leaseMs` if it lapsed and nobody took
   * it); false when another controller holds it.
   */
  write(
    snapshot: MeetingSnapshot,
    controller: ControllerId,
    sessions: readonly LiveSession[],
    leaseMs: number,
  ): Promise<boolean>;
  /** The stored snapshot, undefined when there is none, or why it is unreadable. */
  read(meeting: MeetingId): Promise<Result<MeetingSnapshot | undefined, UndecodableRecord>>;
}

/** Deletes an ended meeting's stored state. */
export interface MeetingStateEraser {
  /**
   * Deletes the meeting's snapshot and lease unless another controller holds the lease (false
   * then: nothing deleted). Sent on the connection the writes go on, so it follows them.
   */
  erase(meeting: MeetingId, controller: ControllerId): Promise<boolean>;
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
