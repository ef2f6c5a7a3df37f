import seedrandom from 'seedrandom';
import type { RandomSource } from '../../core/random.ts';

/** A seeded random stream: core's `RandomSource` plus the draws the simulator needs. */
export interface SimRandom extends RandomSource {
  /** An integer in [0, bound). */
  int(bound: number): number;
  /** A float in [low, high). */
  uniform(low: number, high: number): number;
  /** An exponentially distributed value with the given mean. */
  exponential(mean: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
}

/**
 * Named random sub-streams derived from one run seed. Each stream's seed is the run seed plus
 * a stable name (`client/m42/p7`), so adding an entity never reshuffles the draws of any other.
 */
export class RandomStreams {
  private readonly streams = new Map<string, SimRandom>();

  constructor(readonly seed: number) {}

  /** The stream with this name, created on first use. */
  stream(name: string): SimRandom {
    let stream = this.streams.get(name);
    if (stream === undefined) {
      stream = createStream(`${this.seed}/${name}`);
      this.streams.set(name, stream);
    }
    return stream;
  }

  /** Forgets a stream whose entity is gone; asking for it again starts it afresh. */
  release(name: string): void {
    this.streams.delete(name);
  }
}

function createStream(seed: string): SimRandom {
  const prng = seedrandom.alea(seed);
  const next = (): number => prng.double();
  return {
    next,
    bytes(length) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = Math.floor(next() * 256);
      return out;
    },
    int: (bound) => Math.floor(next() * bound),
    uniform: (low, high) => low + next() * (high - low),
    exponential: (mean) => -mean * Math.log(1 - next()),
    chance: (p) => next() < p,
    pick<T>(items: readonly T[]): T {
      return items[Math.floor(next() * items.length)] as T;
    },
  };
}
