import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { participantId, type ParticipantId } from '../ids.ts';
import { unwrap } from '../result.ts';
import {
  assignLayout,
  changedSlots,
  shownSources,
  indexRoster,
  layoutDemand,
  tileKind,
  type GridRequest,
  type LayoutAssignment,
  type LayoutRequest,
  type Roster,
  type RosterIndex,
} from './index.ts';
import { rosterOverPool } from './testing.ts';

const pool = Array.from({ length: 16 }, (_, index) => participantId(`p${index}`));

const someOfPool = fc.uniqueArray(fc.constantFrom(...pool), { maxLength: pool.length });

/** A roster over the pool; those absent count as departed, so any pool member may be pinned. */
const rosterArb: fc.Arbitrary<Roster> = rosterOverPool(
  pool,
  20,
  fc.array(fc.constantFrom(...pool), { maxLength: 20 }),
);

interface Scenario {
  readonly subscriber: ParticipantId;
  readonly request: GridRequest;
}

/** A valid grid request: pinned users never excluded, self pinned only with include_self. */
const scenarioFor = (subscriberArb: fc.Arbitrary<ParticipantId>): fc.Arbitrary<Scenario> =>
  fc
    .record({
      subscriber: subscriberArb,
      rows: fc.integer({ min: 1, max: 4 }),
      columns: fc.integer({ min: 1, max: 4 }),
      firstStreamId: fc.integer({ min: 0, max: 1000 }),
      pinned: someOfPool,
      excluded: someOfPool,
      includeSelf: fc.boolean(),
      preferVideoOverAudio: fc.boolean(),
    })
    .map(
      ({
        subscriber,
        rows,
        columns,
        firstStreamId,
        pinned,
        excluded,
        includeSelf,
        preferVideoOverAudio,
      }) => ({
        subscriber,
        request: {
          type: 'grid',
          rows,
          columns,
          streamIds: Array.from(
            { length: rows * columns },
            (_, index) => firstStreamId + 7 * index,
          ),
          pinnedUsers: pinned.filter((id) => includeSelf || id !== subscriber),
          excludedUsers: excluded.filter((id) => !pinned.includes(id)),
          includeSelf,
          preferVideoOverAudio,
        },
      }),
    );

const scenarioArb = scenarioFor(fc.constantFrom(...pool));

/** Two scenarios for the same subscriber and the same slots, differing in their options. */
const scenarioPairArb: fc.Arbitrary<[Scenario, Scenario]> = fc
  .constantFrom(...pool)
  .chain((subscriber) =>
    fc.tuple(scenarioFor(fc.constant(subscriber)), scenarioFor(fc.constant(subscriber))),
  )
  .map(([scenario, other]) => [
    scenario,
    {
      ...other,
      request: {
        ...other.request,
        rows: scenario.request.rows,
        columns: scenario.request.columns,
        streamIds: scenario.request.streamIds,
      },
    },
  ]);

function assign(
  roster: Roster | RosterIndex,
  scenario: Scenario,
  previous?: LayoutAssignment,
): LayoutAssignment {
  return unwrap(assignLayout({ roster, ...scenario, previous }));
}

function shown(assignment: LayoutAssignment): ParticipantId[] {
  return layoutDemand(assignment).map((source) => source.participant);
}

function eligible(roster: Roster, { subscriber, request }: Scenario): ParticipantId[] {
  return roster.participants
    .filter((p) => tileKind(p.publishes) !== null)
    .filter((p) => !(request.excludedUsers ?? []).includes(p.id))
    .filter((p) => request.includeSelf === true || p.id !== subscriber)
    .map((p) => p.id);
}

/**
 * The ranking written as one sort key, independently of the engine's tiered lists: pinned (in
 * order), screen shares (join order), speakers (recency), others (join order), with audio-only
 * speakers and then audio-only others moved last when video is preferred.
 */
