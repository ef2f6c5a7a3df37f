import { describe, expect, it } from 'vitest';
import { meetingId } from '../ids.ts';
import {
  ALICE,
  BOB,
  CONTROLLER,
  MEETING,
  command,
  datagram,
  deliver,
  destinations,
  drain,
  forwarder,
  open,
  publish,
} from './testing.ts';
import { DROP_UNKNOWN_STREAM } from './forwarder.ts';

describe('Forwarder meeting end', () => {
  it('drops the meeting’s legs and sessions, leaving other meetings alone', () => {
    const f = forwarder();
    open(f, 1, ALICE);
    open(f, 2, BOB);
    command(f, [publish(ALICE), deliver(ALICE, BOB)]);
    const other = meetingId('m-2');
    command(f, [publish(ALICE)], [], 0, 'x', other);
    expect(destinations(f, 1, datagram(ALICE))).toEqual([2]);

    f.handle({ type: 'meeting-ended', meeting: MEETING, controller: CONTROLLER }, 10);
    expect(drain(f)).toEqual([
      {
        type: 'session-closed',
        connection: 1,
        meeting: MEETING,
        participant: ALICE,
        reason: 'meeting-ended',
      },
      {
        type: 'session-closed',
        connection: 2,
        meeting: MEETING,
        participant: BOB,
        reason: 'meeting-ended',
      },
    ]);
    expect(f.sessionCount).toBe(0);
    expect(f.routes().map((r) => r.meeting)).toEqual([other]);
    expect(f.remembered.routeIds).toBe(1);
    // A session of the meeting opened again finds no legs to forward on.
    open(f, 3, ALICE, 20);
    expect(destinations(f, 3, datagram(ALICE))).toBe(DROP_UNKNOWN_STREAM);
  });
});
