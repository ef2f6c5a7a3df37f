/**
 * The driver of core's `MeetingOwnership` and of meeting snapshots (`core/mc/snapshot.ts`):
 * carries out the ownership machine's outputs against the store and the coordination channel
 * (the controller lease renewed, meeting records taken, checked and refreshed), restores a
 * meeting it is told to run from the stored snapshot, and writes each meeting's snapshot after
 * it changed (at most one write in flight per meeting; what changed meanwhile is written next,
 * latest state only). It decides nothing: when to take, retry, renew, refresh, give up or let a
 * meeting go is the ownership machine's; what a snapshot holds and whether a stored one may be
 * restored is core's snapshot module's.
 */
import type { ControllerId, MeetingId, RegionId } from '../../core/ids.ts';
import type { ControllerEndpoint } from '../../core/mc/endpoint.ts';
import {
  sameHolder,
  type Holder,
  type MeetingOwnership,
  type OwnershipOutput,
} from '../../core/mc/ownership.ts';
import {
  liveSessions,
  restoreMeeting,
  snapshotMeeting,
  type MeetingSnapshot,
} from '../../core/mc/snapshot.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import type { MeetingCoordination, MeetingStateEraser, MeetingStateStore } from '../../ports/mc.ts';
import type { Clock } from '../shared/clock.ts';
import type { ControllerDriver, MeetingGate } from './driver.ts';

type Outcome = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

/** A join refused because the store could not be read is retried after this (ms). */
const STORE_RETRY_MS = 1_000;

/** Counters for `/metrics`. */
export interface MeetingStateCounts {
  restored: number;
  started: number;
  /** Stored records refused (tampered, foreign, unreadable), by kind. */
  refused: Record<string, number>;
  writes: number;
  writeFailures: number;
  takenOver: number;
  released: number;
}

export class MeetingStateKeeper implements MeetingGate {
  private driver: ControllerDriver | undefined;
  private readonly ready = new Set<MeetingId>();
  private readonly waiting = new Map<MeetingId, ((outcome: Outcome) => void)[]>();
  private readonly dirty = new Set<MeetingId>();
  private readonly writing = new Set<MeetingId>();
  /**
   * Each meeting's last written snapshot (its fingerprint: unchanged state is not rewritten) and
   * the sessions written with it.
   */
  private readonly written = new Map<MeetingId, { fingerprint: string; sessions: string }>();
  private writeScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly counts: MeetingStateCounts = {
    restored: 0,
    started: 0,
    refused: {},
    writes: 0,
    writeFailures: 0,
    takenOver: 0,
    released: 0,
  };

  constructor(
    private readonly ownership: MeetingOwnership,
    private readonly store: MeetingStateStore,
    private readonly coordination: MeetingCoordination,
    private readonly endpoint: ControllerEndpoint,
    private readonly region: RegionId,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Deletes the stored state of a meeting that ended. */
    private readonly eraser?: MeetingStateEraser,
  ) {}

  private get controller(): ControllerId {
    return this.ownership.controller;
  }

  private get holder(): Holder {
    return this.ownership.holder;
  }

  /** Starts listening to the other controllers; the driver carries out releases and adoptions. */
  async start(driver: ControllerDriver): Promise<void> {
    this.driver = driver;
    // The controller lease first: meetings are taken once it is held, channel or not.
    this.ownership.start(this.clock.now());
    this.pump();
    await this.coordination.subscribe(
      (message) => {
        if (message.by === this.controller) return;
        const now = this.clock.now();
        if (message.type === 'claim')
          this.ownership.handle({ type: 'claimed', meeting: message.meeting, by: message.by }, now);
        else
          this.ownership.handle(
            { type: 'released', meeting: message.meeting, by: message.by },
            now,
          );
        this.pump();
      },
      (detail) => this.refused('coordination-message', detail),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const [meeting, waiters] of this.waiting) {
      this.waiting.delete(meeting);
      for (const then of waiters) then({ ok: false, retryAfterMs: STORE_RETRY_MS });
    }
    // Its meetings are free to take at once, not a lease later.
    await this.store
      .releaseLease(this.holder)
      .catch((error: unknown) => this.logger.warn({ err: error }, 'controller lease not released'));
    await this.coordination.close();
  }

  get runningCount(): number {
    return this.ready.size;
  }

  runs(meeting: MeetingId): boolean {
    return this.ready.has(meeting);
  }

  want(meeting: MeetingId, then: (outcome: Outcome) => void): void {
    if (this.stopped) return then({ ok: false, retryAfterMs: STORE_RETRY_MS });
    if (this.ready.has(meeting)) return then({ ok: true });
    const waiters = this.waiting.get(meeting);
    if (waiters !== undefined) waiters.push(then);
    else this.waiting.set(meeting, [then]);
    this.ownership.handle({ type: 'wanted', meeting }, this.clock.now());
    this.pump();
  }

  changed(meeting: MeetingId): void {
    if (!this.ready.has(meeting)) return;
    this.dirty.add(meeting);
    this.scheduleWrites();
  }

