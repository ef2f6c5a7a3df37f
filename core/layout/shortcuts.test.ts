// The layout engine's shortcuts give what the general computation gives: speaker-only indexes,
// request checks kept with the request, previous assignments read by scanning, placement in
// place, and previous assignments returned as they are.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { participantId, type MediaKind, type ParticipantId } from '../ids.ts';
import { unwrap } from '../result.ts';
import {
  assignLayout,
  indexParticipants,
  indexRoster,
  indexSpeakers,
  tileKind,
  type LayoutAssignment,
  type LayoutRequest,
  type Roster,
  type Slot,
  type SlotReason,
} from './index.ts';
import { rosterOverPool } from './testing.ts';
import {
  indexPrevious,
  placeInPlace,
  placeStably,
  readPrevious,
  ScannedPrevious,
  type Entry,
} from './placement.ts';
import { checkRequest } from './request.ts';

const pool = Array.from({ length: 12 }, (_, index) => participantId(`p${index}`));
const kinds: MediaKind[] = ['camera', 'screen', 'audio'];
const reasons: SlotReason[] = ['pinned', 'screen-share', 'active-speaker', 'join-order'];
const streamIdPool = Array.from({ length: 50 }, (_, index) => index);

const historyArb = fc.array(fc.constantFrom(...pool), { maxLength: 24 });

/** Some of the pool present (with arbitrary media, some publishing nothing); the rest departed. */
const rosterArb: fc.Arbitrary<Roster> = rosterOverPool(pool, 5, historyArb);

/** Grids up to 7 x 7 (past the size at which previous assignments are indexed) and speaker views. */
const requestArb: fc.Arbitrary<LayoutRequest> = fc
  .record({
    type: fc.constantFrom('grid' as const, 'speaker' as const),
    rows: fc.integer({ min: 1, max: 7 }),
    columns: fc.integer({ min: 1, max: 7 }),
    thumbnails: fc.integer({ min: 0, max: 6 }),
    firstStreamId: fc.integer({ min: 0, max: 3 }),
    pinned: fc.uniqueArray(fc.constantFrom(...pool), { maxLength: 3 }),
    excluded: fc.uniqueArray(fc.constantFrom(...pool), { maxLength: 3 }),
    includeSelf: fc.boolean(),
    preferVideoOverAudio: fc.boolean(),
  })
  .map((r) => {
    const slots = r.type === 'grid' ? r.rows * r.columns : 1 + r.thumbnails;
    const options = {
      streamIds: Array.from({ length: slots }, (_, index) => r.firstStreamId + index),
      pinnedUsers: r.pinned.filter((id) => id !== pool[0] || r.includeSelf),
      excludedUsers: r.excluded.filter((id) => !r.pinned.includes(id)),
      includeSelf: r.includeSelf,
      preferVideoOverAudio: r.preferVideoOverAudio,
    };
    return r.type === 'grid'
      ? { type: 'grid', rows: r.rows, columns: r.columns, ...options }
      : { type: 'speaker', thumbnails: r.thumbnails, ...options };
  });

const subscriber = pool[0] as ParticipantId;

/** Arbitrary slots: stream ids and participants may repeat, as no assignment of core's would. */
const slotsArb: fc.Arbitrary<Slot[]> = fc.array(
  fc.oneof(
    fc.record({ streamId: fc.constantFrom(...streamIdPool), shows: fc.constant(null) }),
    fc.record({
      streamId: fc.constantFrom(...streamIdPool),
      shows: fc.record({
        participant: fc.constantFrom(...pool),
        kind: fc.constantFrom(...kinds),
      }),
      reason: fc.constantFrom(...reasons),
    }),
  ),
  { maxLength: 60 },
) as fc.Arbitrary<Slot[]>;

const entriesArb: fc.Arbitrary<Entry[]> = fc
  .uniqueArray(fc.constantFrom(...pool), { maxLength: pool.length })
  .chain((participants) =>
    fc.tuple(
      ...participants.map((participant) =>
        fc.record({
          participant: fc.constant(participant),
          kind: fc.constantFrom(...kinds),
          reason: fc.constantFrom(...reasons),
        }),
      ),
    ),
  );

