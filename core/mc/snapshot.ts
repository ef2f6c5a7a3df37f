/**
 * What of a meeting survives its controller (spec 003 "Meeting Controller", "Failure
 * Scenarios" 2): the meeting's state is written to the shared store as a snapshot, and a
 * controller that takes the meeting over restores a machine from it.
 *
 * Persisted: the members (region, join order, what each publishes, its layout, the handler it
 * reported its media session on, when it was last heard), who left, the active speakers, the
 * join-order and route-command counters, the next media-key epoch number and every leg the
 * handlers may hold for the meeting.
 *
 * Not persisted, on purpose: the plans themselves (the adopting controller plans again with its
 * own view of the handlers; the restored legs are what its first transition removes when the
 * new plan does not keep them), unacknowledged commands and keys (the first transition re-adds
 * every leg, and a new key epoch starts for the restored members), and the key material (the
 * controller never holds a group secret).
 *
 * A snapshot read back is checked before anything is restored from it: a record of another
 * meeting, of an unknown version, or not self-consistent is refused with a typed error, and
 * the meeting is not restored from it.
 */
import type { HandlerId, MediaKind, MeetingId, ParticipantId, RegionId } from '../ids.ts';
import type { LayoutRequest } from '../layout/types.ts';
import { err, ok, type Result } from '../result.ts';
import type { Route } from '../routing/types.ts';
import type { HandlerView } from './handlers.ts';
import { MeetingMachine, type MeetingConfig } from './meeting.ts';

export const MEETING_SNAPSHOT_VERSION = 1;

/** Who left, at most this many (the most recent): layouts may keep a departed member pinned. */
export const MAX_DEPARTED_KEPT = 256;

export interface MemberSnapshot {
  readonly id: ParticipantId;
  readonly region: RegionId;
  readonly joinOrder: number;
  readonly publishes: readonly MediaKind[];
  readonly layout: LayoutRequest;
  readonly connectedHandler: HandlerId | null;
  /** When the member was last heard (ms): its session expires a TTL after it. */
  readonly lastSeenAt: number;
}

/** One meeting's persisted state. */
export interface MeetingSnapshot {
  readonly version: typeof MEETING_SNAPSHOT_VERSION;
  readonly meeting: MeetingId;
  readonly region: RegionId;
  /** When it was taken (ms). */
  readonly takenAt: number;
  readonly nextJoinOrder: number;
  readonly nextCommandId: number;
  readonly nextKeyEpoch: number;
  /** In join order. */
  readonly members: readonly MemberSnapshot[];
  readonly departed: readonly ParticipantId[];
  readonly activeSpeakers: readonly ParticipantId[];
  readonly legs: readonly Route[];
}

/** Why a snapshot read back is not restored. */
export type SnapshotError =
  | { readonly kind: 'foreign-meeting'; readonly expected: MeetingId; readonly found: string }
  | { readonly kind: 'unsupported-version'; readonly version: number }
  | { readonly kind: 'inconsistent'; readonly reason: string };

/** The meeting's state now, to be written to the shared store. */
export function snapshotMeeting(machine: MeetingMachine, now: number): MeetingSnapshot {
  const durable = machine.durableState();
  const lastSeen = new Map(durable.lastSeen);
  const roster = machine.roster;
  return {
    version: MEETING_SNAPSHOT_VERSION,
    meeting: machine.id,
    region: machine.config.region,
    takenAt: now,
    nextJoinOrder: durable.nextJoinOrder,
    nextCommandId: durable.nextCommandId,
    nextKeyEpoch: durable.nextKeyEpoch,
    members: [...roster.members.values()].map((member) => ({
      id: member.id,
      region: member.region,
      joinOrder: member.joinOrder,
      publishes: [...member.publishes],
      layout: member.layout,
      connectedHandler: member.connectedHandler ?? null,
      lastSeenAt: lastSeen.get(member.id) ?? now,
    })),
    departed: roster.departed.slice(-MAX_DEPARTED_KEPT),
    activeSpeakers: [...roster.activeSpeakers],
    legs: durable.legs,
  };
}

/**
 * Whether `snapshot`, read from `meeting`'s record, may be restored: it names that meeting, is
 * of this version, and holds together (members unique, join orders unique and below the
 * counter, counters non-negative integers, speakers and departed not members twice over).
 */
