import type { SimRandom } from '../engine/random.ts';
import { ms, type Micros } from '../engine/time.ts';
import type { World } from './world.ts';

/**
 * Service times the world takes from the scenario beyond its constants: the handler's
 * forwarding time drawn from a calibrated distribution, and the handshakes of the signaling
 * and media connections.
 */

type Distribution = readonly { readonly upToMs: number; readonly fraction: number }[];

/**
 * The value at cumulative fraction `u` (0 to 1) of `steps` (a fraction of the values are at most
 * its `upToMs`), linear within a step, from 0 below the first; in ms.
 */
export function quantileOf(steps: Distribution, u: number): number {
  let lowerMs = 0;
  let lowerFraction = 0;
  for (const step of steps) {
    if (u <= step.fraction) {
      const width = step.fraction - lowerFraction;
      if (width <= 0) return step.upToMs;
      // Never past the step's bound (rounding can take the interpolation one ulp over it).
      return Math.min(
        step.upToMs,
        lowerMs + ((step.upToMs - lowerMs) * (u - lowerFraction)) / width,
      );
    }
    lowerMs = step.upToMs;
    lowerFraction = step.fraction;
  }
  return lowerMs;
}

/**
 * One datagram's time inside a handler: a draw from `serviceTimes.forwardingDistribution`
 * (from `random`) when the scenario has one, else `serviceTimes.forwardingMs` (no draw).
 */
export function forwardingTime(w: World, random: () => SimRandom): Micros {
  const distribution = w.scenario.serviceTimes.forwardingDistribution;
  if (distribution === undefined) return ms(w.scenario.serviceTimes.forwardingMs);
  return ms(quantileOf(distribution, random().next()));
}

/** The world's random stream for forwarding draws of flow-level samples. */
export function forwardingRandom(w: World): SimRandom {
  return w.sim.random.stream('forwarding');
}
