/**
 * Keyframe requests: a member that cannot decode until a keyframe asks; the meeting asks each
 * publisher whose video the plan in force delivers to it (or the one it named), never for audio,
 * each publisher at most once per interval, holding a request within the interval until it ends.
 * Property: every request is served by an ask of the publisher no earlier than the request and
 * within one interval, and no publisher is asked twice within an interval.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ParticipantId } from '../ids.ts';
import { KEYFRAME_REQUEST_INTERVAL_MS, type MeetingMachine } from './meeting.ts';
import { drain, joinInput, joinSettled, newMeeting, ofType, p, SOLO } from './testing.ts';

const ask = (machine: MeetingMachine, who: string, now: number, publisher?: string) =>
  machine.handle(
    {
      type: 'keyframe-request',
      participant: p(who),
      publisher: publisher === undefined ? undefined : p(publisher),
    },
    now,
  );

const asked = (machine: MeetingMachine) =>
  ofType(drain(machine), 'keyframe-request').map((o) => [o.participant, o.kinds]);

function meeting(interval?: number) {
  // Audio goes to every member too: the requests must leave it out.
  const { machine } = newMeeting(
    ['h1', 'h2'],
    interval === undefined
      ? { forwardAudio: true }
      : { forwardAudio: true, keyframeRequestIntervalMs: interval },
  );
  joinSettled(machine, ['a', 'b', 'c'], 0);
  drain(machine);
  return machine;
}

describe('keyframe requests', () => {
  it('asks every publisher whose video reaches the requester for a camera keyframe, not itself and not for audio', () => {
    const machine = meeting();
    expect(machine.plan?.deliveries.some((r) => r.kind === 'audio')).toBe(true);
    ask(machine, 'c', 100);
    expect(asked(machine)).toEqual([
      [p('a'), ['camera']],
      [p('b'), ['camera']],
    ]);
  });

  it('asks only the publisher named', () => {
    const machine = meeting();
    ask(machine, 'c', 100, 'b');
    expect(asked(machine)).toEqual([[p('b'), ['camera']]]);
    // Itself, or someone who is no member: nobody.
    ask(machine, 'c', 1_000, 'c');
    ask(machine, 'c', 2_000, 'zed');
    expect(asked(machine)).toEqual([]);
  });

  it('asks nobody whose video the plan does not deliver to the requester', () => {
    const { machine } = newMeeting(['h1']);
    for (const who of ['a', 'b', 'c']) machine.handle(joinInput(who, SOLO), 0);
    drain(machine);
    machine.handle({ type: 'speaker', participant: p('a') }, 0);
    drain(machine);
    // c's speaker view shows a alone: only a is asked.
    ask(machine, 'c', 100);
    expect(asked(machine)).toEqual([[p('a'), ['camera']]]);
  });

  it('holds a request within the interval and sends it when the interval ends', () => {
    const machine = meeting(60);
    ask(machine, 'c', 100);
    expect(asked(machine)).toHaveLength(2);
    // b asks for a and c: c was not asked yet, a was 10 ms ago.
    ask(machine, 'b', 110);
    expect(asked(machine)).toEqual([[p('c'), ['camera']]]);
    expect(machine.pollTimeout()).toBe(160);
    machine.handleTimeout(159);
    expect(asked(machine)).toEqual([]);
    machine.handleTimeout(160);
    expect(asked(machine)).toEqual([[p('a'), ['camera']]]);
    expect(machine.pollTimeout()).not.toBe(160);
  });

  it('ignores a non-member and drops what was held for a publisher who left', () => {
    const machine = meeting(60);
    ask(machine, 'zed', 100);
    expect(asked(machine)).toEqual([]);
    ask(machine, 'c', 100);
    drain(machine);
    ask(machine, 'b', 110);
    drain(machine);
    machine.handle({ type: 'leave', participant: p('a') }, 120);
    machine.handleTimeout(160);
    expect(asked(machine)).toEqual([]);
  });

  it('defaults to KEYFRAME_REQUEST_INTERVAL_MS', () => {
    const machine = meeting();
    ask(machine, 'c', 0, 'a');
    ask(machine, 'b', 1, 'a');
    expect(asked(machine)).toEqual([[p('a'), ['camera']]]);
    expect(machine.pollTimeout()).toBeLessThanOrEqual(KEYFRAME_REQUEST_INTERVAL_MS);
  });

  it('property: each request is served within one interval, and no publisher is asked twice within one', () => {
    const names = ['a', 'b', 'c', 'd'];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 150 }),
            fc.constantFrom(...names),
            fc.option(fc.constantFrom(...names), { nil: undefined }),
          ),
          { maxLength: 30 },
        ),
        (interval, steps) => {
          const { machine } = newMeeting(['h1', 'h2'], {
            forwardAudio: true,
            keyframeRequestIntervalMs: interval,
          });
          joinSettled(machine, names, 0);
          drain(machine);
          const asks: { who: ParticipantId; at: number }[] = [];
          const requests: { publisher: ParticipantId; at: number }[] = [];
          let now = 0;
          const collect = () => {
            for (const o of ofType(drain(machine), 'keyframe-request')) {
              expect(o.kinds.length).toBeGreaterThan(0);
              expect(o.kinds).not.toContain('audio');
              asks.push({ who: o.participant, at: now });
            }
          };
          const advanceTo = (t: number) => {
            for (let next = machine.pollTimeout(); next !== null && next <= t;) {
              now = Math.max(now, next);
              machine.handleTimeout(now);
              collect();
              const after = machine.pollTimeout();
              if (after === next) throw new Error('a deadline that does not move');
              next = after;
            }
            now = t;
          };
          for (const [gap, who, publisher] of steps) {
            advanceTo(now + gap);
            const delivered = (machine.plan?.deliveries ?? [])
              .filter(
                (r) =>
                  r.subscriber === p(who) &&
                  r.kind !== 'audio' &&
                  r.publisher !== p(who) &&
                  (publisher === undefined || r.publisher === p(publisher)),
              )
              .map((r) => r.publisher);
            for (const pub of new Set(delivered)) requests.push({ publisher: pub, at: now });
            ask(machine, who, now, publisher);
            collect();
          }
          advanceTo(now + interval + 1);
          for (const request of requests) {
            expect(
              asks.some(
                (a) =>
                  a.who === request.publisher &&
                  a.at >= request.at &&
                  a.at <= request.at + interval,
              ),
            ).toBe(true);
          }
          for (const name of names) {
            const times = asks.filter((a) => a.who === p(name)).map((a) => a.at);
            for (let i = 1; i < times.length; i++)
              expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(
                interval,
              );
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