/**
 * The priority orders written plainly, as lists filtered and joined: screen shares (join order),
 * speakers (recency), everyone else (join order); video first moves the audio-only ones last.
 */
function referenceOrders(roster: Roster) {
  const byJoin = [...roster.participants].sort(
    (a, b) => a.joinOrder - b.joinOrder || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  const tile = (id: ParticipantId) =>
    tileKind(roster.participants.find((p) => p.id === id)?.publishes ?? []);
  const speakers = [...new Set(roster.activeSpeakers)]
    .filter((id) => tile(id) !== null)
    .map((id) => ({ participant: id, kind: tile(id), reason: 'active-speaker' }));
  const spoke = new Set(speakers.map((speaker) => speaker.participant));
  const tiled = byJoin.filter((p) => tileKind(p.publishes) !== null);
  const screens = tiled
    .filter((p) => tileKind(p.publishes) === 'screen')
    .map((p) => ({ participant: p.id, kind: 'screen', reason: 'screen-share' }));
  const others = tiled
    .filter((p) => tileKind(p.publishes) !== 'screen' && !spoke.has(p.id))
    .map((p) => ({ participant: p.id, kind: tileKind(p.publishes), reason: 'join-order' }));
  const talkers = speakers.filter((speaker) => speaker.kind !== 'screen');
  const video = (c: { kind: MediaKind | null }) => c.kind !== 'audio';
  const audio = (c: { kind: MediaKind | null }) => c.kind === 'audio';
  return {
    speakers,
    mixedOrder: [...screens, ...talkers, ...others],
    videoFirstOrder: [
      ...screens,
      ...talkers.filter(video),
      ...others.filter(video),
      ...talkers.filter(audio),
      ...others.filter(audio),
    ],
  };
}

describe('speaker-only indexes', () => {
  it('rank as the orders written plainly', () => {
    fc.assert(
      fc.property(rosterArb, (roster) => {
        const index = unwrap(indexRoster(roster));
        const reference = referenceOrders(roster);
        expect(index.speakers).toEqual(reference.speakers);
        expect(index.mixedOrder).toEqual(reference.mixedOrder);
        expect(index.videoFirstOrder).toEqual(reference.videoFirstOrder);
      }),
    );
  });

  it('equal the index of the whole roster, for every history over one participant index', () => {
    fc.assert(
      fc.property(rosterArb, fc.array(historyArb, { maxLength: 4 }), (roster, histories) => {
        const participants = unwrap(indexParticipants(roster));
        for (const activeSpeakers of histories) {
          expect(indexSpeakers(participants, activeSpeakers)).toEqual(
            unwrap(indexRoster({ ...roster, activeSpeakers })),
          );
        }
      }),
    );
  });
});

describe('request checks', () => {
  it('kept with the request give the verdict a fresh check gives, whatever the roster', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(rosterArb, fc.uniqueArray(fc.constantFrom(...pool))).map(
            // Some of those absent never were in the meeting: pinning them is an error.
            ([roster, strangers]) => ({
              ...roster,
              departed: roster.departed.filter((id) => !strangers.includes(id)),
            }),
          ),
          { minLength: 1, maxLength: 4 },
        ),
        requestArb,
        fc.array(fc.constantFrom(...pool, participantId('stranger')), { maxLength: 3 }),
        historyArb,
        (rosters, request, morePinned, activeSpeakers) => {
          // Pins of anyone, present, departed or a stranger, make the verdict depend on the roster.
          const pinned: LayoutRequest = {
            ...request,
            pinnedUsers: [...(request.pinnedUsers ?? []), ...morePinned],
          };
          for (const roster of rosters) {
            const participants = unwrap(indexParticipants(roster));
            // Two indexes sharing their participant collections, then a fresh one.
            for (const index of [
              indexSpeakers(participants, roster.activeSpeakers),
              indexSpeakers(participants, activeSpeakers),
              unwrap(indexRoster(roster)),
            ]) {
              for (const asked of [request, pinned]) {
                for (const who of [subscriber, pool[1] as ParticipantId]) {
                  expect(assignLayout({ roster: index, subscriber: who, request: asked })).toEqual(
                    assignLayout({ roster: index, subscriber: who, request: { ...asked } }),
                  );
                }
              }
            }
          }
        },
      ),
    );
  });
});

