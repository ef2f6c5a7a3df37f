/**
 * The hub's second publish: when the plan has a member publish to a handler besides its home
 * (core/routing sends a publisher's stream shown away from its home to the meeting's hub too),
 * the meeting tells the member so, with a token for that handler, and tells it to stop when a
 * plan no longer has it. Properties: what members are told always matches the plan in force.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HandlerId, ParticipantId } from '../ids.ts';
import { secondPublishTargets, type MeetingMachine } from './meeting.ts';
import {
  ackUntilIdle,
  drain,
  grid,
  h,
  joinInput,
  newMeeting,
  ofType,
  OTHER_REGION,
  p,
  REGION,
  report,
  twoRegionMeeting,
  viewOf,
} from './testing.ts';

describe('publish-also (the hub publish)', () => {
  it('tells a member homed away from the hub, whose stream the hub side shows, to publish to the hub too', () => {
    const { machine, outputs } = twoRegionMeeting();
    expect(machine.plan?.hub).toBe(h('h1'));
    // c is homed on h3; its streams are shown to a on h1, the hub: c publishes to h1 too.
    expect(
      machine.plan?.publishes.filter((r) => r.publisher === p('c')).map((r) => r.handler),
    ).toContain(h('h1'));
    const told = ofType(outputs, 'publish-also');
    expect(told).toMatchObject([
      { participant: p('c'), handler: h('h1'), token: { participant: p('c'), handler: h('h1') } },
    ]);
    // a is on the hub: nothing to tell it.
    expect(told.some((o) => o.participant === p('a'))).toBe(false);
  });

  it('tells it again when it joins again (a new connection), and to stop when the plan drops it', () => {
    const { machine } = twoRegionMeeting();
    machine.handle(joinInput('c', grid(), OTHER_REGION), 10);
    expect(ofType(drain(machine), 'publish-also')).toMatchObject([
      { participant: p('c'), handler: h('h1') },
    ]);
    // a leaves: c alone, nothing shown away from its home, no hub publish.
    machine.handle({ type: 'leave', participant: p('a') }, 20);
    const out = drain(machine);
    ackUntilIdle(machine, out, 20);
    expect(ofType(out, 'publish-also')).toEqual([
      { type: 'publish-also', participant: p('c'), handler: null, token: null },
    ]);
  });

  it('tells nobody in a meeting on one handler', () => {
    const { machine } = newMeeting(['h1']);
    for (const who of ['a', 'b', 'c']) machine.handle(joinInput(who), 0);
    expect(ofType(drain(machine), 'publish-also')).toEqual([]);
  });

  it('property: after any joins and leaves across two regions, each member was last told exactly its second publish in the plan', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 4 }), fc.boolean()), {
          maxLength: 14,
        }),
        (steps) => {
          const view = viewOf(['h1', 'h2']);
          view.report(report('h3', 0, { region: OTHER_REGION }), 0);
          const { machine } = newMeeting([], {}, view);
          const told = new Map<ParticipantId, HandlerId | null>();
          const record = (m: MeetingMachine) => {
            const out = drain(m);
            for (const o of ofType(out, 'publish-also')) told.set(o.participant, o.handler);
            for (const o of ackUntilIdle(m, out, 0))
              if (o.type === 'publish-also') told.set(o.participant, o.handler);
          };
          for (const [joins, who, far] of steps) {
            const id = `u${who}`;
            if (joins) machine.handle(joinInput(id, grid(), far ? OTHER_REGION : REGION), 0);
            else {
              machine.handle({ type: 'leave', participant: p(id) }, 0);
              told.delete(p(id));
            }
            record(machine);
          }
          const plan = machine.plan;
          const wanted = plan === null ? new Map() : secondPublishTargets(plan);
          for (const member of machine.roster.members.keys())
            expect(told.get(member) ?? null, member).toBe(wanted.get(member) ?? null);
        },
      ),
      { numRuns: 150 },
    );
  });
});
