import { describe, expect, it } from 'vitest';
import { seconds, type Micros } from '../engine/time.ts';
import { runScenario } from '../run.ts';
import { builtinScenario } from '../scenario/builtin.ts';
import { scenarioSchema, type Scenario } from '../scenario/schema.ts';

/** The times (ms) each event of `kind` fired at, by entity, in a run of `scenario`. */
function firedAt(scenario: Scenario, kind: string, durationSeconds: number) {
  const at = new Map<string, number>();
  runScenario({
    scenario,
    seed: 3,
    durationSeconds,
    beforeRun: (sim) => {
      const schedule = sim.at.bind(sim);
      sim.at = (time: Micros, k: string, entity: string, action: () => void) =>
        schedule(time, k, entity, () => {
          if (k === kind) at.set(entity, sim.now / 1000);
          action();
        });
    },
  });
  return at;
}

function fourMeetingsOfFour(arrivals: 'random' | 'even'): Scenario {
  const base = builtinScenario('loopback');
  if (base === undefined) throw new Error('no loopback scenario');
  return {
    ...base,
    faults: [],
    workload: {
      ...base.workload,
      concurrentMeetings: 4,
      participants: { mean: 4, min: 4, max: 4 },
      joinSpreadSeconds: 4,
      meanMeetingSeconds: 86_400,
      earlyLeaveProbability: 0,
      reconnectProbability: 0,
      arrivals,
    },
  };
}

describe('the workload', () => {
  it("has 'even' arrivals one after another, meeting by meeting, each in the middle of its slot", () => {
    const arrived = firedAt(fourMeetingsOfFour('even'), 'client.arrive', 5);
    const times = [...arrived.values()].sort((a, b) => a - b);
    // 16 members over 4 s: a slot of 250 ms each, the first at 125 ms.
    expect(times).toHaveLength(16);
    times.forEach((time, k) => expect(time).toBeCloseTo(125 + 250 * k, 6));
    // Meeting by meeting: the first four arrivals are the first meeting's members.
    const order = [...arrived.entries()].sort((a, b) => a[1] - b[1]).map(([entity]) => entity);
    const meetingOf = (entity: string) => entity.split('/')[1]?.split('/')[0] ?? entity;
    expect(new Set(order.slice(0, 4).map(meetingOf)).size).toBe(1);
    expect(new Set(order.map(meetingOf)).size).toBe(4);
  });

  it('has random arrivals by default, within twice the spread and off the even grid', () => {
    expect(scenarioSchema.parse(fourMeetingsOfFour('random')).workload.arrivals).toBe('random');
    const { arrivals: _, ...workload } = fourMeetingsOfFour('random').workload;
    expect(
      scenarioSchema.parse({ ...fourMeetingsOfFour('random'), workload }).workload.arrivals,
    ).toBe('random');
    const times = [...firedAt(fourMeetingsOfFour('random'), 'client.arrive', 9).values()];
    expect(times).toHaveLength(16);
    // A meeting starts within the spread and its members arrive within it after its start.
    for (const time of times) expect(time).toBeLessThan(seconds(8) / 1000);
    const onGrid = times.filter((t) => Math.abs(((t - 125) / 250) % 1) < 1e-6);
    expect(onGrid.length).toBeLessThan(4);
  });
});
