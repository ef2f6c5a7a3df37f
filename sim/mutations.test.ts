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
  it.each(cases)('$name', ({ scenario, seconds, mutations, invariant }) => {
    const found = builtinScenario(scenario);
    if (found === undefined) throw new Error(`no scenario ${scenario}`);
    const run = (withMutations: WorldMutations | undefined) =>
      runScenario({
        scenario: found,
        seed: 1,
        durationSeconds: seconds,
        ...(withMutations === undefined ? {} : { mutations: withMutations }),
      }).report;
    expect(run(mutations).invariants.byInvariant[invariant]).toBeGreaterThan(0);
    expect(run(undefined).invariants.total).toBe(0);
  });
});
