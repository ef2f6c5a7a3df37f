/**
 * Which Meeting Controller runs a meeting, among replicas sharing one store (spec 003 "Meeting
 * Controller": state in Redis, coordination via pub/sub; ADR-0012 open item 2, MC-to-MC
 * backoff). One machine per controller process, sans-I/O: inputs and `now` in, outputs and the
 * next deadline polled out. Times are milliseconds.
 *
 * Rules:
 * - a meeting is run by the controller holding its lease in the store. A controller runs a
 *   meeting only once it holds the lease (`run`), and renews every lease it holds every
 *   `renewEveryMs`; a lease not renewed lapses `leaseMs` after its last renewal.
 * - a controller asked for a meeting it does not run (the Global Controller named it to a
 *   client) tries the lease. Held by another controller: it says so once on the coordination
 *   channel (`claim`) and tries again after core's backoff (`MC_COORDINATION_BACKOFF`: 50 ms
 *   doubling to 3.2 s, equal jitter), at once when the holder announces it let the meeting go,
 *   and gives up at the backoff's deadline (10 s); the clients waiting are then refused with a
 *   retry hint. A dead holder's lease lapses well inside that deadline.
 * - a live controller hearing a claim for a meeting it runs lets the meeting go (`stop` with
 *   `claimed`: its lease is deleted and the release announced). The Global Controller is the
 *   authority on which controller serves a meeting; a claim means it named another one.
 * - a renewal answered "another controller holds it" stops the meeting here (`stop`, `lost`).
 *   A renewal the store did not answer changes nothing: the controller keeps the meeting and
 *   renews again on time (a store failover takes seconds; the lease is taken again if it
 *   lapsed meanwhile and nobody else took it).
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
  /** How long a lease lives without renewal (ms). */
  readonly leaseMs: number;
  /** How often held leases are renewed (ms): well under `leaseMs`. */
  readonly renewEveryMs: number;
  /** Retries of a lease held by another controller. */
  readonly backoff: BackoffPolicy;
}

/**
 * A 3 s lease renewed every second: a dead controller's meetings can be taken over 3 s after
 * its last renewal, inside the Global Controller's 5 s heartbeat timeout (after which it names
 * another controller), and two missed renewals are tolerated.
 */
export const DEFAULT_OWNERSHIP_POLICY: OwnershipPolicy = {
  leaseMs: 3_000,
  renewEveryMs: 1_000,
  backoff: MC_COORDINATION_BACKOFF,
};

export type OwnershipInput =
  /** Something arrived for a meeting this controller does not run. */
  | { readonly type: 'wanted'; readonly meeting: MeetingId }
  /** The lease was taken for this controller. */
  | { readonly type: 'acquired'; readonly meeting: MeetingId }
  /** Another controller holds the lease. */
  | { readonly type: 'held'; readonly meeting: MeetingId; readonly holder: ControllerId }
  /** The store did not answer an `acquire`. */
  | { readonly type: 'acquire-failed'; readonly meeting: MeetingId }
  /** The holder announced it let the meeting go. */
  | { readonly type: 'released'; readonly meeting: MeetingId; readonly by: ControllerId }
  /** Another controller announced it wants the meeting. */
  | { readonly type: 'claimed'; readonly meeting: MeetingId; readonly by: ControllerId }
  /** A renewal's answer: false when another controller holds the lease. */
  | { readonly type: 'renewed'; readonly meeting: MeetingId; readonly held: boolean }
  /** The meeting stopped here for another reason (it ended, or the driver could not run it). */
  | { readonly type: 'dropped'; readonly meeting: MeetingId };

export type OwnershipOutput =
  /** Try to take the lease. */
  | { readonly type: 'acquire'; readonly meeting: MeetingId }
  /** Announce on the coordination channel that this controller wants the meeting. */
  | { readonly type: 'claim'; readonly meeting: MeetingId }
  /** The lease is held: restore the meeting from the store (or start it) and run it. */
  | { readonly type: 'run'; readonly meeting: MeetingId }
  /** The lease could not be had in time: refuse what waits for the meeting, with a retry hint. */
  | { readonly type: 'give-up'; readonly meeting: MeetingId; readonly retryAfterMs: number }
  /** Renew the lease. */
  | { readonly type: 'renew'; readonly meeting: MeetingId }
  /**
   * Stop running the meeting here. `claimed`: another controller was named for it; delete the
   * lease and announce the release. `lost`: another controller holds the lease already.
   */
  | { readonly type: 'stop'; readonly meeting: MeetingId; readonly reason: 'claimed' | 'lost' };

