/**
 * The Meeting Controller as the MLS Delivery Service (RFC 9420 section 16; spec 003
 * "Security Architecture", MLS key distribution) for one meeting, as a sans-I/O machine:
 * `handle(input, now)` and `handleTimeout(now)` take events, `pollOutput()` gives what to
 * send, `pollTimeout()` the next deadline. Times are milliseconds.
 *
 * The controller holds no group secret, so it never commits. It decides WHEN the group moves
 * to a new epoch and WHO commits it, and it orders commits:
 * - the first member of an empty meeting creates the group (`create-group`, epoch 0);
 * - a joiner brings a key package; a member who left must be removed; a manual request or the
 *   hourly timer asks for a fresh epoch. Pending changes are batched into one request to one
 *   committer: the earliest-joined member not leaving, preferring one that has acknowledged
 *   the current epoch;
 * - every request has an id. A commit names the request it answers and the epoch it was made
 *   in. The first commit for the current epoch that answers an open request is accepted; every
 *   other commit for that epoch is rejected (`superseded`), as is any commit for an older
 *   epoch (`stale-epoch`). The accepted commit goes to the members of the new epoch that were
 *   already in the group (the committer included: it applies its own commit only then), its
 *   welcome to the members it added;
 * - a committer that does not answer within `commitTimeoutMs` is replaced by the next
 *   candidate; its request stays open, so its late commit still wins if it comes first;
 * - a leave cancels every open request that would keep the leaver in the next epoch (or add
 *   it), so no epoch that starts after a leave holds the leaver;
 * - when no member is left, the group is dead; the next joiner creates a new group (the
 *   `group` number counts groups within the meeting).
 *
 * MLS messages are opaque bytes here: the caller reads the two fields the controller needs
 * (the commit's epoch and which request it answers) and passes them in. Core parses no MLS and
 * does no cryptography; the members check every commit themselves.
 */
import type { ParticipantId } from '../ids.ts';
import { OutputQueue } from '../output-queue.ts';

export interface MlsDeliveryConfig {
  /** How long a committer has to answer a request before the next candidate is asked (ms). */
  readonly commitTimeoutMs: number;
  /** Time-based rotation: a fresh epoch when the current one is this old (ms). */
  readonly rotationIntervalMs: number;
}

export const DEFAULT_MLS_DELIVERY_CONFIG: MlsDeliveryConfig = {
  commitTimeoutMs: 5_000,
  rotationIntervalMs: 3_600_000,
};

export type EpochReason = 'create' | 'join' | 'leave' | 'manual' | 'hourly';

export type MlsDeliveryInput =
  /** A participant joined the meeting with an MLS KeyPackage (opaque bytes). */
  | {
      readonly type: 'join';
      readonly participant: ParticipantId;
      readonly keyPackage: Uint8Array;
    }
  | { readonly type: 'leave'; readonly participant: ParticipantId }
  /** Manual rotation request. */
  | { readonly type: 'rotate' }
  /** A member's commit (and welcome, when it adds members) answering `request`. */
  | {
      readonly type: 'commit';
      readonly from: ParticipantId;
      readonly request: number;
      /** The epoch the commit was made in (the MLS message's epoch field). */
      readonly epoch: number;
      readonly commit: Uint8Array;
      readonly welcome: Uint8Array | undefined;
    }
  /** A member reached `epoch` (processed the commit, or joined from the welcome). */
  | { readonly type: 'processed'; readonly participant: ParticipantId; readonly epoch: number };

export interface MemberToAdd {
  readonly participant: ParticipantId;
  readonly keyPackage: Uint8Array;
}

export type CommitRejection =
  /** Another commit for this epoch was accepted, or the request was cancelled. */
  | 'superseded'
  /** The group is past this epoch already. */
  | 'stale-epoch'
  /** The group has not reached this epoch. */
  | 'future-epoch'
  /** No open request with this id went to this sender. */
  | 'not-requested'
  /** The request adds members but the commit came without a welcome. */
  | 'missing-welcome'
  /** The sender is not in the group (yet). */
  | 'not-a-member';

