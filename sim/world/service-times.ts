import type { SimRandom } from '../engine/random.ts';
import { ms, type Micros } from '../engine/time.ts';
import type { World } from './world.ts';
import type { Scenario } from '../scenario/schema.ts';

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
 * The quantile at `u` of the forwarding time at handler utilisation `utilisation`, from
 * distributions measured at known utilisations (increasing): linear in utilisation between the
 * quantiles of the two measured around it, the nearest one's below the lowest or above the
 * highest; in ms.
 */
export function quantileByLoad(
  points: readonly { readonly utilisation: number; readonly distribution: Distribution }[],
  utilisation: number,
  u: number,
): number {
  let below: (typeof points)[number] | undefined;
  for (const point of points) {
    if (point.utilisation >= utilisation) {
      const at = quantileOf(point.distribution, u);
      if (below === undefined || point.utilisation === utilisation) return at;
      const from = quantileOf(below.distribution, u);
      const share = (utilisation - below.utilisation) / (point.utilisation - below.utilisation);
      return from + (at - from) * share;
    }
    below = point;
  }
  return below === undefined ? 0 : quantileOf(below.distribution, u);
}

/**
 * One datagram's time inside `handler`: a draw (from `random`) at the handler's load now from
 * `serviceTimes.forwardingByLoad` when the scenario has it, else from
 * `serviceTimes.forwardingDistribution` when it has that, else `serviceTimes.forwardingMs` (no
 * draw).
 */
export function forwardingTime(
  w: World,
  random: () => SimRandom,
  handler: { readonly utilisation: number },
): Micros {
  const times = w.scenario.serviceTimes;
  if (times.forwardingByLoad !== undefined)
    return ms(quantileByLoad(times.forwardingByLoad, handler.utilisation, random().next()));
  const distribution = times.forwardingDistribution;
  if (distribution === undefined) return ms(times.forwardingMs);
  return ms(quantileOf(distribution, random().next()));
}

const spreadSteps = new WeakMap<object, Distribution>();

/** A join step whose service time `serviceTimes.serviceTimeSpread` can spread. */
export type JoinStep = keyof NonNullable<Scenario['serviceTimes']['serviceTimeSpread']>;

/**
 * A join step's service time for one request: `baseMs` times a draw from the step's
 * distribution in `serviceTimes.serviceTimeSpread` (from the world's `service-spread` stream)
 * when the scenario has one for it, else `baseMs` (no draw).
 */
export function joinStepTime(w: World, step: JoinStep, baseMs: number): Micros {
  const spread = w.scenario.serviceTimes.serviceTimeSpread?.[step];
  if (spread === undefined) return ms(baseMs);
  let steps = spreadSteps.get(spread);
  if (steps === undefined) {
    steps = spread.map((s) => ({ upToMs: s.factor, fraction: s.fraction }));
    spreadSteps.set(spread, steps);
  }
  return ms(baseMs * quantileOf(steps, w.sim.random.stream('service-spread').next()));
}

/** The world's random stream for forwarding draws of flow-level samples. */
export function forwardingRandom(w: World): SimRandom {
  return w.sim.random.stream('forwarding');
}
