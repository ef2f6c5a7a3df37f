import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { meetingId, regionId } from '../ids.ts';
import { preparePlanning, type PlanningContext } from './input.ts';
import { planRouting } from './planner.ts';
import { spreadRanks } from './rank.ts';
import { arbitraryRoutingInput, makeHandler, makeParticipant, wants } from './testing.ts';
import type { LatencyTable, RoutingInput, RoutingPlan } from './types.ts';

function prepared(input: RoutingInput): PlanningContext {
  const ctx = preparePlanning(input);
  if (!ctx.ok) throw new Error(`unexpected ${ctx.error.kind}`);
  return ctx.value;
}

function planned(input: RoutingInput): RoutingPlan {
  const plan = planRouting(input);
  if (!plan.ok) throw new Error(`unexpected ${plan.error.kind}`);
  return plan.value;
}

/** The context of `input` worked out from nothing: no previous plan to take anything over from. */
function afresh(input: RoutingInput): PlanningContext {
  const { previous: _previous, ...rest } = input;
  return prepared(rest);
}

const base: RoutingInput = {
  meeting: meetingId('m1'),
  participants: [
    makeParticipant('a', 0),
    makeParticipant('b', 1, { region: regionId('eu-west-1') }),
    makeParticipant('c', 2),
  ],
  handlers: [
    makeHandler('h1'),
    makeHandler('h2', { region: regionId('eu-west-1') }),
    makeHandler('h3', { region: regionId('us-east-1') }),
  ],
  demand: [wants('a', 'b', 'camera'), wants('b', 'a', 'camera'), wants('c', 'a', 'audio')],
  latencyMs: table({
    'us-west-1': { 'eu-west-1': 140, 'us-east-1': 60 },
    'eu-west-1': { 'us-west-1': 140, 'us-east-1': 80 },
    'us-east-1': { 'us-west-1': 60, 'eu-west-1': 80 },
  }),
};

function table(rows: Record<string, Record<string, number>>): LatencyTable {
  return rows as LatencyTable;
}

describe('the planning context after a previous plan', () => {
  it('takes the latencies and tie-break ranks over when participants and handlers are placed alike', () => {
    const previous = planned(base);
    const next = prepared({ ...base, demand: [wants('c', 'b', 'camera')], previous });
    const first = prepared(base);
    expect(next.latency).toBe(prepared({ ...base, previous }).latency);
    expect([...next.latency]).toEqual([...first.latency]);
    expect([...next.spread]).toEqual([...first.spread]);
  });

  it('works the latencies out again when a participant is in another region', () => {
    const previous = planned(base);
    const moved: RoutingInput = {
      ...base,
      participants: base.participants.map((p) =>
        p.id === 'c' ? { ...p, region: regionId('us-east-1') } : p,
      ),
      previous,
    };
    expect([...prepared(moved).latency]).toEqual([...afresh(moved).latency]);
  });

  it('works the latencies out again when the participants are others', () => {
    const previous = planned(base);
    const joined: RoutingInput = {
      ...base,
      participants: [
        ...base.participants,
        makeParticipant('d', 3, { region: regionId('eu-west-1') }),
      ],
      previous,
    };
    expect([...prepared(joined).latency]).toEqual([...afresh(joined).latency]);
  });

  it('works both out again when a handler is in another region, is another or is gone', () => {
    const previous = planned(base);
    const changes: RoutingInput['handlers'][] = [
      base.handlers.map((h) => (h.id === 'h3' ? { ...h, region: regionId('eu-west-1') } : h)),
      base.handlers.map((h) => (h.id === 'h3' ? makeHandler('h4') : h)),
      base.handlers.map((h) =>
        h.id === 'h3' ? makeHandler('h4', { region: regionId('us-east-1') }) : h,
      ),
      base.handlers.filter((h) => h.id !== 'h2'),
      base.handlers.filter((h) => h.id !== 'h3'),
      [...base.handlers, makeHandler('h5', { region: regionId('eu-west-1') })],
      base.handlers.map((h) => (h.id === 'h2' ? { ...h, healthy: false } : h)),
    ];
    for (const handlers of changes) {
      const input = { ...base, handlers, previous };
      const ctx = prepared(input);
      const fresh = afresh(input);
      expect([...ctx.latency]).toEqual([...fresh.latency]);
      expect([...ctx.spread]).toEqual([...fresh.spread]);
    }
  });

  it('works both out again for another latency table or another meeting', () => {
    const previous = planned(base);
    const latencyMs = table({
      ...base.latencyMs,
      'us-west-1': { 'eu-west-1': 10, 'us-east-1': 20 },
    });
    const other = { ...base, latencyMs, previous };
    expect([...prepared(other).latency]).toEqual([...afresh(other).latency]);
    const renamed = { ...base, meeting: meetingId('m2'), previous };
    expect([...prepared(renamed).spread]).toEqual([
      ...spreadRanks('m2', prepared(renamed).healthy),
    ]);
    expect([...prepared(renamed).spread]).not.toEqual([...prepared(base).spread]);
  });

  it('is the context worked out afresh, for any meeting planned twice', () => {
    const input = arbitraryRoutingInput({
      maxParticipants: 12,
      maxHandlers: 6,
      ampleCapacity: true,
    });
    fc.assert(
      fc.property(input, input, (first, second) => {
        const plan = planRouting(first);
        if (!plan.ok) return;
        const next = { ...second, meeting: first.meeting, previous: plan.value };
        const ctx = preparePlanning(next);
        if (!ctx.ok) return;
        const fresh = afresh(next);
        expect([...ctx.value.latency]).toEqual([...fresh.latency]);
        expect([...ctx.value.spread]).toEqual([...fresh.spread]);
      }),
      { numRuns: 200 },
    );
  });
});

