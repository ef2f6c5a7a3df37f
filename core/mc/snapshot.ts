/**
 * What of a meeting survives its controller (spec 003 "Meeting Controller", "Failure
 * Scenarios" 2): the meeting's state is written to the shared store as a snapshot, and a
 * controller that takes the meeting over restores a machine from it.
 *
 * Persisted: the members (region, join order, what each publishes, its layout, the handler it
 * reported its media session on, when it was last heard), who left, the active speakers, the
 * join-order and route-command counters, the next media-key epoch number, every leg the
 * handlers may hold for the meeting, and (version 2) the MLS delivery service's state: the
 * group's number, epoch and members, who acknowledged which epoch, the key packages of members
 * still to be added, who is to be removed, a rotation asked for and the request counter. So the
 * members stay in their MLS group across a take-over, and the next epoch is committed in it.
 *
 * Not persisted, on purpose: the plans themselves (the adopting controller plans again with its
 * own view of the handlers; the restored legs are what its first transition removes when the
 * new plan does not keep them), unacknowledged commands and keys (the first transition re-adds
 * every leg, and a new key epoch starts for the restored members), open MLS commit requests
 * (asked again, under a higher request id), and the key material (the controller never holds
 * a group secret).
 *
 * A snapshot read back is checked before anything is restored from it: a record of another
 * meeting, of an unknown version, or not self-consistent is refused with a typed error, and
 * the meeting is not restored from it.
 */
import type { HandlerId, MediaKind, MeetingId, ParticipantId, RegionId } from '../ids.ts';
import type { LayoutRequest } from '../layout/types.ts';
import { err, ok, type Result } from '../result.ts';
import type { Route } from '../routing/types.ts';
import type { MlsDeliveryState } from '../mls/delivery.ts';
import type { HandlerView } from './handlers.ts';
import { MeetingMachine, type MeetingConfig } from './meeting.ts';

/** Version 2 adds the MLS delivery state (`mls`); version 1 records are still read. */
export const MEETING_SNAPSHOT_VERSION = 2;
export type MeetingSnapshotVersion = 1 | 2;

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

/** The MLS delivery service's state as persisted: core/mls/delivery's, key packages in hex. */
export interface MlsSnapshot {
  /** The group's number within the meeting; -1 before the first. */
  readonly group: number;
  readonly epoch: number;
  readonly epochStartedAt: number;
  /** The group's members in the current epoch, in order of joining. */
  readonly members: readonly ParticipantId[];
  /** The epoch each member last reported reaching, in member order. */
  readonly synced: readonly (readonly [ParticipantId, number])[];
  /** Members still to be added, in order of joining, with their KeyPackages (lowercase hex). */
  readonly joining: readonly { readonly participant: ParticipantId; readonly keyPackage: string }[];
  readonly leaving: readonly ParticipantId[];
  readonly rotation: 'manual' | 'hourly' | null;
  readonly nextRequest: number;
}

/** One meeting's persisted state. */
export interface MeetingSnapshot {
  readonly version: MeetingSnapshotVersion;
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
  /**
   * The MLS delivery service's state; null for a meeting without MLS, absent in version 1
   * records (such a meeting is restored with a fresh delivery service, as before).
   */
  readonly mls?: MlsSnapshot | null;
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
    mls: durable.mls === null ? null : mlsSnapshot(durable.mls),
  };
}

function mlsSnapshot(state: MlsDeliveryState): MlsSnapshot {
  return {
    group: state.group,
    epoch: state.epoch,
    epochStartedAt: state.epochStartedAt,
    members: state.members,
    synced: state.synced,
    joining: state.joining.map((a) => ({
      participant: a.participant,
      keyPackage: toHex(a.keyPackage),
    })),
    leaving: state.leaving,
    rotation: state.rotation,
    nextRequest: state.nextRequest,
  };
}

function mlsState(snapshot: MlsSnapshot): MlsDeliveryState {
  return {
    group: snapshot.group,
    epoch: snapshot.epoch,
    epochStartedAt: snapshot.epochStartedAt,
    members: snapshot.members,
    synced: snapshot.synced,
    joining: snapshot.joining.map((a) => ({
      participant: a.participant,
      keyPackage: fromHex(a.keyPackage),
    })),
    leaving: snapshot.leaving,
    rotation: snapshot.rotation,
    nextRequest: snapshot.nextRequest,
  };
}