describe('reading a previous assignment', () => {
  it('by scanning answers as the index of it does', () => {
    fc.assert(
      fc.property(slotsArb, (slots) => {
        const scanned = new ScannedPrevious(slots);
        const indexed = indexPrevious(slots);
        for (const participant of pool) {
          expect(scanned.streamIdOf(participant)).toBe(indexed.streamIdOf(participant));
        }
        for (const streamId of streamIdPool) {
          expect(scanned.wasOccupied(streamId)).toBe(indexed.wasOccupied(streamId));
        }
      }),
    );
  });
});

describe('placement in place', () => {
  it('whenever it applies, places every entry where stable placement does', () => {
    let applied = 0;
    fc.assert(
      fc.property(
        rosterArb,
        requestArb,
        entriesArb,
        slotsArb,
        fc.nat(),
        fc.constantFrom('aligned', 'aligned with entries', 'rotated', 'arbitrary'),
        (roster, request, entries, slots, shift, shape) => {
          const checked = unwrap(checkRequest(request, subscriber, unwrap(indexRoster(roster))));
          const streamIds = checked.placedStreamIds;
          const count = Math.min(entries.length, streamIds.length);
          // The request's stream ids in its order (or rotated by one), showing arbitrary slots'
          // content or, rotated by `shift`, the entries themselves (with arbitrary kinds and
          // reasons); or anything.
          const shown = (index: number) => {
            const slot = slots[index] ?? { shows: null };
            if (shape === 'aligned' || index >= entries.length) return slot;
            const entry = entries[(index + shift) % entries.length] as Entry;
            const kind = slot.shows?.kind ?? entry.kind;
            const reason = slot.shows === null ? entry.reason : slot.reason;
            return { shows: { participant: entry.participant, kind }, reason };
          };
          const ids = request.streamIds;
          const streamIdAt = (index: number) =>
            shape === 'rotated'
              ? (ids[(index + 1) % ids.length] as number)
              : (ids[index] as number);
          const previousSlots =
            shape === 'arbitrary'
              ? slots
              : ids.map((_, index) => ({ ...shown(index), streamId: streamIdAt(index) }));
          const previous = { type: request.type, slots: previousSlots } as LayoutAssignment;
          const inPlace: (Entry | null)[] = [];
          const general: (Entry | null)[] = [];
          const applies = placeInPlace(checked, entries, count, previous, inPlace);
          placeStably(checked, [...entries], count, readPrevious(previous), general);
          if (applies) {
            applied++;
            expect(inPlace.slice(0, streamIds.length)).toEqual(general.slice(0, streamIds.length));
          }
        },
      ),
      { numRuns: 300 },
    );
    expect(applied).toBeGreaterThan(10);
  });
});

describe('assignments against a previous one', () => {
  it('are the previous one itself when unchanged, else as built against a copy of it', () => {
    fc.assert(
      fc.property(
        fc.array(rosterArb, { minLength: 1, maxLength: 4 }),
        requestArb,
        (rosters, request) => {
          let previous: LayoutAssignment | undefined;
          for (const roster of rosters) {
            const index = unwrap(indexRoster(roster));
            const result = assignLayout({ roster: index, subscriber, request, previous });
            const copy = previous === undefined ? undefined : structuredClone(previous);
            const afresh = assignLayout({ roster: index, subscriber, request, previous: copy });
            expect(result).toEqual(afresh);
            if (!result.ok) return;
            const again = assignLayout({
              roster: index,
              subscriber,
              request,
              previous: result.value,
            });
            expect(again.ok && again.value).toBe(result.value);
            previous = result.value;
          }
        },
      ),
    );
  });
});