export type MlsDeliveryOutput =
  /** `to` creates the MLS group (epoch 0) with itself as the only member. */
  | { readonly type: 'create-group'; readonly to: ParticipantId; readonly group: number }
  /** `to` commits, in `epoch`, the adds and removes (both may be empty: a plain rotation). */
  | {
      readonly type: 'request-commit';
      readonly to: ParticipantId;
      readonly request: number;
      readonly epoch: number;
      readonly adds: readonly MemberToAdd[];
      readonly removes: readonly ParticipantId[];
    }
  /**
   * The accepted commit that starts `epoch`, for the members who process it, with what the
   * controller asked it to do: each member checks the commit against `from`, `adds` and
   * `removes` and refuses one that does something else.
   */
  | {
      readonly type: 'broadcast-commit';
      readonly to: readonly ParticipantId[];
      readonly from: ParticipantId;
      readonly epoch: number;
      readonly commit: Uint8Array;
      readonly adds: readonly ParticipantId[];
      readonly removes: readonly ParticipantId[];
    }
  /** The welcome into `epoch`, for one member the accepted commit added. */
  | {
      readonly type: 'deliver-welcome';
      readonly to: ParticipantId;
      readonly epoch: number;
      readonly welcome: Uint8Array;
    }
  | {
      readonly type: 'commit-rejected';
      readonly to: ParticipantId;
      readonly request: number;
      readonly epoch: number;
      readonly reason: CommitRejection;
    }
  /** A new epoch is in force, with exactly these members (for records and invariants). */
  | {
      readonly type: 'epoch-started';
      readonly group: number;
      readonly epoch: number;
      readonly members: readonly ParticipantId[];
      readonly reasons: readonly EpochReason[];
    };

/** Bad input: refused, nothing changed. */
export type MlsDeliveryError =
  | { readonly kind: 'empty-key-package'; readonly participant: ParticipantId }
  | { readonly kind: 'empty-commit'; readonly from: ParticipantId };

/**
 * What of the delivery service survives its controller (written with the meeting's snapshot,
 * `core/mc/snapshot.ts`): the group, its epoch and members, who has acknowledged which epoch,
 * the changes still to commit and the request counter. No group secret: the controller holds
 * none. Open requests are not kept: the controller that takes over asks again, under a request
 * id above every one asked before, so a late commit for an old request is `superseded`.
 */
export interface MlsDeliveryState {
  /** The current group's number; -1 before the first. */
  readonly group: number;
  readonly epoch: number;
  /** When the current epoch started (ms): the hourly rotation counts from it. */
  readonly epochStartedAt: number;
  /** The group's members in the current epoch, in order of joining; empty: no group. */
  readonly members: readonly ParticipantId[];
  /** The epoch each member last reported reaching. */
  readonly synced: readonly (readonly [ParticipantId, number])[];
  /** Participants waiting to be added, in order of joining, with their key packages. */
  readonly joining: readonly MemberToAdd[];
  /** Members who left and are still in the group. */
  readonly leaving: readonly ParticipantId[];
  readonly rotation: 'manual' | 'hourly' | null;
  /** The id the next request takes (above every id asked before). */
  readonly nextRequest: number;
}

interface CommitRequest {
  readonly id: number;
  readonly to: ParticipantId;
  readonly epoch: number;
  readonly adds: readonly MemberToAdd[];
  readonly removes: readonly ParticipantId[];
  readonly reasons: readonly EpochReason[];
}

