/**
 * The roster index: everything about a roster that does not depend on who subscribes, computed
 * once per roster so that each subscriber's layout costs little more than its slot count.
 */
import type { MediaKind, ParticipantId } from '../ids.ts';
import { err, ok, type Result } from '../result.ts';
import type { Roster, RosterError, RosterParticipant, SlotReason } from './types.ts';

/** A participant's single tile and the tier it ranks in when not pinned. */
export interface Candidate {
  readonly participant: ParticipantId;
  readonly kind: MediaKind;
  readonly reason: Exclude<SlotReason, 'pinned'>;
}

/** A validated roster with its priority orders precomputed. Build it with `indexRoster`. */
export interface RosterIndex {
  readonly type: 'roster-index';
  /** Present participants and the kind of their tile; null for those who publish nothing. */
  readonly tiles: ReadonlyMap<ParticipantId, MediaKind | null>;
  readonly departed: ReadonlySet<ParticipantId>;
  /** Present participants with a tile who have spoken, most recent first. */
  readonly speakers: readonly Candidate[];
  /** Non-pinned priority with `preferVideoOverAudio` true: audio-only participants last. */
  readonly videoFirstOrder: readonly Candidate[];
  /** Non-pinned priority with `preferVideoOverAudio` false. */
  readonly mixedOrder: readonly Candidate[];
}

/**
 * The one tile that shows a participant: the screen when sharing, else the camera, else audio;
 * null when the participant publishes nothing and so cannot be shown.
 */
export function tileKind(publishes: readonly MediaKind[]): MediaKind | null {
  if (publishes.includes('screen')) return 'screen';
  if (publishes.includes('camera')) return 'camera';
  if (publishes.includes('audio')) return 'audio';
  return null;
}

/**
 * The part of a roster index that does not depend on the active-speaker history: who is present
 * with which tile, in join order, and who departed. Build it with `indexParticipants`; turn it
 * into a roster index with `indexSpeakers`, as often as the speaker history changes (the indexes
 * share its collections and candidates).
 */
export interface ParticipantIndex {
  readonly type: 'participant-index';
  readonly tiles: ReadonlyMap<ParticipantId, MediaKind | null>;
  readonly departed: ReadonlySet<ParticipantId>;
  /**
   * Present participants with a tile, in join order, each as it ranks when it is no active
   * speaker: by join order, or as a screen share (which ranks by join order either way).
   */
  readonly byJoin: readonly Candidate[];
}

/**
 * Validates a roster and precomputes its priority orders. Non-pinned priority is: screen shares
 * (in join order), then active speakers (most recent first), then everyone else in join order;
 * the video-first order moves audio-only participants after all video ones, keeping that order
 * among them. Cost: O(P log P) for P participants plus the speaker history length.
 */
export function indexRoster(roster: Roster): Result<RosterIndex, RosterError> {
  const participants = indexParticipants(roster);
  if (!participants.ok) return participants;
  return ok(indexSpeakers(participants.value, roster.activeSpeakers));
}

/**
 * Validates a roster's participants and indexes everything `indexSpeakers` needs besides the
 * speaker history. Cost: O(P log P) for P participants.
 */
export function indexParticipants(
  roster: Pick<Roster, 'participants' | 'departed'>,
): Result<ParticipantIndex, RosterError> {
  const tiles = new Map<ParticipantId, MediaKind | null>();
  for (const participant of roster.participants) {
    if (tiles.has(participant.id)) {
      return err({ kind: 'duplicate-participant', participant: participant.id });
    }
    if (!Number.isFinite(participant.joinOrder)) {
      return err({
        kind: 'invalid-join-order',
        participant: participant.id,
        value: participant.joinOrder,
      });
    }
    tiles.set(participant.id, tileKind(participant.publishes));
  }
  const byJoin: Candidate[] = [];
  for (const { id: participant } of joinOrdered(roster.participants)) {
    const kind = tiles.get(participant);
    if (kind === undefined || kind === null) continue;
    byJoin.push({ participant, kind, reason: kind === 'screen' ? 'screen-share' : 'join-order' });
  }
  return ok({ type: 'participant-index', tiles, departed: new Set(roster.departed), byJoin });
}

/**
 * The roster index of the indexed participants with `activeSpeakers` as the speaker history
 * (most recent first): equal to `indexRoster` of the whole roster, sharing `participants`'
 * collections. Cost: O(P) plus the history length.
 */
export function indexSpeakers(
  participants: ParticipantIndex,
  activeSpeakers: readonly ParticipantId[],
): RosterIndex {
  const speakers = speakerCandidates(activeSpeakers, participants.tiles);
  return {
    type: 'roster-index',
    tiles: participants.tiles,
    departed: participants.departed,
    speakers,
    ...priorityOrders(participants.byJoin, speakers),
  };
}

function joinOrdered(participants: readonly RosterParticipant[]): RosterParticipant[] {
  return [...participants].sort(
    (a, b) => a.joinOrder - b.joinOrder || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** Speaker lists up to this long are searched by scanning; longer ones through a set. */
const SCAN_LIMIT = 16;

/** Present participants with a tile in the history, most recent first, each once. */
function speakerCandidates(
  history: readonly ParticipantId[],
  tiles: ReadonlyMap<ParticipantId, MediaKind | null>,
): Candidate[] {
  const speakers: Candidate[] = [];
  const seen = history.length > SCAN_LIMIT ? new Set<ParticipantId>() : null;
  for (const participant of history) {
    const kind = tiles.get(participant);
    if (kind === undefined || kind === null) continue;
    if (seen === null ? isAmong(speakers, participant) : seen.has(participant)) continue;
    seen?.add(participant);
    speakers.push({ participant, kind, reason: 'active-speaker' });
  }
  return speakers;
}

function isAmong(candidates: readonly Candidate[], participant: ParticipantId): boolean {
  for (const candidate of candidates) if (candidate.participant === participant) return true;
  return false;
}

/**
 * The two non-pinned priority orders, each listing every participant of `byJoin` once. Mixed:
 * screen shares (join order), then the other speakers (recency), then everyone else (join
 * order). Video first: the mixed order with the audio-only participants moved after all the
 * others (screen shares are never audio-only), keeping the order within each group.
 */
function priorityOrders(
  byJoin: readonly Candidate[],
  speakers: readonly Candidate[],
): { videoFirstOrder: Candidate[]; mixedOrder: Candidate[] } {
  const spoke =
    speakers.length > SCAN_LIMIT ? new Set(speakers.map((speaker) => speaker.participant)) : null;
  const mixedOrder = new Array<Candidate>(byJoin.length);
  let next = 0;
  for (const entry of byJoin) if (entry.kind === 'screen') mixedOrder[next++] = entry;
  for (const speaker of speakers) if (speaker.kind !== 'screen') mixedOrder[next++] = speaker;
  for (const entry of byJoin) {
    if (entry.kind === 'screen') continue;
    const spoken =
      spoke === null ? isAmong(speakers, entry.participant) : spoke.has(entry.participant);
    if (!spoken) mixedOrder[next++] = entry;
  }
  const videoFirstOrder = new Array<Candidate>(byJoin.length);
  next = 0;
  for (const candidate of mixedOrder) {
    if (candidate.kind !== 'audio') videoFirstOrder[next++] = candidate;
  }
  for (const candidate of mixedOrder) {
    if (candidate.kind === 'audio') videoFirstOrder[next++] = candidate;
  }
  return { videoFirstOrder, mixedOrder };
}
