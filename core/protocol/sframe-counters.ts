/**
 * Counter rules of SFrame (RFC 9605):
 *
 * - Sender (sections 4.3, 7.4 and 9.1): each (KID, CTR) pair encrypts at most one frame, and a
 *   sender MUST refuse to encrypt twice under the same key and nonce. `SFrameSendCounter` hands
 *   out CTR values for one KID: by default the next one (0, 1, 2, ...), or one the caller asks
 *   for if it is above every value handed out so far. It never goes back, so it never repeats,
 *   and it refuses once 2^64-1 has been used.
 * - Receiver (section 9.3, optional): `SFrameReplayWindow` is the counter-based anti-replay of
 *   RFC 3711 section 3.3.2 over CTR: a frame is accepted once, and only if its CTR is within
 *   `size` of the highest CTR accepted so far. Check before decrypting, record only after the
 *   frame authenticated, so forged frames cannot move the window.
 */
import { err, ok, type Result } from '../result.ts';
import { MAX_SFRAME_VALUE } from './sframe.ts';

export type SFrameCounterError =
  | { readonly kind: 'counter-reused'; readonly ctr: bigint; readonly next: bigint }
  | { readonly kind: 'counter-exhausted' }
  | { readonly kind: 'value-out-of-range'; readonly field: 'ctr'; readonly value: bigint };

/** The CTR values one sender KID has used and may use. */
export class SFrameSendCounter {
  #next: bigint;

  /** `next` is the first CTR to use: 0 for a fresh key, or a value restored from storage. */
  constructor(next = 0n) {
    this.#next = next;
  }

  /** The CTR the next `take()` without an argument returns (2^64 once all are used). */
  get next(): bigint {
    return this.#next;
  }

  /**
   * Takes a CTR for one encryption: `requested`, if given and not below `next`, else `next`.
   * Every later call returns a larger value.
   */
  take(requested?: bigint): Result<bigint, SFrameCounterError> {
    if (requested !== undefined && (requested < 0n || requested > MAX_SFRAME_VALUE)) {
      return err({ kind: 'value-out-of-range', field: 'ctr', value: requested });
    }
    if (this.#next > MAX_SFRAME_VALUE) return err({ kind: 'counter-exhausted' });
    const ctr = requested ?? this.#next;
    if (ctr < this.#next) return err({ kind: 'counter-reused', ctr, next: this.#next });
    this.#next = ctr + 1n;
    return ok(ctr);
  }
}

export type SFrameReplayError =
  | { readonly kind: 'replayed'; readonly ctr: bigint }
  | { readonly kind: 'too-old'; readonly ctr: bigint; readonly highest: bigint };

/** Default window: 128 frames, about 4 s of 30 fps video arriving out of order. */
export const DEFAULT_SFRAME_REPLAY_WINDOW = 128;

/** Anti-replay for one receiving KID: a sliding window of `size` CTR values. */
export class SFrameReplayWindow {
  readonly size: number;
  readonly #mask: bigint;
  #highest: bigint | undefined = undefined;
  /** Bit i set: CTR `highest - i` was accepted. */
  #seen = 0n;

  constructor(size = DEFAULT_SFRAME_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`replay window size must be a positive integer, got ${size}`);
    }
    this.size = size;
    this.#mask = (1n << BigInt(size)) - 1n;
  }

  /** Whether a frame with this CTR may still be accepted. Changes nothing. */
  check(ctr: bigint): Result<void, SFrameReplayError> {
    const highest = this.#highest;
    if (highest === undefined || ctr > highest) return ok(undefined);
    const age = highest - ctr;
    if (age >= BigInt(this.size)) return err({ kind: 'too-old', ctr, highest });
    if (((this.#seen >> age) & 1n) !== 0n) return err({ kind: 'replayed', ctr });
    return ok(undefined);
  }

  /** Records an authenticated frame's CTR; fails, changing nothing, if `check` would. */
  accept(ctr: bigint): Result<void, SFrameReplayError> {
    const checked = this.check(ctr);
    if (!checked.ok) return checked;
    const highest = this.#highest;
    if (highest === undefined || ctr > highest) {
      const shift = highest === undefined ? BigInt(this.size) : ctr - highest;
      this.#seen = shift >= BigInt(this.size) ? 1n : ((this.#seen << shift) | 1n) & this.#mask;
      this.#highest = ctr;
    } else {
      this.#seen |= 1n << (highest - ctr);
    }
    return ok(undefined);
  }
}
