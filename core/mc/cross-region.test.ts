import { describe, expect, it } from 'vitest';
import {
  OTHER_REGION,
  REGION,
  ackUntilIdle,
  drain,
  grid,
  h,
  joinInput,
  newMeeting,
  ofType,
  report,
  viewOf,
} from './testing.ts';

/** A meeting of REGION with a member there and one in OTHER_REGION, each region with a handler. */
function twoRegionMeeting(crossRegion: 'cascade' | 'single-region' | undefined) {
  const view = viewOf(['h1']);
  view.report(report('h3', 0, { region: OTHER_REGION }), 0);
  const { machine } = newMeeting([], crossRegion === undefined ? {} : { crossRegion }, view);
  const homes = new Map<string, string>();
  for (const [who, region] of [
    ['a', REGION],
    ['c', OTHER_REGION],
  ] as const) {
    machine.handle(joinInput(who, grid(), region), 0);
    const out = drain(machine);
    for (const accepted of ofType(out, 'join-accepted')) homes.set(who, accepted.handler);
    ackUntilIdle(machine, out, 0);
  }
  return { machine, homes };
}

describe('MeetingMachine cross-region meetings', () => {
  it('cascades by default: each member on a handler of its own region', () => {
    const { machine, homes } = twoRegionMeeting(undefined);
    expect(homes).toEqual(
      new Map([
        ['a', h('h1')],
        ['c', h('h3')],
      ]),
    );
    expect(machine.plan?.cascades.length).toBeGreaterThan(0);
  });

  it('single-region: every member on the meeting region’s handlers, no cascade abroad', () => {
    const { machine, homes } = twoRegionMeeting('single-region');
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
