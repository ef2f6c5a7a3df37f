/**
 * Which Meeting Controller runs a meeting, among replicas sharing one store (spec 003 "Meeting
 * Controller": state in Redis, coordination via pub/sub; ADR-0012 open item 2, MC-to-MC
 * backoff). One machine per controller process, sans-I/O: inputs and `now` in, outputs and the
 * next deadline polled out. Times are milliseconds.
 *
 * Rules:
 * - a controller process is a holder: its id and a token of its own (new at each start). It
 *   holds one lease in the store, the controller lease (its token, with a TTL), renewed every
 *   `renewEveryMs`; a lease not renewed lapses `leaseMs` after its last renewal.
 * - a meeting's record in the store names the holder that runs it. The record is valid while
 *   the holder's controller lease carries the holder's token; once that lease lapsed (or names
 *   another token: the controller started again) the meeting is free to take. Holding 1,000
 *   meetings costs one renewal a second, not 1,000.
 * - the record is fenced: it is replaced only by an atomic compare-and-set against what was
 *   read (free, the caller, or the lapsed holder the caller found), and a snapshot is written
 *   only while the record names the writer. A controller whose meeting was taken writes
 *   nothing more there.
 * - each meeting's record (and its snapshot's TTL) is refreshed every `keepEveryMs` (`keep`;
 *   the first time after a random half to whole period, so that meetings taken together are
 *   refreshed spread out), so the keys of a meeting nobody runs any more expire `holdMs` after
 *   the last refresh; a refresh that finds another holder stops the meeting here (`stop`,
 *   `lost`).
 * - a controller takes meetings only once its own lease is established (a renewal answered),
 *   so no record of its own is ever found without a live lease behind it.
 * - a controller asked for a meeting it does not run (the Global Controller named it to a
 *   client) tries the record. Named for another holder: it asks whether that holder's lease
 *   lives (`check-holder`). Lapsed: it takes the record from that holder (`acquire` with
 *   `lapsed`) and, once it has it, says so on the coordination channel (`claim`), so a holder
 *   that is alive after all lets go. Live: it says so once on the coordination channel
 *   (`claim`) and tries again after core's backoff (`MC_COORDINATION_BACKOFF`: 50 ms doubling
 *   to 3.2 s, equal jitter), at once when the holder announces it let the meeting go, and
 *   gives up at the backoff's deadline (10 s); the clients waiting are then refused with a
 *   retry hint. A dead holder's lease lapses well inside that deadline.
 * - a live controller hearing a claim for a meeting it runs lets the meeting go (`stop` with
 *   `claimed`: its record is deleted and the release announced). The Global Controller is the
 *   authority on which controller serves a meeting; a claim means it named another one.
 * - a controller lease renewal that finds the lease had lapsed (nothing there) refreshes every
 *   meeting it runs at once: those another controller took meanwhile stop here (`lost`). One
 *   that finds another token there (another process took this controller's id) stops every
 *   meeting (`lost`). A renewal the store did not answer changes nothing: the controller keeps
 *   its meetings and renews again on time (a store failover takes seconds; records that lapsed
 *   meanwhile with nobody taking them are taken again by the next refresh or write).
 */
import {
  MC_COORDINATION_BACKOFF,
  onAttemptFailed,
  startBackoff,
  type BackoffPolicy,
  type BackoffState,
} from '../backpressure/backoff.ts';
import type { ControllerId, MeetingId } from '../ids.ts';
import type { RandomSource } from '../random.ts';

export interface OwnershipPolicy {
  /** How long a controller lease lives without renewal (ms). */
  readonly leaseMs: number;
  /** How often the controller lease is renewed (ms): well under `leaseMs`. */
  readonly renewEveryMs: number;
  /** How long a meeting's record lives without a refresh (ms). */
  readonly holdMs: number;
  /** How often each meeting's record is refreshed (ms): well under `holdMs`. */
  readonly keepEveryMs: number;
  /** Retries of a meeting held by another live controller. */
  readonly backoff: BackoffPolicy;
}

