import { describe, expect, it } from 'vitest';
import { builtinScenario } from './scenario/builtin.ts';
import { runScenario } from './run.ts';
import type { InvariantName } from './invariants/violations.ts';
import type { WorldMutations } from './world/world.ts';

/**
 * Each deliberate breakage of the controller's machines must make the simulator report a
 * violation: the invariants observe what the handlers and clients actually get, not what the
 * controller meant to do. The same runs without the breakage hold every invariant.
 */
const cases: readonly {
  readonly name: string;
  readonly scenario: string;
  readonly seconds: number;
  readonly mutations: WorldMutations;
  readonly invariant: InvariantName;
  /** The seeds run (default seed 1): the mutant must break an invariant in one of them. */
  readonly seeds?: readonly number[];
}[] = [
  {
    name: 'route commands that remove before they add',
    scenario: 'large-meetings',
    seconds: 20,
    mutations: { meeting: { removeBeforeAdd: true } },
    invariant: 'make-before-break',
  },
  {
    name: 'no replan after a handler is lost',
    scenario: 'handler-failure',
    seconds: 30,
    mutations: { meeting: { noReplanOnHandlerLoss: true } },
    invariant: 'convergence',
    // The members report their lost sessions at once, so the controller takes the handler for
    // lost well within the bound; without the replan, a meeting is left on the lost handler
    // until its next join, leave or speaker change replans it, which shows only in a meeting
    // that stays quiet for the bound after the loss (none of seed 1's does). In seeds 3 and 8
    // such a meeting is quiet for the bound after its controller learned of the loss but not
    // after the 2.5 s silence detection: a check that allowed for the silence whatever the
    // controller learned from its members would miss the breakage there.
    seeds: [1, 3, 8],
  },
  {
    name: 'no controller failover',
    scenario: 'controller-failure',
    seconds: 35,
    mutations: { placement: { keepUnhealthy: true } },
    invariant: 'failover',
  },
  {
    name: 'no route-command retransmission',
    scenario: 'partition',
    seconds: 45,
    mutations: { meeting: { noRetransmit: true } },
    // Sent once, removals race the additions they were to wait for.
    invariant: 'make-before-break',
  },
  {
    name: 'no key rotation on join',
    scenario: 'default',
    seconds: 20,
    mutations: { meeting: { noKeyRotationOnJoin: true } },
    invariant: 'media-key-epoch',
  },
  {
    name: 'MLS: leavers kept in the group',
    scenario: 'mls',
    seconds: 30,
    mutations: { meeting: { keepLeaversInMlsGroup: true } },
    invariant: 'media-key-epoch',
  },
];

describe('the simulator notices a broken controller', () => {
  it.each(cases)('$name', ({ scenario, seconds, mutations, invariant, seeds = [1] }) => {
    const found = builtinScenario(scenario);
    if (found === undefined) throw new Error(`no scenario ${scenario}`);
    const run = (seed: number, withMutations: WorldMutations | undefined) =>
      runScenario({
        scenario: found,
        seed,
        durationSeconds: seconds,
        ...(withMutations === undefined ? {} : { mutations: withMutations }),
      }).report;
    const broken = seeds.map((seed) => run(seed, mutations).invariants.byInvariant[invariant] ?? 0);
    expect(broken.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    for (const seed of seeds) expect(run(seed, undefined).invariants.total).toBe(0);
  });
});