  private scheduleWrites(): void {
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    // One write per meeting for everything one turn of the event loop changed.
    setImmediate(() => {
      this.writeScheduled = false;
      this.writeDirty();
    });
  }

  /**
   * The meeting ended (core said so): it stops running here (no lease renewal, no snapshot
   * write), and its stored snapshot and record are deleted. Writes already sent go first (one
   * connection, in order); joins waiting for it are let through to core, which rejects them.
   */
  ended(meeting: MeetingId): void {
    this.ownership.handle({ type: 'dropped', meeting }, this.clock.now());
    this.ready.delete(meeting);
    this.dirty.delete(meeting);
    this.written.delete(meeting);
    this.answer(meeting, { ok: true });
    this.pump();
    this.eraser?.erase(meeting, this.holder).then(
      (erased) => {
        if (!erased)
          this.logger.warn({ meeting_id: meeting }, 'ended meeting held by another controller');
      },
      (error: unknown) =>
        this.logger.warn({ err: error, meeting_id: meeting }, 'ended meeting state not deleted'),
    );
  }

  // ---------------------------------------------------------------- carrying out outputs

  private pump(): void {
    if (this.stopped) return;
    for (let output = this.ownership.pollOutput(); output !== null;) {
      this.carryOut(output);
      output = this.ownership.pollOutput();
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.ownership.pollTimeout();
    if (at === null || this.stopped) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.ownership.handleTimeout(this.clock.now());
        this.pump();
      },
      Math.max(0, at - this.clock.now()),
    );
  }

  private answer(meeting: MeetingId, outcome: Outcome): void {
    const waiters = this.waiting.get(meeting) ?? [];
    this.waiting.delete(meeting);
    for (const then of waiters) then(outcome);
  }

  private carryOut(output: OwnershipOutput): void {
    const policy = this.ownership.policy;
    if (output.type === 'renew-lease') {
      this.store.renewLease(this.holder, policy.leaseMs).then(
        (previous) => {
          this.ownership.handleLease({ previous }, this.clock.now());
          this.pump();
        },
        (error: unknown) => this.logger.warn({ err: error }, 'controller lease not renewed'),
      );
      // Snapshots whose write failed are written again.
      if (this.dirty.size > 0) this.scheduleWrites();
      return;
    }
    const meeting = output.meeting;
    switch (output.type) {
      case 'acquire':
        this.store.acquire(meeting, this.holder, policy.holdMs, output.lapsed).then(
          (holder) => {
            const now = this.clock.now();
            if (sameHolder(holder, this.holder))
              this.ownership.handle({ type: 'acquired', meeting }, now);
            else this.ownership.handle({ type: 'held', meeting, holder }, now);
            this.pump();
          },
          (error: unknown) => {
            this.logger.warn({ err: error, meeting_id: meeting }, 'meeting lease unavailable');
            this.ownership.handle({ type: 'acquire-failed', meeting }, this.clock.now());
            this.pump();
          },
        );
        return;
      case 'check-holder':
        this.store.holderAlive(output.holder).then(
          (alive) => {
            this.ownership.handle(
              { type: 'holder-checked', meeting, holder: output.holder, alive },
              this.clock.now(),
            );
            this.pump();
          },
          (error: unknown) => {
            this.logger.warn({ err: error, meeting_id: meeting }, 'meeting holder unchecked');
            this.ownership.handle({ type: 'acquire-failed', meeting }, this.clock.now());
            this.pump();
          },
        );
        return;
      case 'claim':
        this.coordination
          .publish({ type: 'claim', meeting, by: this.controller })
          .catch((error: unknown) => this.logger.warn({ err: error }, 'claim not published'));
        return;
      case 'run':
        void this.run(meeting);
        return;
      case 'give-up':
        this.logger.warn(
          { meeting_id: meeting },
          'meeting held by another controller; joins refused',
        );
        this.answer(meeting, { ok: false, retryAfterMs: output.retryAfterMs });
        return;
      case 'keep':
        this.store.keep(meeting, this.holder, policy.holdMs).then(
          (holder) => {
            this.ownership.handle(
              { type: 'kept', meeting, held: sameHolder(holder, this.holder) },
              this.clock.now(),
            );
            this.pump();
          },
          (error: unknown) =>
            this.logger.warn({ err: error, meeting_id: meeting }, 'meeting record not refreshed'),
        );
        return;
      case 'stop':
        void this.letGo(meeting, output.reason);
        return;
    }
  }

  /** The lease is ours: restore the meeting from its snapshot (or start it), then feed waiters. */
  private async run(meeting: MeetingId): Promise<void> {
    const driver = this.driver;
    if (driver === undefined) return;
    let stored;
    try {
      stored = await this.store.read(meeting);
    } catch (error) {
      this.logger.warn({ err: error, meeting_id: meeting }, 'meeting state unreadable now');
      this.ownership.handle({ type: 'dropped', meeting }, this.clock.now());
      await this.store.release(meeting, this.holder).catch(() => undefined);
      this.answer(meeting, { ok: false, retryAfterMs: STORE_RETRY_MS });
      this.pump();
      return;
    }
    if (this.stopped || !this.ownership.owns(meeting)) return;
    if (!stored.ok) {
      this.refused(stored.error.kind, stored.error.detail, meeting);
    } else if (stored.value !== undefined) {
      this.restore(driver, meeting, stored.value);
    }
    if (!this.ready.has(meeting)) this.counts.started++;
    this.ready.add(meeting);
    this.answer(meeting, { ok: true });
    // Written at once, so the lease and the snapshot agree from the start.
    this.changed(meeting);
  }

  private restore(driver: ControllerDriver, meeting: MeetingId, snapshot: MeetingSnapshot): void {
    const now = this.clock.now();
    const config = { ...this.endpoint.config.meetings, meeting, region: this.region };
    const restored = restoreMeeting(snapshot, config, this.endpoint.handlers, now);
    if (!restored.ok) {
      const error = restored.error;
      const detail =
        error.kind === 'foreign-meeting'
          ? `record names meeting ${error.found.slice(0, 64)}`
          : error.kind === 'unsupported-version'
            ? `version ${error.version}`
            : error.reason;
      this.refused(error.kind, detail, meeting);
      return;
    }
    this.counts.restored++;
    if (snapshot.members.length > 0) this.counts.takenOver++;
    this.logger.info(
      { meeting_id: meeting, members: restored.value.memberCount },
      'meeting restored from the store',
    );
    this.ready.add(meeting);
    driver.adopt(restored.value);
  }

  /** A stored record refused: counted and logged; the meeting starts afresh over it. */
  private refused(kind: string, detail: string, meeting?: MeetingId): void {
    this.counts.refused[kind] = (this.counts.refused[kind] ?? 0) + 1;
    this.logger.warn({ meeting_id: meeting, kind, detail }, 'stored meeting record refused');
  }

  private async letGo(meeting: MeetingId, reason: 'claimed' | 'lost'): Promise<void> {
    const driver = this.driver;
    const machine = this.endpoint.meeting(meeting);
    // The last state is written before the lease goes, so the next controller reads it.
    if (reason === 'claimed' && machine !== undefined) {
      const now = this.clock.now();
      const snapshot = snapshotMeeting(machine, now);
      await this.store
        .write(
          this.store.encode(snapshot),
          this.holder,
          this.sessionsOf(snapshot, now),
          this.ownership.policy.holdMs,
        )
        .catch((error: unknown) => this.logger.warn({ err: error }, 'last snapshot not written'));
    }
    this.ready.delete(meeting);
    this.dirty.delete(meeting);
    this.written.delete(meeting);
    driver?.releaseMeeting(meeting);
    this.counts.released++;
    this.logger.info({ meeting_id: meeting, reason }, 'meeting let go to another controller');
    if (reason !== 'claimed') return;
    try {
      await this.store.release(meeting, this.holder);
      await this.coordination.publish({ type: 'released', meeting, by: this.controller });
    } catch (error) {
      this.logger.warn({ err: error, meeting_id: meeting }, 'release not announced');
    }
  }

  private sessionsOf(snapshot: MeetingSnapshot, now: number) {
    return liveSessions(snapshot, this.endpoint.config.meetings.sessionTtlMs, now);
  }

  /**
   * Writes each changed meeting: at most one write in flight per meeting, and what changed
   * while one was out written after it (the latest state only). Unchanged state is not written
   * again; the members' sessions go with a snapshot only when they changed since the last one
   * written (or none was, since this controller took the meeting).
   */
  private writeDirty(): void {
    for (const meeting of this.dirty) {
      if (this.writing.has(meeting)) continue;
      this.dirty.delete(meeting);
      const machine = this.endpoint.meeting(meeting);
      if (machine === undefined || !this.ready.has(meeting)) continue;
      const now = this.clock.now();
      const snapshot = snapshotMeeting(machine, now);
      const encoded = this.store.encode(snapshot);
      const last = this.written.get(meeting);
      if (last?.fingerprint === encoded.fingerprint) continue;
      const sessions = this.sessionsOf(snapshot, now);
      const sessionsSignature = sessions.map((s) => `${s.participant}@${s.lastSeenAt}`).join(',');
      const sessionsChanged = last?.sessions !== sessionsSignature;
      this.writing.add(meeting);
      this.store
        .write(encoded, this.holder, sessionsChanged ? sessions : [], this.ownership.policy.holdMs)
        .then(
          (held) => {
            this.writing.delete(meeting);
            if (!held) {
              this.ownership.handle({ type: 'kept', meeting, held: false }, this.clock.now());
              this.pump();
              return;
            }
            this.counts.writes++;
            if (this.ready.has(meeting))
              this.written.set(meeting, {
                fingerprint: encoded.fingerprint,
                sessions: sessionsSignature,
              });
            if (this.dirty.has(meeting)) this.scheduleWrites();
          },
          (error: unknown) => {
            this.writing.delete(meeting);
            this.counts.writeFailures++;
            // Kept dirty: written again with the next lease renewal.
            if (this.ready.has(meeting)) this.dirty.add(meeting);
            this.logger.warn({ err: error, meeting_id: meeting }, 'meeting snapshot not written');
          },
        );
    }
  }
}