describe('canonical order', () => {
  it('numbers only the healthy handlers', () => {
    const input = {
      ...base,
      handlers: base.handlers.map((h) => (h.id === 'h2' ? { ...h, healthy: false } : h)),
    };
    const ctx = prepared(input);
    expect(ctx.healthy.map((h) => h.id)).toEqual(['h1', 'h3']);
    expect(ctx.handlersById.size).toBe(3);
  });

  it('sorts participants by join order and handlers by id whatever order they come in', () => {
    const shuffled: RoutingInput = {
      ...base,
      participants: [...base.participants].reverse(),
      handlers: [...base.handlers].reverse(),
    };
    const ctx = prepared(shuffled);
    expect(ctx.participants.map((p) => p.id)).toEqual(['a', 'b', 'c']);
    expect(ctx.healthy.map((h) => h.id)).toEqual(['h1', 'h2', 'h3']);
    // A copy: the caller's lists are left as they were.
    expect(shuffled.participants.map((p) => p.id)).toEqual(['c', 'b', 'a']);
    const sorted = prepared(base);
    expect(sorted.participants).not.toBe(base.participants);
    expect(sorted.participants).toEqual(base.participants);
  });

  it('orders participants of one join order by id', () => {
    const tied = {
      ...base,
      participants: [makeParticipant('b', 0), makeParticipant('a', 0), makeParticipant('c', 0)],
      demand: [],
    };
    expect(prepared(tied).participants.map((p) => p.id)).toEqual(['a', 'b', 'c']);
  });

  it('groups a subscriber whose pairs are not together as one that lists them together', () => {
    const apart = {
      ...base,
      demand: [wants('a', 'b', 'camera'), wants('c', 'b', 'camera'), wants('a', 'c', 'camera')],
    };
    const together = {
      ...base,
      demand: [wants('a', 'b', 'camera'), wants('a', 'c', 'camera'), wants('c', 'b', 'camera')],
    };
    const streams = prepared(apart).streams;
    expect(streams).toEqual(prepared(together).streams);
    expect(streams.map((s) => [s.stream.publisher, s.subscribers])).toEqual([
      ['b', ['a', 'c']],
      ['c', ['a']],
    ]);
  });
});
