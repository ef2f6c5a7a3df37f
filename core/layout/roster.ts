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
 * Validates a roster and precomputes its priority orders. Non-pinned priority is: screen shares
 * (in join order), then active speakers (most recent first), then everyone else in join order;
 * the video-first order moves audio-only participants after all video ones, keeping that order
 * among them. Cost: O(P log P) for P participants plus the speaker history length.
 */
export function indexRoster(roster: Roster): Result<RosterIndex, RosterError> {
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
  const speakers = speakerCandidates(roster.activeSpeakers, tiles);
  const { videoFirstOrder, mixedOrder } = priorityOrders(
    joinOrdered(roster.participants),
    tiles,
    speakers,
  );
  return ok({
    type: 'roster-index',
    tiles,
    departed: new Set(roster.departed),
    speakers,
    videoFirstOrder,
    mixedOrder,
  });
}

function joinOrdered(participants: readonly RosterParticipant[]): RosterParticipant[] {
  return [...participants].sort(
    (a, b) => a.joinOrder - b.joinOrder || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

function speakerCandidates(
  history: readonly ParticipantId[],
  tiles: ReadonlyMap<ParticipantId, MediaKind | null>,
): Candidate[] {
  const seen = new Set<ParticipantId>();
  const speakers: Candidate[] = [];
  for (const participant of history) {
    const kind = tiles.get(participant);
    if (seen.has(participant) || kind === undefined || kind === null) continue;
    seen.add(participant);
    speakers.push({ participant, kind, reason: 'active-speaker' });
  }
  return speakers;
}

function priorityOrders(
  byJoin: readonly RosterParticipant[],
  tiles: ReadonlyMap<ParticipantId, MediaKind | null>,
  speakers: readonly Candidate[],
): { videoFirstOrder: Candidate[]; mixedOrder: Candidate[] } {
  const spoke = new Set(speakers.map((speaker) => speaker.participant));
  const screens: Candidate[] = [];
  const others: Candidate[] = [];
  for (const { id } of byJoin) {
    const kind = tiles.get(id);
    if (kind === undefined || kind === null) continue;
    if (kind === 'screen') screens.push({ participant: id, kind, reason: 'screen-share' });
    else if (!spoke.has(id)) others.push({ participant: id, kind, reason: 'join-order' });
  }
  const talkers = speakers.filter((speaker) => speaker.kind !== 'screen');
  const isVideo = (candidate: Candidate) => candidate.kind !== 'audio';
  const isAudio = (candidate: Candidate) => candidate.kind === 'audio';
  return {
    mixedOrder: [...screens, ...talkers, ...others],
    videoFirstOrder: [
      ...screens,
      ...talkers.filter(isVideo),
      ...others.filter(isVideo),
      ...talkers.filter(isAudio),
      ...others.filter(isAudio),
    ],
  };
}
