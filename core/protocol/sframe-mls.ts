/**
 * SFrame keys from MLS (RFC 9605, section 5.2).
 *
 * Each MLS epoch gives one `base_key`, the same for every member:
 * `base_key = MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk)`. Members are told apart by the
 * KID, which also goes into each key's derivation (`sframeKeyLabel`), so every member encrypts
 * under its own key and salt:
 *
 *     KID = (context << (S + E)) + (sender_index << E) + (epoch % (1 << E))
 *
 * E (`epochBits`) is chosen by the application and bounds how many epochs can be live at once;
 * S (`indexBits`) is the smallest value with group_size <= 1 << S; the context (0 unless a
 * sender runs several uncoordinated streams) takes the remaining 64 - S - E bits. Receivers
 * MUST drop an old epoch once a new epoch with the same low E bits arrives: `SFrameMlsEpochs`.
 */
import { err, ok, type Result } from '../result.ts';

/** The MLS exporter label and context for the SFrame base key; its length is the suite's Nk. */
export const SFRAME_MLS_EXPORTER_LABEL = 'SFrame 1.0 Base Key';
export const SFRAME_MLS_EXPORTER_CONTEXT: Uint8Array = new Uint8Array(0);

/** The split of a 64-bit KID between context, sender index and epoch. */
export interface SFrameMlsKidLayout {
  /** E: low bits of the epoch number carried in the KID. */
  readonly epochBits: number;
  /** S: bits of the sender's MLS leaf index. */
  readonly indexBits: number;
}

/** The parts of one MLS sender's KID. */
export interface SFrameMlsKid {
  readonly context: bigint;
  readonly senderIndex: number;
  /** The epoch number; only its low `epochBits` bits go into the KID. */
  readonly epoch: bigint;
}

export type SFrameMlsKidError =
  | {
      readonly kind: 'invalid-layout';
      readonly epochBits: number;
      readonly indexBits: number;
    }
  | {
      readonly kind: 'sender-index-out-of-range';
      readonly senderIndex: number;
      readonly bits: number;
    }
  | { readonly kind: 'context-out-of-range'; readonly context: bigint; readonly bits: number }
  | { readonly kind: 'epoch-out-of-range'; readonly epoch: bigint };

/** S for a group of `groupSize` members: the smallest S with groupSize <= 2^S (0 for one). */
export function sframeMlsIndexBits(groupSize: number): number {
  let bits = 0;
  while (2 ** bits < groupSize) bits++;
  return bits;
}

/** The KID for one sender in one epoch under `layout`. */
export function sframeMlsKid(
  layout: SFrameMlsKidLayout,
  parts: SFrameMlsKid,
): Result<bigint, SFrameMlsKidError> {
  const invalid = checkLayout(layout);
  if (invalid !== undefined) return err(invalid);
  const { epochBits, indexBits } = layout;
  const contextBits = 64 - epochBits - indexBits;
  if (!Number.isSafeInteger(parts.senderIndex) || parts.senderIndex < 0) {
    return err({
      kind: 'sender-index-out-of-range',
      senderIndex: parts.senderIndex,
      bits: indexBits,
    });
  }
  const index = BigInt(parts.senderIndex);
  if (index >= 1n << BigInt(indexBits)) {
    return err({
      kind: 'sender-index-out-of-range',
      senderIndex: parts.senderIndex,
      bits: indexBits,
    });
  }
  if (parts.context < 0n || parts.context >= 1n << BigInt(contextBits)) {
    return err({ kind: 'context-out-of-range', context: parts.context, bits: contextBits });
  }
  if (parts.epoch < 0n) return err({ kind: 'epoch-out-of-range', epoch: parts.epoch });
  const epochLow = parts.epoch & ((1n << BigInt(epochBits)) - 1n);
  return ok(
    (parts.context << BigInt(indexBits + epochBits)) | (index << BigInt(epochBits)) | epochLow,
  );
}

/** A KID's parts under `layout`: the context, the sender index and the epoch's low bits. */
export interface ParsedSFrameMlsKid {
  readonly context: bigint;
  readonly senderIndex: number;
  readonly epochLow: bigint;
}

/** Splits a KID (0..2^64-1) into its parts under `layout`. */
export function parseSFrameMlsKid(
  layout: SFrameMlsKidLayout,
  kid: bigint,
): Result<ParsedSFrameMlsKid, SFrameMlsKidError> {
  const invalid = checkLayout(layout);
  if (invalid !== undefined) return err(invalid);
  const e = BigInt(layout.epochBits);
  const s = BigInt(layout.indexBits);
  return ok({
    context: kid >> (s + e),
    senderIndex: Number((kid >> e) & ((1n << s) - 1n)),
    epochLow: kid & ((1n << e) - 1n),
  });
}

function checkLayout(layout: SFrameMlsKidLayout): SFrameMlsKidError | undefined {
  const { epochBits, indexBits } = layout;
  const valid =
    Number.isInteger(epochBits) &&
    Number.isInteger(indexBits) &&
    epochBits >= 0 &&
    indexBits >= 0 &&
    // Sender indices are numbers, and MLS leaf indices are 32-bit.
    indexBits <= 32 &&
    epochBits + indexBits <= 64;
  return valid ? undefined : { kind: 'invalid-layout', epochBits, indexBits };
}

/**
 * The epochs a receiver holds, at most one per value of the epoch's low E bits (RFC 9605,
 * section 5.2: a new epoch with the same low bits replaces the old one). `T` is whatever the
 * caller keeps per epoch (its base key, its derived keys).
 */
export class SFrameMlsEpochs<T> {
  readonly #epochBits: bigint;
  readonly #slots = new Map<bigint, { readonly epoch: bigint; readonly value: T }>();

  constructor(epochBits: number) {
    if (!Number.isInteger(epochBits) || epochBits < 0 || epochBits > 64) {
      throw new RangeError(`epoch bits must be an integer in 0..64, got ${epochBits}`);
    }
    this.#epochBits = BigInt(epochBits);
  }

  /** The low bits of `epoch` that a KID carries. */
  slot(epoch: bigint): bigint {
    return epoch & ((1n << this.#epochBits) - 1n);
  }

  /**
   * Adds an epoch; returns the epoch it replaced (same low bits), if any. Adding an epoch
   * older than the one holding its slot changes nothing and returns that epoch's number as
   * `refused`.
   */
  add(epoch: bigint, value: T): { readonly replaced?: bigint; readonly refused?: bigint } {
    const slot = this.slot(epoch);
    const held = this.#slots.get(slot);
    if (held !== undefined && held.epoch > epoch) return { refused: held.epoch };
    this.#slots.set(slot, { epoch, value });
    return held === undefined || held.epoch === epoch ? {} : { replaced: held.epoch };
  }

  /** The epoch whose low bits are `epochLow`, with its value. */
  get(epochLow: bigint): { readonly epoch: bigint; readonly value: T } | undefined {
    return this.#slots.get(epochLow);
  }

  /** Removes an epoch (for example once its grace period is over); true if it was held. */
  remove(epoch: bigint): boolean {
    const slot = this.slot(epoch);
    if (this.#slots.get(slot)?.epoch !== epoch) return false;
    return this.#slots.delete(slot);
  }

  epochs(): bigint[] {
    return [...this.#slots.values()].map((held) => held.epoch).sort((a, b) => (a < b ? -1 : 1));
  }
}