/** The delivery service of one meeting's MLS group. */
export class MlsDelivery {
  /** Number of the current group within the meeting; -1 before the first. */
  private groupNumber = -1;
  /** The group's members in the current epoch, in order of joining; empty: no group. */
  private members: ParticipantId[] = [];
  private epochNumber = 0;
  private epochStartedAt = 0;
  /** The epoch each member last reported reaching. */
  private readonly synced = new Map<ParticipantId, number>();
  /** Participants waiting to be added, in order of joining, with their key packages. */
  private readonly joining = new Map<ParticipantId, Uint8Array>();
  /** Members who left and are still in the group. */
  private readonly leaving = new Set<ParticipantId>();
  private rotation: 'manual' | 'hourly' | undefined;
  /** Requests for the current epoch that a commit may still answer. */
  private readonly open = new Map<number, CommitRequest>();
  /** The request last sent and when its committer's time is up. */
  private current: { readonly request: CommitRequest; readonly deadline: number } | undefined;
  /** Committers that timed out on the current epoch, in order. */
  private readonly silent = new Set<ParticipantId>();
  private nextRequestId = 1;
  /** Restored from a snapshot: the work left is asked for at this deadline. */
  private resumeAt: number | undefined;
  private readonly outputs = new OutputQueue<MlsDeliveryOutput>();

  constructor(readonly config: MlsDeliveryConfig = DEFAULT_MLS_DELIVERY_CONFIG) {}

  /** The current group's number (-1 before any) and epoch. */
  get group(): number {
    return this.groupNumber;
  }

  get epoch(): number | undefined {
    return this.members.length === 0 ? undefined : this.epochNumber;
  }

  /** The group's members in the current epoch, in order of joining. */
  groupMembers(): ParticipantId[] {
    return [...this.members];
  }

  /** The state a controller taking the meeting over restores (see {@link MlsDeliveryState}). */
  durableState(): MlsDeliveryState {
    return {
      group: this.groupNumber,
      epoch: this.epochNumber,
      epochStartedAt: this.epochStartedAt,
      members: [...this.members],
      synced: [...this.synced],
      joining: [...this.joining].map(([participant, keyPackage]) => ({ participant, keyPackage })),
      leaving: [...this.leaving],
      rotation: this.rotation ?? null,
      nextRequest: this.nextRequestId,
    };
  }

  /**
   * Takes over `state` (checked by the caller, `core/mc/snapshot.ts`) in a machine that has
   * handled nothing. `gone` are group members whose sessions ended while no controller ran the
   * meeting: they are removed like leavers. Work left (changes to commit, a rotation) is asked
   * for at the first deadline, at `now`: no request of the failed controller is answered here.
   */
  restore(state: MlsDeliveryState, gone: readonly ParticipantId[], now: number): void {
    this.groupNumber = state.group;
    this.epochNumber = state.epoch;
    this.epochStartedAt = state.epochStartedAt;
    this.members = [...state.members];
    this.synced.clear();
    for (const [participant, epoch] of state.synced) this.synced.set(participant, epoch);
    this.joining.clear();
    for (const add of state.joining) this.joining.set(add.participant, add.keyPackage);
    this.leaving.clear();
    for (const participant of state.leaving) this.leaving.add(participant);
    this.rotation = state.rotation ?? undefined;
    this.nextRequestId = state.nextRequest;
    this.open.clear();
    this.current = undefined;
    this.silent.clear();
    for (const participant of gone) this.leave(participant, now);
    this.resumeAt = now;
  }

  /** Applies `input` at `now`; bad input is refused with a typed error and changes nothing. */
  handle(input: MlsDeliveryInput, now: number): MlsDeliveryError | undefined {
    switch (input.type) {
      case 'join':
        if (input.keyPackage.length === 0)
          return { kind: 'empty-key-package', participant: input.participant };
        this.join(input.participant, input.keyPackage, now);
        break;
      case 'leave':
        this.leave(input.participant, now);
        break;
      case 'rotate':
        if (this.members.length > 0) this.rotation = 'manual';
        break;
      case 'commit':
        if (input.commit.length === 0) return { kind: 'empty-commit', from: input.from };
        this.commit(input, now);
        break;
      case 'processed':
        if (this.members.includes(input.participant) && input.epoch <= this.epochNumber) {
          const before = this.synced.get(input.participant) ?? -1;
          if (input.epoch > before) this.synced.set(input.participant, input.epoch);
        }
        break;
    }
    this.progress(now);
    return undefined;
  }