function referenceRanking(roster: Roster, scenario: Scenario): ParticipantId[] {
  const pinned = scenario.request.pinnedUsers ?? [];
  const speakers = [...new Set(roster.activeSpeakers)];
  const preferVideo = scenario.request.preferVideoOverAudio !== false;
  const key = (id: ParticipantId): number[] => {
    const participant = roster.participants.find((p) => p.id === id);
    const join = participant?.joinOrder ?? 0;
    const tile = tileKind(participant?.publishes ?? []);
    const recency = speakers.indexOf(id);
    if (pinned.includes(id)) return [0, pinned.indexOf(id)];
    if (tile === 'screen') return [1, join];
    const demoted = preferVideo && tile === 'audio' ? 3 : 0;
    return recency >= 0 ? [2 + demoted, recency] : [3 + demoted, join];
  };
  const compare = (a: ParticipantId, b: ParticipantId): number => {
    const [ka, kb] = [key(a), key(b)];
    for (let i = 0; i < ka.length; i++) {
      const difference = (ka[i] ?? 0) - (kb[i] ?? 0);
      if (difference !== 0) return difference;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  };
  return eligible(roster, scenario).sort(compare);
}

function entriesOf(assignment: LayoutAssignment): Set<string> {
  return new Set(layoutDemand(assignment).map((s) => `${s.participant}/${s.kind}`));
}

describe('layout properties', () => {
  it('shows exactly the top of the reference ranking, each once, never excluded or self', () => {
    fc.assert(
      fc.property(rosterArb, scenarioArb, (roster, scenario) => {
        const visible = shown(assign(roster, scenario));
        const slots = scenario.request.streamIds.length;
        const ranking = referenceRanking(roster, scenario);
        expect(visible).toEqual(ranking.slice(0, slots));
        expect(new Set(visible).size).toBe(visible.length);
        expect(visible.length).toBe(Math.min(slots, eligible(roster, scenario).length));
        for (const id of scenario.request.excludedUsers ?? []) expect(visible).not.toContain(id);
        if (scenario.request.includeSelf !== true)
          expect(visible).not.toContain(scenario.subscriber);
      }),
    );
  });

  it('shows every present pinned participant that fits', () => {
    fc.assert(
      fc.property(rosterArb, scenarioArb, (roster, scenario) => {
        const showable = new Set(eligible(roster, scenario));
        const pinnedPresent = (scenario.request.pinnedUsers ?? []).filter((id) => showable.has(id));
        const fitting = pinnedPresent.slice(0, scenario.request.streamIds.length);
        const visible = shown(assign(roster, scenario));
        for (const id of fitting) expect(visible).toContain(id);
      }),
    );
  });

  it('is deterministic and ignores the order of the roster and whether it was indexed', () => {
    fc.assert(
      fc.property(rosterArb, scenarioArb, (roster, scenario) => {
        const first = assign(roster, scenario);
        expect(assign(roster, scenario)).toEqual(first);
        const reversed = { ...roster, participants: [...roster.participants].reverse() };
        expect(assign(reversed, scenario)).toEqual(first);
        expect(assign(unwrap(indexRoster(roster)), scenario)).toEqual(first);
      }),
    );
  });

  it('keeps visible entries in place across changes and changes as few slots as possible', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(rosterArb, fc.boolean()), { minLength: 2, maxLength: 6 }),
        scenarioPairArb,
        (steps, [scenario, otherOptions]) => {
          let previous: LayoutAssignment | undefined;
          for (const [roster, changeOptions] of steps) {
            const current = changeOptions ? otherOptions : scenario;
            const next = assign(roster, current, previous);
            expect(shown(next)).toEqual(expect.arrayContaining(shown(assign(roster, current))));
            if (previous !== undefined) expectMinimalChange(previous, next);
            previous = next;
          }
        },
      ),
    );
  });
});

function expectMinimalChange(previous: LayoutAssignment, next: LayoutAssignment): void {
  const before = new Map(previous.slots.map((slot) => [slot.streamId, slot.shows]));
  const streamIdBefore = new Map(
    previous.slots.flatMap((slot) =>
      slot.shows === null ? [] : [[slot.shows.participant, slot.streamId] as const],
    ),
  );
  for (const slot of next.slots) {
    if (slot.shows === null) continue;
    const earlier = streamIdBefore.get(slot.shows.participant);
    if (earlier !== undefined) expect(slot.streamId).toBe(earlier);
  }
  const changed = next.slots.filter((slot) => {
    const old = before.get(slot.streamId) ?? null;
    return old?.participant !== slot.shows?.participant || old?.kind !== slot.shows?.kind;
  }).length;
  const [oldEntries, newEntries] = [entriesOf(previous), entriesOf(next)];
  const entered = [...newEntries].filter((entry) => !oldEntries.has(entry)).length;
  const left = [...oldEntries].filter((entry) => !newEntries.has(entry)).length;
  expect(changed).toBe(Math.max(entered, left));
  expect(changedSlots(previous, next)).toHaveLength(changed);
  if (newEntries.size >= oldEntries.size) expect(changed).toBe(entered);
}

describe('speaker view properties', () => {
  it('shows the latest showable speaker in the main slot and nobody twice', () => {
    fc.assert(
      fc.property(
        rosterArb,
        scenarioArb,
        fc.integer({ min: 0, max: 5 }),
        (roster, scenario, thumbnails) => {
          const request: LayoutRequest = {
            ...scenario.request,
            type: 'speaker',
            thumbnails,
            streamIds: Array.from({ length: thumbnails + 1 }, (_, index) => index),
          };
          const assignment = unwrap(
            assignLayout({ roster, subscriber: scenario.subscriber, request }),
          );
          const visible = shown(assignment);
          expect(new Set(visible).size).toBe(visible.length);
          expect(visible.length).toBe(Math.min(thumbnails + 1, eligible(roster, scenario).length));
          const showable = new Set(eligible(roster, scenario));
          const latest = roster.activeSpeakers.find((id) => showable.has(id));
          if (latest !== undefined) expect(assignment.slots[0]?.shows?.participant).toBe(latest);
        },
      ),
    );
  });
});