interface Acquiring {
  readonly meeting: MeetingId;
  backoff: BackoffState;
  /** When to try again; null while an attempt is out. */
  retryAt: number | null;
  claimed: boolean;
}

/** One controller's leases: the meetings it runs and those it is trying to get. */
export class MeetingOwnership {
  private readonly acquiring = new Map<MeetingId, Acquiring>();
  private readonly owned = new Set<MeetingId>();
  private readonly outputs: OwnershipOutput[] = [];
  private nextRenewAt: number | null = null;

  constructor(
    readonly controller: ControllerId,
    private readonly random: RandomSource,
    readonly policy: OwnershipPolicy = DEFAULT_OWNERSHIP_POLICY,
  ) {}

  /** Whether this controller holds the meeting's lease (and so runs it). */
  owns(meeting: MeetingId): boolean {
    return this.owned.has(meeting);
  }

  /** Whether the meeting's lease is being sought. */
  isAcquiring(meeting: MeetingId): boolean {
    return this.acquiring.has(meeting);
  }

  get ownedCount(): number {
    return this.owned.size;
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
        });
        this.outputs.push({ type: 'acquire', meeting });
        return;
      }
      case 'acquired': {
        if (!this.acquiring.delete(meeting)) return;
        this.owned.add(meeting);
        if (this.nextRenewAt === null) this.nextRenewAt = now + this.policy.renewEveryMs;
        this.outputs.push({ type: 'run', meeting });
        return;
      }
      case 'held':
      case 'acquire-failed': {
        const attempt = this.acquiring.get(meeting);
        if (attempt === undefined || attempt.retryAt !== null) return;
        if (input.type === 'held' && input.holder === this.controller) {
          // Our own lease (this process started again under the same id): it is ours.
          return this.handle({ type: 'acquired', meeting }, now);
        }
        if (input.type === 'held' && !attempt.claimed) {
          attempt.claimed = true;
          this.outputs.push({ type: 'claim', meeting });
        }
        const failed = onAttemptFailed(attempt.backoff, now, this.random, this.policy.backoff);
        attempt.backoff = failed.state;
        if (failed.decision.kind === 'give-up') {
          this.acquiring.delete(meeting);
          this.outputs.push({
            type: 'give-up',
            meeting,
            retryAfterMs: this.policy.backoff.capMs,
          });
          return;
        }
        attempt.retryAt = failed.decision.at;
        return;
      }
      case 'released': {
        const attempt = this.acquiring.get(meeting);
        if (attempt === undefined || attempt.retryAt === null) return;
        attempt.retryAt = null;
        this.outputs.push({ type: 'acquire', meeting });
        return;
      }
      case 'claimed': {
        if (input.by === this.controller || !this.owned.delete(meeting)) return;
        this.outputs.push({ type: 'stop', meeting, reason: 'claimed' });
        return;
      }
      case 'renewed': {
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

  handleTimeout(now: number): void {
    for (const attempt of this.acquiring.values()) {
      if (attempt.retryAt === null || attempt.retryAt > now) continue;
      attempt.retryAt = null;
      this.outputs.push({ type: 'acquire', meeting: attempt.meeting });
    }
    if (this.nextRenewAt !== null && this.nextRenewAt <= now) {
      for (const meeting of this.owned) this.outputs.push({ type: 'renew', meeting });
      this.nextRenewAt = this.owned.size === 0 ? null : now + this.policy.renewEveryMs;
    }
  }

  pollOutput(): OwnershipOutput | null {
    return this.outputs.shift() ?? null;
  }

  pollTimeout(): number | null {
    let next = this.owned.size === 0 ? null : this.nextRenewAt;
    for (const attempt of this.acquiring.values()) {
      if (attempt.retryAt !== null && (next === null || attempt.retryAt < next))
        next = attempt.retryAt;
    }
    return next;
  }
}
