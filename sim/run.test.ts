import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { seconds } from './engine/time.ts';
import { builtinScenario } from './scenario/builtin.ts';
import type { Scenario } from './scenario/schema.ts';
import { runScenario } from './run.ts';
import { checkDeterminism, type Runner } from './determinism.ts';
import { swarmScenario } from './swarm.ts';
import type { World } from './world/world.ts';
import { regionId } from '../core/ids.ts';

const scenario = (name: string): Scenario => {
  const found = builtinScenario(name);
  if (found === undefined) throw new Error(`no scenario ${name}`);
  return found;
};

describe('replay by seed', () => {
  it('gives the same trace hash for the same seed and a different one for another seed', () => {
    const run = (seed: number) =>
      runScenario({ scenario: scenario('default'), seed, durationSeconds: 15 }).report;
    const first = run(3);
    expect(first.events).toBeGreaterThan(100);
    expect(run(3).traceHash).toBe(first.traceHash);
    expect(run(4).traceHash).not.toBe(first.traceHash);
  });
});

describe('built-in scenarios (short runs)', () => {
  const cases: [string, number][] = [
    ['default', 40],
    ['partition', 32],
    ['handler-failure', 26],
    ['large-meetings', 20],
    ['scale-out', 60],
    ['controller-failure', 35],
    ['baseline', 3],
  ];
  it.each(cases)('%s keeps every invariant for %ds', (name, durationSeconds) => {
    const { report } = runScenario({ scenario: scenario(name), seed: 11, durationSeconds });
    expect(report.invariants.first).toEqual([]);
    expect(report.joins.admitted).toBeGreaterThan(0);
    expect(report.latency.joinToMedia.count + report.latency.signaling.count).toBeGreaterThan(0);
  });

  it('crosses a signing-key rotation in the default scenario and tokens keep verifying', () => {
    const { report } = runScenario({ scenario: scenario('default'), seed: 5, durationSeconds: 45 });
    expect(report.rotations.signingKeys).toBeGreaterThan(0);
    expect(report.rotations.mediaKeys).toBeGreaterThan(0);
    expect(report.tokens.verified).toBeGreaterThan(report.tokens.issued);
    expect(report.invariants.byInvariant['token-verification']).toBe(0);
  });

  it('adds media handlers through core autoscaling when the load outgrows them', () => {
    const { report } = runScenario({
      scenario: scenario('scale-out'),
      seed: 3,
      durationSeconds: 85,
    });
    expect(report.scaleOuts).toBeGreaterThan(0);
    expect(report.utilisation.handlers.length).toBeGreaterThan(6);
    expect(report.invariants.total).toBe(0);
  });

  it('moves the clients of a failed controller to another one', () => {
    const { report } = runScenario({
      scenario: scenario('controller-failure'),
      seed: 4,
      durationSeconds: 40,
    });
    expect(report.joins.reconnects).toBeGreaterThan(0);
    expect(report.reroutes.failovers).toBeGreaterThan(0);
    expect(report.invariants.total).toBe(0);
  });

  it('crashes the busiest handler of the region when the fault says busiest', () => {
    let sessionsBefore: [string, number][] = [];
    let world: World | undefined;
    runScenario({
      scenario: scenario('handler-failure'),
      seed: 2,
      durationSeconds: 21,
      beforeRun: (simulation, built) => {
        world = built;
        simulation.at(seconds(19.9), 'test.look', 'test', () => {
          sessionsBefore = built
            .regionOf(regionId('us-west-1'))
            .handlers.map((h) => [h.id, h.forwarder.sessionCount]);
        });
      },
    });
    const most = Math.max(...sessionsBefore.map(([, n]) => n));
    expect(most).toBeGreaterThan(0);
    const down = world?.regionOf(regionId('us-west-1')).handlers.filter((h) => !h.healthy);
    expect(down?.map((h) => h.id)).toEqual([sessionsBefore.find(([, n]) => n === most)?.[0]]);
  });

  it('reroutes around a failed handler', () => {
    const { report } = runScenario({
      scenario: scenario('handler-failure'),
      seed: 2,
      durationSeconds: 30,
    });
    expect(report.invariants.total).toBe(0);
    expect(report.reroutes.plans).toBeGreaterThan(0);
    // The failed handler's clients are told to move, and only those moves happen.
    expect(report.reroutes.moves).toBeGreaterThan(0);
    const healthy = runScenario({ scenario: scenario('default'), seed: 2, durationSeconds: 30 });
    expect(healthy.report.reroutes.moves).toBe(0);
  });
});

