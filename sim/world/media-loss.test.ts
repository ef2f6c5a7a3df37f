import { describe, expect, it } from 'vitest';
import { builtinScenario } from '../scenario/builtin.ts';
import { runScenario } from '../run.ts';
import { ms, seconds, type Micros } from '../engine/time.ts';
import type { World } from './world.ts';

describe("the simulated clients' lost media sessions", () => {
  it.each(['loopback', 'handler-failure'])(
    "have the controllers take a crashed handler for lost from its members' reports, before its silence (%s)",
    (name) => {
      const scenario = builtinScenario(name);
      if (scenario === undefined) throw new Error(`no scenario ${name}`);
      let world: World | undefined;
      const { report } = runScenario({
        scenario,
        seed: 1,
        durationSeconds: 25,
        beforeRun: (_, w) => {
          world = w;
        },
      });
      expect(report.invariants.total).toBe(0);
      const crashedAt = seconds(20);
      const learned: Micros[] = [];
      for (const controller of world?.controllersById.values() ?? [])
        for (const at of controller.handlersLostAt.values()) if (at >= crashedAt) learned.push(at);
      // Load reports every second and 2.5 s of silence: at least 1.5 s after the crash that
      // way; a member's report takes a round trip and a packet interval.
      expect(learned.length).toBeGreaterThan(0);
      expect(Math.min(...learned) - crashedAt).toBeLessThan(ms(200));
    },
  );
});

describe("the controller's moves", () => {
  it('reach the client over its signaling, one hop after the controller sends them', () => {
    const scenario = builtinScenario('handler-failure');
    if (scenario === undefined) throw new Error('no scenario handler-failure');
    const hops: { sent: Micros; fired: Micros; expected: Micros }[] = [];
    let world: World | undefined;
    runScenario({
      scenario,
      seed: 1,
      durationSeconds: 25,
      beforeRun: (sim, w) => {
        world = w;
        const schedule = sim.at.bind(sim);
        sim.at = (time: Micros, kind: string, entity: string, action: () => void) => {
          if (kind !== 'client.move') return schedule(time, kind, entity, action);
          const sent = sim.now;
          const client = [...w.clients.values()].find((c) => c.entity === entity);
          const controller = client?.controller;
          const expected =
            client === undefined || controller === undefined
              ? NaN
              : w.network.baseLatency(controller.node, client.node);
          return schedule(time, kind, entity, () => {
            hops.push({ sent, fired: sim.now, expected });
            action();
          });
        };
      },
    });
    expect(world?.metrics.reroutes.moves ?? 0).toBeGreaterThan(0);
    expect(hops.length).toBeGreaterThan(0);
    for (const hop of hops) {
      expect(hop.expected).toBeGreaterThan(0);
      // At least the hop's base latency (jitter may add to it), and well under a retransmission.
      expect(hop.fired - hop.sent).toBeGreaterThanOrEqual(hop.expected);
      expect(hop.fired - hop.sent).toBeLessThan(hop.expected + ms(50));
    }
  });
});
