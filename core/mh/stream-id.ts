/**
 * The 64-bit ids a media datagram carries (docs/protocol.md, "Media stream ids"): the
 * publisher id names a participant of a meeting, the stream id one of its published streams.
 * Both are pure functions of routing-layer names, so the Meeting Controller (which tells the
 * client which ids to stamp), the client and every Media Handler derive the same numbers
 * without exchanging a table:
 *
 * - publisher id = murmur3(meeting + U+0000 + participant, seed 0x6d680001) in the high 32
 *   bits, the same with seed 0x6d680002 in the low 32 bits;
 * - stream id = the same two hashes of meeting + U+0000 + participant + U+0000 + kind.
 *
 * MurmurHash3 (x86, 32-bit) over UTF-8 is core/placement/hash.ts. Two different streams of
 * one handler share a stream id with odds of about n^2 / 2^65 for n streams; the forwarding
 * table detects it and keeps the stream installed first (core/mh/table.ts).
 */
import type { MediaKind, MeetingId, ParticipantId } from '../ids.ts';
import { murmur3 } from '../placement/hash.ts';

const SEED_HIGH = 0x6d680001;
const SEED_LOW = 0x6d680002;
const TWO_POW_32 = 0x1_0000_0000n;

/** A 64-bit id as its two unsigned 32-bit halves (the forwarder's allocation-free form). */
export interface IdWords {
  readonly high: number;
  readonly low: number;
}

function words(key: string): IdWords {
  return { high: murmur3(key, SEED_HIGH), low: murmur3(key, SEED_LOW) };
}

/** Joins two unsigned 32-bit halves into the uint64 a datagram header carries. */
export function wordsToId(id: IdWords): bigint {
  return BigInt(id.high) * TWO_POW_32 + BigInt(id.low);
}

/** The publisher id words of `participant` in `meeting`. */
export function publisherIdWords(meeting: MeetingId, participant: ParticipantId): IdWords {
  return words(`${meeting}\u0000${participant}`);
}

/** The stream id words of `participant`'s `kind` stream in `meeting`. */
export function streamIdWords(
  meeting: MeetingId,
  participant: ParticipantId,
  kind: MediaKind,
): IdWords {
  return words(`${meeting}\u0000${participant}\u0000${kind}`);
}

/** The publisher id header field (uint64) for `participant` in `meeting`. */
export function mediaPublisherId(meeting: MeetingId, participant: ParticipantId): bigint {
  return wordsToId(publisherIdWords(meeting, participant));
}

/** The stream id header field (uint64) for `participant`'s `kind` stream in `meeting`. */
export function mediaStreamId(
  meeting: MeetingId,
  participant: ParticipantId,
  kind: MediaKind,
): bigint {
  return wordsToId(streamIdWords(meeting, participant, kind));
}
