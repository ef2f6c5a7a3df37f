/**
 * End-to-end media-key epochs for one meeting (spec 003, "Security Architecture", key
 * management): a new key on every join, on every leave, on manual request and every hour;
 * forward secrecy: old keys are deleted after rotation.
 *
 * Core decides and the caller acts: a `distribute_epoch` effect tells the caller to create
 * fresh key bytes for the epoch (from its own random source) and hand them to exactly the
 * listed recipients; a `delete_epoch` effect tells the caller and the members to erase an
 * epoch's key.
 *
 * This is the key model of a meeting run without MLS (the simulator's): the services run the
 * meeting's MLS group instead (core/mls/delivery through core/mc/meeting), whose epochs are MLS
 * epochs and whose keys the controller never holds.
 *
 * Rules:
 * - epochs are numbered 0, 1, 2, ... per meeting. An epoch number is not a KID: a member's
 *   SFrame KID carries the epoch's low E bits and the member's own sender index above them
 *   (RFC 9605 section 5.2, core/protocol/sframe-mls), so every member sends under its own key
 *   and salt and no two members share a nonce sequence;
 * - an epoch goes to the members at the instant it starts and to nobody else: a joiner never
 *   receives an earlier epoch, a participant who left never receives a later one;
 * - a superseded epoch is deleted `deletionGraceMs` (30 s) after it was superseded. The grace
 *   lets receivers decrypt frames still in flight under the old key while senders move to the
 *   new one; 30 s is far above the network's delays and short next to the hourly rotation;
 * - when the last member leaves, the current epoch is superseded by nothing and deleted after
 *   the same grace; an empty meeting does not rotate.
 *
 * `now` is milliseconds since the epoch.
 */
import type { ParticipantId } from '../ids.ts';

export interface MediaKeyPolicy {
  /** Time-based rotation interval (ms). */
  readonly rotationIntervalMs: number;
  /** How long a superseded epoch survives before deletion (ms). */
  readonly deletionGraceMs: number;
}

export const DEFAULT_MEDIA_KEY_POLICY: MediaKeyPolicy = {
  rotationIntervalMs: 3_600_000,
  deletionGraceMs: 30_000,
};

export type MediaKeyEvent =
  | { readonly type: 'join'; readonly participant: ParticipantId }
  | { readonly type: 'leave'; readonly participant: ParticipantId }
  /** Manual rotation request. */
  | { readonly type: 'rotate' }
  /** Time passed: deletions and the hourly rotation that are due. */
  | { readonly type: 'tick' };

export type RotationReason = 'join' | 'leave' | 'manual' | 'hourly';

export type MediaKeyEffect =
  /** Create key bytes for `epoch` and give them to exactly `recipients`. */
  | {
      readonly type: 'distribute_epoch';
      readonly epoch: number;
      readonly recipients: readonly ParticipantId[];
      readonly reason: RotationReason;
    }
  /** Erase `epoch`'s key; `holders` are the current members, who should erase it too. */
  | {
      readonly type: 'delete_epoch';
      readonly epoch: number;
      readonly holders: readonly ParticipantId[];
    };

interface RetiringEpoch {
  readonly epoch: number;
  readonly deleteAt: number;
}

/** The media-key epoch state machine of one meeting. */
export class MediaKeyEpochs {
  private readonly memberSet = new Set<ParticipantId>();
  /** The epoch in use; defined exactly when the meeting has members. */
  private current: { readonly epoch: number; readonly startedAt: number } | undefined;
  private retiring: RetiringEpoch[] = [];
  private nextEpochNumber = 0;

  constructor(private readonly policy: MediaKeyPolicy = DEFAULT_MEDIA_KEY_POLICY) {}

