/**
 * Randomness is injected into core: the simulator passes a seeded PRNG, services pass a
 * cryptographic source. Core never draws randomness of its own.
 */
export interface RandomSource {
  /** A uniformly distributed float in [0, 1). */
  next(): number;
  /** `length` uniformly random bytes. */
  bytes(length: number): Uint8Array;
}

/** A uniformly distributed integer in [0, bound). */
export function randomInt(random: RandomSource, bound: number): number {
  return Math.floor(random.next() * bound);
}

/**
 * A small deterministic generator (mulberry32) for core's own tests and property tests.
 * Production callers inject their own source.
 */
export function deterministicRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    bytes(length) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = Math.floor(next() * 256);
      return out;
    },
  };
}