  handleTimeout(now: number): void {
    if (this.resumeAt !== undefined && this.resumeAt <= now) this.resumeAt = undefined;
    if (this.current !== undefined && this.current.deadline <= now) {
      this.silent.add(this.current.request.to);
      this.current = undefined;
    }
    if (this.members.length > 0 && this.rotation === undefined && this.hourlyDue() <= now)
      this.rotation = 'hourly';
    this.progress(now);
  }

  pollOutput(): MlsDeliveryOutput | null {
    return this.outputs.poll();
  }

  pollTimeout(): number | null {
    let next: number | null = this.resumeAt ?? null;
    if (this.current !== undefined && (next === null || this.current.deadline < next))
      next = this.current.deadline;
    if (this.members.length > 0 && this.rotation === undefined) {
      const hourly = this.hourlyDue();
      if (next === null || hourly < next) next = hourly;
    }
    return next;
  }

  private hourlyDue(): number {
    return this.epochStartedAt + this.config.rotationIntervalMs;
  }

  private join(participant: ParticipantId, keyPackage: Uint8Array, now: number): void {
    // Joining again means the old MLS state is lost: the old leaf (or key package) goes, the
    // new key package comes in.
    this.leave(participant, now);
    this.joining.set(participant, keyPackage);
  }

  private leave(participant: ParticipantId, _now: number): void {
    const wasJoining = this.joining.delete(participant);
    const isMember = this.members.includes(participant) && !this.leaving.has(participant);
    if (!wasJoining && !isMember) return;
    if (isMember) this.leaving.add(participant);
    // No request may keep a leaver in, or bring it into, the next epoch.
    for (const [id, request] of this.open) {
      const adds = request.adds.some((a) => a.participant === participant);
      const keeps = isMember && !request.removes.includes(participant);
      if (adds || keeps || request.to === participant) this.open.delete(id);
    }
    if (this.current !== undefined && !this.open.has(this.current.request.id))
      this.current = undefined;
  }

  private commit(input: Extract<MlsDeliveryInput, { type: 'commit' }>, now: number): void {
    const reject = (reason: CommitRejection): void => {
      this.outputs.push({
        type: 'commit-rejected',
        to: input.from,
        request: input.request,
        epoch: input.epoch,
        reason,
      });
    };
    // A member who left hears nothing more; anyone else outside the group is told so.
    if (this.leaving.has(input.from)) return;
    if (!this.members.includes(input.from)) return reject('not-a-member');
    if (input.epoch < this.epochNumber) return reject('stale-epoch');
    if (input.epoch > this.epochNumber) return reject('future-epoch');
    const request = this.open.get(input.request);
    if (request === undefined) {
      // Asked for this epoch once, but another commit won or a leave cancelled the request.
      return reject(input.request < this.nextRequestId ? 'superseded' : 'not-requested');
    }
    if (request.to !== input.from) return reject('not-requested');
    if (request.adds.length > 0 && (input.welcome === undefined || input.welcome.length === 0))
      return reject('missing-welcome');
    this.accept(request, input.commit, input.welcome, now);
  }