  /** Advances to `now` (ms), applies `event`, and returns what the caller must do. */
  handle(event: MediaKeyEvent, now: number): MediaKeyEffect[] {
    const effects = this.deleteDue(now);
    switch (event.type) {
      case 'join':
        if (this.memberSet.has(event.participant)) break;
        this.memberSet.add(event.participant);
        effects.push(this.startEpoch('join', now));
        break;
      case 'leave':
        if (!this.memberSet.delete(event.participant)) break;
        if (this.memberSet.size === 0) this.retireCurrent(now);
        else effects.push(this.startEpoch('leave', now));
        break;
      case 'rotate':
        if (this.memberSet.size > 0) effects.push(this.startEpoch('manual', now));
        break;
      case 'tick':
        break;
    }
    // After the event, so a leaver never gets the hourly key and a join's rotation counts.
    effects.push(...this.rotateIfDue(now));
    return effects;
  }

  /**
   * The next instant (ms) at which a `tick` has work: the hourly rotation or the earliest
   * deletion. Undefined when nothing is scheduled.
   */
  nextDeadline(): number | undefined {
    let next = this.current ? this.current.startedAt + this.policy.rotationIntervalMs : undefined;
    for (const { deleteAt } of this.retiring)
      if (next === undefined || deleteAt < next) next = deleteAt;
    return next;
  }

  /** The epoch senders use now; undefined when the meeting is empty. */
  currentEpoch(): number | undefined {
    return this.current?.epoch;
  }

  /** Epochs not yet deleted: the current one and those inside their grace, ascending. */
  liveEpochs(): number[] {
    const live = this.retiring.map((r) => r.epoch);
    if (this.current) live.push(this.current.epoch);
    return live;
  }

  /**
   * The epoch number the next epoch will take: above every epoch this meeting has used, so a
   * controller that takes the meeting over can go on numbering (see `resume`).
   */
  nextEpoch(): number {
    return this.nextEpochNumber;
  }

  /**
   * A fresh machine takes over a meeting that another machine ran: `members` are its members,
   * `nextEpoch` is at least the other machine's `nextEpoch()`. A new epoch starts at once for
   * exactly those members (the other machine's keys are not carried over), numbered so that no
   * SFrame KID is reused. Returns its effect, or nothing for an empty meeting.
   */
  resume(members: readonly ParticipantId[], nextEpoch: number, now: number): MediaKeyEffect[] {
    this.nextEpochNumber = Math.max(this.nextEpochNumber, nextEpoch);
    for (const member of members) this.memberSet.add(member);
    return this.memberSet.size === 0 ? [] : [this.startEpoch('manual', now)];
  }

  /** The current members, in order of joining. */
  members(): ParticipantId[] {
    return [...this.memberSet];
  }

  private startEpoch(reason: RotationReason, now: number): MediaKeyEffect {
    this.retireCurrent(now);
    const epoch = this.nextEpochNumber++;
    this.current = { epoch, startedAt: now };
    return {
      type: 'distribute_epoch',
      epoch,
      recipients: this.members(),
      reason,
    };
  }

  private retireCurrent(now: number): void {
    if (!this.current) return;
    this.retiring.push({ epoch: this.current.epoch, deleteAt: now + this.policy.deletionGraceMs });
    this.current = undefined;
  }

  private deleteDue(now: number): MediaKeyEffect[] {
    // Most events come with nothing due: no lists built for them.
    let anyDue = false;
    for (const { deleteAt } of this.retiring) if (deleteAt <= now) anyDue = true;
    if (!anyDue) return [];
    const holders = this.members();
    const effects: MediaKeyEffect[] = [];
    const kept: RetiringEpoch[] = [];
    for (const retiring of this.retiring) {
      if (retiring.deleteAt > now) kept.push(retiring);
      else effects.push({ type: 'delete_epoch', epoch: retiring.epoch, holders });
    }
    this.retiring = kept;
    return effects;
  }

  private rotateIfDue(now: number): MediaKeyEffect[] {
    if (!this.current) return [];
    if (now < this.current.startedAt + this.policy.rotationIntervalMs) return [];
    return [this.startEpoch('hourly', now)];
  }
}
