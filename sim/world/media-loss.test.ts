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
