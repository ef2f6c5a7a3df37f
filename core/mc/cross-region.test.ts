import { describe, expect, it } from 'vitest';
import { h, ofType, twoRegionMeeting } from './testing.ts';

/** Each member's home as its join was accepted. */
function homesIn(crossRegion: 'cascade' | 'single-region' | undefined) {
  const { machine, outputs } = twoRegionMeeting(crossRegion === undefined ? {} : { crossRegion });
  const homes = new Map(
    ofType(outputs, 'join-accepted').map((a) => [String(a.participant), a.handler]),
  );
  return { machine, homes };
}

describe('MeetingMachine cross-region meetings', () => {
  it('cascades by default: each member on a handler of its own region', () => {
    const { machine, homes } = homesIn(undefined);
    expect(homes).toEqual(
      new Map([
        ['a', h('h1')],
        ['c', h('h3')],
      ]),
    );
    expect(machine.plan?.cascades.length).toBeGreaterThan(0);
  });

  it('single-region: every member on the meeting region’s handlers, no cascade abroad', () => {
    const { machine, homes } = homesIn('single-region');
    expect(homes).toEqual(
      new Map([
        ['a', h('h1')],
        ['c', h('h1')],
      ]),
    );
    expect(machine.plan?.loads.map((l) => l.handler)).toEqual([h('h1')]);
    expect(machine.plan?.cascades).toEqual([]);
  });
});