export function checkSnapshot(
  snapshot: MeetingSnapshot,
  meeting: MeetingId,
): Result<MeetingSnapshot, SnapshotError> {
  if (snapshot.version !== MEETING_SNAPSHOT_VERSION)
    return err({ kind: 'unsupported-version', version: snapshot.version });
  if (snapshot.meeting !== meeting)
    return err({ kind: 'foreign-meeting', expected: meeting, found: snapshot.meeting });
  const inconsistent = (reason: string) => err({ kind: 'inconsistent' as const, reason });
  const counter = (value: number) => Number.isSafeInteger(value) && value >= 0;
  if (!counter(snapshot.nextJoinOrder) || !counter(snapshot.nextKeyEpoch))
    return inconsistent('counters must be non-negative integers');
  if (!counter(snapshot.nextCommandId) || snapshot.nextCommandId < 1)
    return inconsistent('the command counter starts at 1');
  if (snapshot.departed.length > MAX_DEPARTED_KEPT)
    return inconsistent(`at most ${MAX_DEPARTED_KEPT} departed`);
  const ids = new Set<string>();
  const orders = new Set<number>();
  let previousOrder = -1;
  for (const member of snapshot.members) {
    if (ids.has(member.id)) return inconsistent(`member ${member.id} listed twice`);
    ids.add(member.id);
    if (!counter(member.joinOrder) || member.joinOrder >= snapshot.nextJoinOrder)
      return inconsistent(`member ${member.id}: join order beyond the counter`);
    if (orders.has(member.joinOrder) || member.joinOrder < previousOrder)
      return inconsistent(`member ${member.id}: join orders must increase`);
    orders.add(member.joinOrder);
    previousOrder = member.joinOrder;
    if (!Number.isFinite(member.lastSeenAt) || member.lastSeenAt > snapshot.takenAt)
      return inconsistent(`member ${member.id}: last heard after the snapshot`);
    if (new Set(member.publishes).size !== member.publishes.length)
      return inconsistent(`member ${member.id}: a kind published twice`);
  }
  if (new Set(snapshot.activeSpeakers).size !== snapshot.activeSpeakers.length)
    return inconsistent('a speaker listed twice');
  if (snapshot.activeSpeakers.length > 8) return inconsistent('at most eight speakers');
  return ok(snapshot);
}

/**
 * A machine for `config.meeting` restored from its checked snapshot, seeing the handlers
 * through `handlers` (the adopting controller's view). It has handled nothing: the controller
 * adopts it (`ControllerEndpoint` input `adopt`), and the next input plans it afresh. Members
 * whose session ran out before `now` are not restored (their sessions have expired).
 */
export function restoreMeeting(
  snapshot: MeetingSnapshot,
  config: MeetingConfig,
  handlers: HandlerView,
  now: number,
): Result<MeetingMachine, SnapshotError> {
  const checked = checkSnapshot(snapshot, config.meeting);
  if (!checked.ok) return checked;
  const machine = new MeetingMachine(config, handlers);
  const roster = machine.roster;
  const lastSeen: [ParticipantId, number][] = [];
  for (const member of snapshot.members) {
    if (member.lastSeenAt + config.sessionTtlMs <= now) {
      roster.departed.push(member.id);
      continue;
    }
    roster.members.set(member.id, {
      id: member.id,
      region: member.region,
      joinOrder: member.joinOrder,
      publishes: [...member.publishes],
      layout: member.layout,
      assignment: undefined,
      connectedHandler: member.connectedHandler ?? undefined,
      movingTo: undefined,
    });
    lastSeen.push([member.id, member.lastSeenAt]);
  }
  roster.departed.unshift(...snapshot.departed);
  roster.activeSpeakers = snapshot.activeSpeakers.filter((p) => roster.members.has(p));
  machine.restoreDurableState(
    {
      nextJoinOrder: snapshot.nextJoinOrder,
      nextCommandId: snapshot.nextCommandId,
      nextKeyEpoch: snapshot.nextKeyEpoch,
      lastSeen,
      legs: snapshot.legs,
    },
    now,
  );
  return ok(machine);
}

/** A member's session as the snapshot holds it: it lives `ttlMs` more (ms). */
export interface LiveSession {
  readonly participant: ParticipantId;
  readonly lastSeenAt: number;
  readonly ttlMs: number;
}

/**
 * The sessions of the snapshot's members still alive at `now`, each with the time it has left:
 * written with the snapshot, so a session key whose own write was lost (a store failover) is
 * there again with the next snapshot, expiring when the member's session does.
 */
export function liveSessions(
  snapshot: MeetingSnapshot,
  sessionTtlMs: number,
  now: number,
): LiveSession[] {
  const sessions: LiveSession[] = [];
  for (const member of snapshot.members) {
    const ttlMs = member.lastSeenAt + sessionTtlMs - now;
    if (ttlMs > 0) sessions.push({ participant: member.id, lastSeenAt: member.lastSeenAt, ttlMs });
  }
  return sessions;
}
