import { describe, expect, it } from 'vitest';
import { routeKey } from '../../core/routing/keys.ts';
import type { Route } from '../../core/routing/types.ts';
import { builtinScenario } from '../scenario/builtin.ts';
import { runScenario } from '../run.ts';
import type { World } from './world.ts';

/**
 * The handlers' forwarders (core/mh) are the data plane; the meeting's installed graph, which
 * the invariant checks read, is the world's mirror of what they acknowledged. After a run the
 * two agree, leg for leg, on every live handler and running meeting.
 */
function mirrorDisagreements(world: World): string[] {
  const problems: string[] = [];
  for (const handler of world.handlersById.values()) {
    if (!handler.healthy) continue;
    const actual = new Set<string>();
    for (const { meeting, route } of handler.forwarder.routes())
      if (world.meetings.has(meeting)) actual.add(`${meeting} ${routeKey(route)}`);
    const expected = new Set<string>();
    for (const meeting of world.meetings.values()) {
      const add = (route: Route) => expected.add(`${meeting.id} ${routeKey(route)}`);
      for (const route of meeting.cascadesHeldBy(handler.id)) add(route);
      for (const paths of meeting.installed.allPaths()) {
        const { publisher, kind } = paths.stream;
        for (const at of paths.publishedAt)
          if (at === handler.id) add({ type: 'publish', publisher, kind, handler: at });
        for (const [subscriber, at] of paths.deliveries)
          if (at.includes(handler.id))
            add({ type: 'deliver', publisher, kind, handler: handler.id, subscriber });
      }
    }
    for (const leg of actual) if (!expected.has(leg)) problems.push(`${handler.id} holds ${leg}`);
    for (const leg of expected) if (!actual.has(leg)) problems.push(`${handler.id} lacks ${leg}`);
  }
  return problems;
}

describe('the handlers’ forwarding tables', () => {
  it.each([
    ['default', 40],
    ['handler-failure', 40],
    ['partition', 40],
  ])('match the data plane the checks read (%s)', (name, seconds) => {
    const scenario = builtinScenario(name);
    if (scenario === undefined) throw new Error(`no scenario ${name}`);
    let world: World | undefined;
    const { report } = runScenario({
      scenario,
      seed: 3,
      durationSeconds: seconds,
      beforeRun: (_sim, w) => {
        world = w;
      },
    });
    expect(report.invariants.total).toBe(0);
    const legs = [...world!.handlersById.values()].reduce(
      (n, h) => n + (h.healthy ? h.forwarder.routes().length : 0),
      0,
    );
    expect(legs).toBeGreaterThan(50);
    expect(mirrorDisagreements(world!)).toEqual([]);
  });
});
