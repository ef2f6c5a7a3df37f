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
  return new AleaStream(seedrandom.alea(seed));
}

/**
 * One stream over an alea generator. A class, so that the tens of thousands of streams a large
 * run creates (two per client) share their methods instead of each holding its own closures.
 */
class AleaStream implements SimRandom {
  constructor(private readonly prng: seedrandom.PRNG) {}

  next(): number {
    return this.prng.double();
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }

  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  uniform(low: number, high: number): number {
    return low + this.next() * (high - low);
  }

  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}