/**
 * A 3 s controller lease renewed every second: a dead controller's meetings can be taken over
 * 3 s after its last renewal, inside the Global Controller's 5 s heartbeat timeout (after which
 * it names another controller), and two missed renewals are tolerated. Meeting records are
 * refreshed every minute and kept three minutes.
 */
export const DEFAULT_OWNERSHIP_POLICY: OwnershipPolicy = {
  leaseMs: 3_000,
  renewEveryMs: 1_000,
  holdMs: 180_000,
  keepEveryMs: 60_000,
  backoff: MC_COORDINATION_BACKOFF,
};

/** A controller process: its id and the token of this start of it. */
export interface Holder {
  readonly controller: ControllerId;
  readonly token: string;
}

export const sameHolder = (a: Holder, b: Holder): boolean =>
  a.controller === b.controller && a.token === b.token;

export type OwnershipInput =
  /** Something arrived for a meeting this controller does not run. */
  | { readonly type: 'wanted'; readonly meeting: MeetingId }
  /** The meeting's record now names this controller. */
  | { readonly type: 'acquired'; readonly meeting: MeetingId }
  /** The record names another holder. */
  | { readonly type: 'held'; readonly meeting: MeetingId; readonly holder: Holder }
  /** Whether that holder's controller lease lives (carries its token). */
  | {
      readonly type: 'holder-checked';
      readonly meeting: MeetingId;
      readonly holder: Holder;
      readonly alive: boolean;
    }
  /** The store did not answer an `acquire` or a `check-holder`. */
  | { readonly type: 'acquire-failed'; readonly meeting: MeetingId }
  /** The holder announced it let the meeting go. */
  | { readonly type: 'released'; readonly meeting: MeetingId; readonly by: ControllerId }
  /** Another controller announced it wants the meeting. */
  | { readonly type: 'claimed'; readonly meeting: MeetingId; readonly by: ControllerId }
  /**
   * A refresh's or a snapshot write's answer: false when the record names another holder (the
   * write wrote nothing).
   */
  | { readonly type: 'kept'; readonly meeting: MeetingId; readonly held: boolean }
  /** The meeting stopped here for another reason (it ended, or the driver could not run it). */
  | { readonly type: 'dropped'; readonly meeting: MeetingId };

/**
 * The controller lease renewal's answer: the token the lease carried before (null: none, it
 * had lapsed or was never taken).
 */
export interface LeaseRenewed {
  readonly previous: string | null;
}

export type OwnershipOutput =
  /** Renew the controller lease (set it to this holder's token, answer what it carried). */
  | { readonly type: 'renew-lease' }
  /**
   * Try to take the meeting's record: succeeds when it is free, names this holder, or names
   * `lapsed` (a holder whose lease was found lapsed); answers the holder.
   */
  | { readonly type: 'acquire'; readonly meeting: MeetingId; readonly lapsed?: Holder }
  /** Read whether the holder's controller lease carries its token. */
  | { readonly type: 'check-holder'; readonly meeting: MeetingId; readonly holder: Holder }
  /** Announce on the coordination channel that this controller wants the meeting. */
  | { readonly type: 'claim'; readonly meeting: MeetingId }
  /** The record is held: restore the meeting from the store (or start it) and run it. */
  | { readonly type: 'run'; readonly meeting: MeetingId }
  /** The meeting could not be had in time: refuse what waits for it, with a retry hint. */
  | { readonly type: 'give-up'; readonly meeting: MeetingId; readonly retryAfterMs: number }
  /** Refresh the meeting's record and snapshot TTLs (taking a record gone missing again). */
  | { readonly type: 'keep'; readonly meeting: MeetingId }
  /**
   * Stop running the meeting here. `claimed`: another controller was named for it; delete the
   * record and announce the release. `lost`: another controller holds the record already.
   */
  | { readonly type: 'stop'; readonly meeting: MeetingId; readonly reason: 'claimed' | 'lost' };