describe('media-key erasure', () => {
  it('leaves every member holding only epochs its controller has not erased', () => {
    let world: World | undefined;
    runScenario({
      scenario: scenario('default'),
      seed: 2,
      durationSeconds: 60,
      beforeRun: (_, built) => {
        world = built;
      },
    });
    const meetings = world?.keyHoldings() ?? [];
    // Joins in the first 20 s supersede epochs that are erased 30 s later, within the run.
    expect(meetings.filter((m) => m.erased.length > 0).length).toBeGreaterThan(10);
    for (const meeting of meetings) {
      const live = new Set(meeting.live);
      for (const held of meeting.members) {
        for (const epoch of held) expect(live.has(epoch)).toBe(true);
        for (const epoch of meeting.erased) expect(held.has(epoch)).toBe(false);
      }
    }
  });
});

describe('determinism check', () => {
  it('finds two runs of one seed identical', () => {
    const result = checkDeterminism(
      { scenario: scenario('default'), seed: 9, durationSeconds: 10 },
      200,
    );
    expect(result.identical).toBe(true);
    expect(result.divergence).toBeNull();
  });

  it('names the first divergent event when the second run differs', () => {
    let calls = 0;
    const perturbOnSecondRun: Runner = (options) =>
      runScenario({
        ...options,
        beforeRun: (simulation) => {
          calls++;
          if (calls === 2)
            simulation.at(seconds(4), 'perturbation', 'test/extra-event', () => undefined);
        },
      });
    const result = checkDeterminism(
      { scenario: scenario('default'), seed: 9, durationSeconds: 10 },
      50,
      perturbOnSecondRun,
    );
    expect(result.identical).toBe(false);
    expect(result.divergence?.second).toContain('perturbation test/extra-event');
    expect(result.divergence?.first).not.toContain('perturbation');
    expect(result.divergence?.second.startsWith(`${seconds(4)} `)).toBe(true);
  });
});

describe('seeds the random property once failed on', () => {
  // 1008: a handler failed while a transition's additions to it were unacknowledged; the
  // controller then sent the removals those additions were to replace. 355054: a meeting whose
  // replan after a handler failure found no room elsewhere (stranded, reported apart).
  it.each([1008, 355054])('swarm seed %i keeps every invariant', (seed) => {
    const report = runScenario({ scenario: swarmScenario(seed, 8), seed }).report;
    expect(report.invariants.first).toEqual([]);
  });
});

describe('a partition', () => {
  // Seed 2: an epoch began while a member was cut off and the settle check came before the
  // controller's resend after the heal; the check now gives the resend its time.
  it('leaves every member on the epoch in force once it heals (partition, seed 2)', () => {
    const scenario = builtinScenario('partition');
    if (scenario === undefined) throw new Error('no partition scenario');
    const report = runScenario({ scenario, seed: 2, durationSeconds: 45 }).report;
    expect(report.invariants.first).toEqual([]);
  });
});

describe('property: small random scenarios', () => {
  it('violate no invariant and replay to the same hash', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
        const random = swarmScenario(seed, 8);
        const first = runScenario({ scenario: random, seed }).report;
        expect(first.invariants.first).toEqual([]);
        expect(runScenario({ scenario: random, seed }).report.traceHash).toBe(first.traceHash);
      }),
      { numRuns: 6 },
    );
  });
});

describe('warm start', () => {
  it("gives the controllers every handler's report before the first join", () => {
    // Meetings of four whose members all arrive within the first report interval (the first
    // 16 ms in): on a platform already running, none of them is refused a token for want of a
    // signing key, nor a place for want of a report.
    const loopback = scenario('loopback');
    const early: Scenario = {
      ...loopback,
      faults: [],
      workload: { ...loopback.workload, joinSpreadSeconds: 0.5 },
    };
    const { report } = runScenario({ scenario: early, seed: 5, durationSeconds: 3 });
    expect(report.joins.attempted).toBe(16);
    expect(report.joins.rejected).toBe(0);
    expect(report.joins.admitted).toBe(16);
  });
});