describe('shown sources', () => {
  /** What an assignment shows, in source order: participant id, then kind. */
  const inSourceOrder = (assignment: LayoutAssignment) =>
    layoutDemand(assignment).sort(
      (a, b) => compareIds(a.participant, b.participant) || compareIds(a.kind, b.kind),
    );

  it('are what the assignment shows, in source order, whatever the previous assignment', () => {
    fc.assert(
      fc.property(
        rosterArb,
        rosterArb,
        scenarioArb,
        fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
        (roster, earlierRoster, scenario, thumbnails) => {
          const request: LayoutRequest =
            thumbnails === undefined
              ? scenario.request
              : {
                  ...scenario.request,
                  type: 'speaker',
                  thumbnails,
                  streamIds: Array.from({ length: thumbnails + 1 }, (_, index) => index),
                };
          const { subscriber } = scenario;
          // Placement against an assignment of another roster: where, never whether.
          const earlier = assignLayout({ roster: earlierRoster, subscriber, request });
          const previous = earlier.ok ? earlier.value : undefined;
          const assigned = assignLayout({ roster, subscriber, request, previous });
          // Indexed or raw, as the caller has it.
          const indexed = indexRoster(roster);
          const sources = shownSources({
            roster: indexed.ok && thumbnails !== 0 ? indexed.value : roster,
            subscriber,
            request,
          });
          expect(sources.ok).toBe(assigned.ok);
          if (assigned.ok && sources.ok) {
            expect(sources.value).toEqual(inSourceOrder(assigned.value));
          }
        },
      ),
    );
  });

  it('refuse what assignLayout refuses, with the same error', () => {
    const roster = { participants: [], departed: [], activeSpeakers: [] };
    const request: LayoutRequest = { type: 'grid', rows: 0, columns: 2, streamIds: [] };
    const subscriber = pool[0] as ParticipantId;
    expect(shownSources({ roster, subscriber, request })).toEqual(
      assignLayout({ roster, subscriber, request }),
    );
  });
});

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

describe('speaker view stability', () => {
  it('keeps everyone who stays in the thumbnail strip on the same stream id', () => {
    fc.assert(
      fc.property(
        fc.array(rosterArb, { minLength: 2, maxLength: 5 }),
        scenarioArb,
        (rosters, scenario) => {
          const request: LayoutRequest = {
            ...scenario.request,
            type: 'speaker',
            thumbnails: 3,
            streamIds: [10, 11, 12, 13],
          };
          let previous: LayoutAssignment | undefined;
          for (const roster of rosters) {
            const next = unwrap(
              assignLayout({ roster, subscriber: scenario.subscriber, request, previous }),
            );
            const strip = (assignment: LayoutAssignment) =>
              new Map(
                assignment.slots
                  .slice(1)
                  .flatMap((slot) =>
                    slot.shows === null ? [] : [[slot.shows.participant, slot.streamId] as const],
                  ),
              );
            const before = previous === undefined ? new Map() : strip(previous);
            for (const [participant, streamId] of strip(next)) {
              if (before.has(participant)) expect(streamId).toBe(before.get(participant));
            }
            previous = next;
          }
        },
      ),
    );
  });
});

describe('robustness', () => {
  it('returns a result, never throws, on arbitrary numbers and ids', () => {
    const anyNumber = fc.oneof(fc.integer({ min: -3, max: 300 }), fc.double());
    fc.assert(
      fc.property(
        rosterArb,
        fc.constantFrom(...pool),
        fc.record({
          type: fc.constantFrom('grid' as const, 'speaker' as const),
          rows: anyNumber,
          columns: anyNumber,
          thumbnails: anyNumber,
          streamIds: fc.array(anyNumber, { maxLength: 12 }),
          pinnedUsers: fc.array(fc.constantFrom(...pool, participantId('stranger')), {
            maxLength: 4,
          }),
          excludedUsers: fc.array(fc.constantFrom(...pool), { maxLength: 4 }),
          includeSelf: fc.boolean(),
        }),
        (roster, subscriber, request) => {
          const result = assignLayout({ roster, subscriber, request });
          if (result.ok) {
            expect(result.value.slots.map((slot) => slot.streamId)).toEqual(request.streamIds);
          } else {
            expect(result.error.kind).toMatch(/^[a-z-]+$/);
          }
        },
      ),
    );
  });
});