  private accept(
    request: CommitRequest,
    commit: Uint8Array,
    welcome: Uint8Array | undefined,
    now: number,
  ): void {
    // Every other open request for this epoch loses; tell those committers.
    for (const other of this.open.values()) {
      if (other.id === request.id) continue;
      this.outputs.push({
        type: 'commit-rejected',
        to: other.to,
        request: other.id,
        epoch: other.epoch,
        reason: 'superseded',
      });
    }
    this.open.clear();
    this.current = undefined;
    this.silent.clear();

    const removed = new Set(request.removes);
    const stayed = this.members.filter((m) => !removed.has(m));
    const added = request.adds.map((a) => a.participant);
    for (const p of removed) {
      this.leaving.delete(p);
      this.synced.delete(p);
    }
    // A request whose key package was replaced (a second join) was cancelled by that join.
    for (const p of added) this.joining.delete(p);
    this.epochNumber = request.epoch + 1;
    this.epochStartedAt = now;
    this.members = [...stayed, ...added];
    if (request.reasons.includes('manual') || request.reasons.includes('hourly'))
      this.rotation = undefined;
    this.outputs.push({
      type: 'broadcast-commit',
      to: stayed,
      from: request.to,
      epoch: this.epochNumber,
      commit,
      adds: added,
      removes: request.removes,
    });
    if (welcome !== undefined && welcome.length > 0) {
      for (const p of added)
        this.outputs.push({ type: 'deliver-welcome', to: p, epoch: this.epochNumber, welcome });
    }
    this.outputs.push({
      type: 'epoch-started',
      group: this.groupNumber,
      epoch: this.epochNumber,
      members: [...this.members],
      reasons: request.reasons,
    });
  }

  /** Starts a group, or asks for the next commit, when there is work and nobody is on it. */
  private progress(now: number): void {
    if (this.members.length > 0 && this.members.every((m) => this.leaving.has(m))) this.dissolve();
    if (this.members.length === 0) {
      const first = this.joining.keys().next();
      if (first.done === true) return;
      this.createGroup(first.value, now);
    }
    if (this.current !== undefined) return;
    const staying = this.members.filter((m) => !this.leaving.has(m));
    const adds = [...this.joining].map(([participant, keyPackage]) => ({
      participant,
      keyPackage,
    }));
    const removes = this.members.filter((m) => this.leaving.has(m));
    const reasons: EpochReason[] = [];
    if (adds.length > 0) reasons.push('join');
    if (removes.length > 0) reasons.push('leave');
    if (this.rotation !== undefined) reasons.push(this.rotation);
    if (reasons.length === 0) return;
    const to = this.pickCommitter(staying);
    const request: CommitRequest = {
      id: this.nextRequestId++,
      to,
      epoch: this.epochNumber,
      adds,
      removes,
      reasons,
    };
    this.open.set(request.id, request);
    this.current = { request, deadline: now + this.config.commitTimeoutMs };
    this.outputs.push({
      type: 'request-commit',
      to,
      request: request.id,
      epoch: request.epoch,
      adds,
      removes,
    });
  }

  /**
   * The earliest-joined staying member that has not timed out on this epoch, preferring one
   * that has acknowledged the current epoch; when every one has timed out, start over.
   */
  private pickCommitter(staying: readonly ParticipantId[]): ParticipantId {
    let candidates = staying.filter((m) => !this.silent.has(m));
    if (candidates.length === 0) {
      this.silent.clear();
      candidates = [...staying];
    }
    const synced = candidates.find((m) => this.synced.get(m) === this.epochNumber);
    return synced ?? (candidates[0] as ParticipantId);
  }

  private createGroup(creator: ParticipantId, now: number): void {
    this.joining.delete(creator);
    this.groupNumber++;
    this.members = [creator];
    this.epochNumber = 0;
    this.epochStartedAt = now;
    this.synced.set(creator, 0);
    this.outputs.push({ type: 'create-group', to: creator, group: this.groupNumber });
    this.outputs.push({
      type: 'epoch-started',
      group: this.groupNumber,
      epoch: 0,
      members: [creator],
      reasons: ['create'],
    });
  }

  /** Every member left: nobody holds the group's state any more. */
  private dissolve(): void {
    this.members = [];
    this.leaving.clear();
    this.synced.clear();
    this.open.clear();
    this.current = undefined;
    this.silent.clear();
    this.rotation = undefined;
  }
}