const HEX = '0123456789abcdef';

function toHex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += (HEX[byte >> 4] as string) + (HEX[byte & 15] as string);
  return text;
}

/** Bytes of checked hex (`checkSnapshot` refused anything else). */
function fromHex(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++)
    bytes[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** Why the MLS state of a snapshot does not hold together with itself and the meeting, if so. */
function mlsProblem(mls: MlsSnapshot, snapshot: MeetingSnapshot): string | undefined {
  const counter = (value: number) => Number.isSafeInteger(value) && value >= 0;
  if (!Number.isSafeInteger(mls.group) || mls.group < -1) return 'mls: group below -1';
  if (!counter(mls.epoch)) return 'mls: epoch must be a non-negative integer';
  if (!counter(mls.nextRequest) || mls.nextRequest < 1)
    return 'mls: the request counter starts at 1';
  if (!Number.isFinite(mls.epochStartedAt) || mls.epochStartedAt > snapshot.takenAt)
    return 'mls: epoch started after the snapshot';
  if (mls.rotation !== null && mls.rotation !== 'manual' && mls.rotation !== 'hourly')
    return 'mls: unknown rotation';
  const members = new Set<string>(mls.members);
  if (members.size !== mls.members.length) return 'mls: a group member listed twice';
  if (mls.group === -1 && (members.size > 0 || mls.epoch !== 0))
    return 'mls: members or an epoch before any group';
  if (
    members.size === 0 &&
    (mls.leaving.length > 0 || mls.synced.length > 0 || mls.rotation !== null)
  )
    return 'mls: leavers, acknowledgements or a rotation without a group';
  const meetingMembers = new Set<string>(snapshot.members.map((m) => m.id));
  const leaving = new Set<string>(mls.leaving);
  if (leaving.size !== mls.leaving.length) return 'mls: a leaver listed twice';
  for (const participant of mls.leaving)
    if (!members.has(participant)) return `mls: leaver ${participant} not in the group`;
  // A member of the group who has not left the group is in the meeting.
  for (const participant of mls.members)
    if (!leaving.has(participant) && !meetingMembers.has(participant))
      return `mls: group member ${participant} not in the meeting`;
  const synced = new Set<string>();
  for (const [participant, epoch] of mls.synced) {
    if (synced.has(participant)) return `mls: ${participant} acknowledged twice`;
    synced.add(participant);
    if (!members.has(participant)) return `mls: ${participant} acknowledged but not in the group`;
    if (!counter(epoch) || epoch > mls.epoch)
      return `mls: ${participant} acknowledged an epoch beyond the group's`;
  }
  const joining = new Set<string>();
  for (const add of mls.joining) {
    if (joining.has(add.participant)) return `mls: ${add.participant} to be added twice`;
    joining.add(add.participant);
    if (!meetingMembers.has(add.participant))
      return `mls: ${add.participant} to be added but not in the meeting`;
    // Joining again: its old leaf is removed in the same commit.
    if (members.has(add.participant) && !leaving.has(add.participant))
      return `mls: ${add.participant} to be added but in the group already`;
    if (
      add.keyPackage.length === 0 ||
      add.keyPackage.length % 2 !== 0 ||
      !/^[0-9a-f]*$/.test(add.keyPackage)
    )
      return `mls: ${add.participant}'s key package is not lowercase hex`;
  }
  return undefined;
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
  if (snapshot.version !== MEETING_SNAPSHOT_VERSION && snapshot.version !== 1)
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
  if (snapshot.version === 1 && snapshot.mls !== undefined)
    return inconsistent('a version 1 record holds no MLS state');
  if (snapshot.version === MEETING_SNAPSHOT_VERSION && snapshot.mls === undefined)
    return inconsistent('mls: missing (null for a meeting without MLS)');
  if (snapshot.mls !== undefined && snapshot.mls !== null) {
    const problem = mlsProblem(snapshot.mls, snapshot);
    if (problem !== undefined) return inconsistent(problem);
  }
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
      mls: snapshot.mls === undefined || snapshot.mls === null ? null : mlsState(snapshot.mls),
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