interface Acquiring {
  readonly meeting: MeetingId;
  backoff: BackoffState;
  /** When to try again; null while an attempt is out (or waits for the controller lease). */
  retryAt: number | null;
  claimed: boolean;
  /** Taking the record from a lapsed holder: announce the claim once it is ours. */
  takingOver: boolean;
}

/** One controller's lease and meetings: those it runs and those it is trying to get. */
export class MeetingOwnership {
  private readonly acquiring = new Map<MeetingId, Acquiring>();
  /** Meetings run here, with when each record is refreshed next. */
  private readonly owned = new Map<MeetingId, number>();
  private outputs: OwnershipOutput[] = [];
  private outputsRead = 0;
  /** Whether a renewal of this holder's lease was ever answered. */
  private established = false;
  private nextRenewAt: number | null = null;

  constructor(
    readonly holder: Holder,
    private readonly random: RandomSource,
    readonly policy: OwnershipPolicy = DEFAULT_OWNERSHIP_POLICY,
  ) {}

  get controller(): ControllerId {
    return this.holder.controller;
  }

  /** Whether this controller's record names it for the meeting (and so runs it). */
  owns(meeting: MeetingId): boolean {
    return this.owned.has(meeting);
  }

  /** Whether the meeting is being sought. */
  isAcquiring(meeting: MeetingId): boolean {
    return this.acquiring.has(meeting);
  }

  /** Whether this holder's controller lease was ever taken (meetings are taken only then). */
  get leaseEstablished(): boolean {
    return this.established;
  }

  get ownedCount(): number {
    return this.owned.size;
  }

  /** Starts renewing the controller lease (the first renewal at once). */
  start(now: number): void {
    if (this.nextRenewAt !== null) return;
    this.nextRenewAt = now;
    this.handleTimeout(now);
  }

  /** The controller lease renewal's answer. */
  handleLease(answer: LeaseRenewed, now: number): void {
    const mine = answer.previous === this.holder.token;
    if (!this.established) {
      // The first renewal: whatever was there is this controller's previous start, or nothing.
      this.established = true;
      // Meetings wanted meanwhile are tried at once.
      for (const attempt of this.acquiring.values()) {
        if (attempt.retryAt === null) continue;
        attempt.retryAt = null;
        this.outputs.push({ type: 'acquire', meeting: attempt.meeting });
      }
      return;
    }
    if (mine) return;
    if (answer.previous === null) {
      // It had lapsed: another controller may have taken some meetings meanwhile.
      for (const meeting of this.owned.keys()) this.keep(meeting, now);
      return;
    }
    // Another process took this controller's id: nothing here is ours any more.
    for (const meeting of [...this.owned.keys()]) {
      this.owned.delete(meeting);
      this.outputs.push({ type: 'stop', meeting, reason: 'lost' });
    }
  }

  handle(input: OwnershipInput, now: number): void {
    const meeting = input.meeting;
    switch (input.type) {
      case 'wanted': {
        if (this.owned.has(meeting) || this.acquiring.has(meeting)) return;
        this.acquiring.set(meeting, {
          meeting,
          backoff: startBackoff(now),
          retryAt: null,
          claimed: false,
          takingOver: false,
        });
        this.attempt(this.acquiring.get(meeting) as Acquiring, now);
        return;
      }
      case 'acquired': {
        const attempt = this.acquiring.get(meeting);
        if (attempt === undefined || attempt.retryAt !== null) return;
        this.acquiring.delete(meeting);
        // The first refresh between half a period and a period away: meetings taken together
        // (a controller's start, a join storm) are refreshed spread out, not in one burst.
        const firstKeepMs = this.policy.keepEveryMs * (0.5 + 0.5 * this.random.next());
        this.owned.set(meeting, now + firstKeepMs);
        this.outputs.push({ type: 'run', meeting });
        if (attempt.takingOver && !attempt.claimed) this.outputs.push({ type: 'claim', meeting });
        return;
      }
      case 'held': {
        const attempt = this.acquiring.get(meeting);
        if (attempt === undefined || attempt.retryAt !== null) return;
        if (sameHolder(input.holder, this.holder))
          return this.handle({ type: 'acquired', meeting }, now);
        this.outputs.push({ type: 'check-holder', meeting, holder: input.holder });
        return;
      }
      case 'holder-checked': {
        const attempt = this.acquiring.get(meeting);
        if (attempt === undefined || attempt.retryAt !== null) return;
        if (!input.alive) {
          attempt.takingOver = true;
          this.outputs.push({ type: 'acquire', meeting, lapsed: input.holder });
          return;
        }
        if (!attempt.claimed) {
          attempt.claimed = true;
          this.outputs.push({ type: 'claim', meeting });
        }
        return this.retryLater(attempt, now);
      }
      case 'acquire-failed': {
        const attempt = this.acquiring.get(meeting);
        if (attempt === undefined || attempt.retryAt !== null) return;
        return this.retryLater(attempt, now);
      }
      case 'released': {
        const attempt = this.acquiring.get(meeting);
        if (attempt === undefined || attempt.retryAt === null) return;
        attempt.retryAt = null;
        attempt.takingOver = false;
        this.attempt(attempt, now);
        return;
      }
      case 'claimed': {
        if (input.by === this.controller || !this.owned.delete(meeting)) return;
        this.outputs.push({ type: 'stop', meeting, reason: 'claimed' });
        return;
      }
      case 'kept': {
        if (input.held || !this.owned.delete(meeting)) return;
        this.outputs.push({ type: 'stop', meeting, reason: 'lost' });
        return;
      }
      case 'dropped':
        this.owned.delete(meeting);
        this.acquiring.delete(meeting);
        return;
    }
  }

  /** Tries the record, or, while this controller has no lease yet, waits as after a failure. */
  private attempt(attempt: Acquiring, now: number): void {
    if (this.established) this.outputs.push({ type: 'acquire', meeting: attempt.meeting });
    else this.retryLater(attempt, now);
  }

  private retryLater(attempt: Acquiring, now: number): void {
    attempt.takingOver = false;
    const failed = onAttemptFailed(attempt.backoff, now, this.random, this.policy.backoff);
    attempt.backoff = failed.state;
    if (failed.decision.kind === 'give-up') {
      this.acquiring.delete(attempt.meeting);
      this.outputs.push({
        type: 'give-up',
        meeting: attempt.meeting,
        retryAfterMs: this.policy.backoff.capMs,
      });
      return;
    }
    attempt.retryAt = failed.decision.at;
  }

  private keep(meeting: MeetingId, now: number): void {
    this.owned.set(meeting, now + this.policy.keepEveryMs);
    this.outputs.push({ type: 'keep', meeting });
  }

  handleTimeout(now: number): void {
    for (const attempt of this.acquiring.values()) {
      if (attempt.retryAt === null || attempt.retryAt > now) continue;
      attempt.retryAt = null;
      this.attempt(attempt, now);
    }
    if (this.nextRenewAt !== null && this.nextRenewAt <= now) {
      this.outputs.push({ type: 'renew-lease' });
      this.nextRenewAt = now + this.policy.renewEveryMs;
      // Records due a refresh are refreshed with the renewal's tick.
      for (const [meeting, keepAt] of this.owned) if (keepAt <= now) this.keep(meeting, now);
    }
  }

  pollOutput(): OwnershipOutput | null {
    const output = this.outputs[this.outputsRead];
    if (output !== undefined) {
      this.outputsRead++;
      return output;
    }
    if (this.outputsRead > 0) {
      this.outputs = [];
      this.outputsRead = 0;
    }
    return null;
  }

  pollTimeout(): number | null {
    let next = this.nextRenewAt;
    for (const attempt of this.acquiring.values()) {
      if (attempt.retryAt !== null && (next === null || attempt.retryAt < next))
        next = attempt.retryAt;
    }
    return next;
  }
}
