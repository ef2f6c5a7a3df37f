/**
 * SFrame keyed from MLS (RFC 9605, section 5.2), over `SFrameContext`.
 *
 * Each epoch's `base_key` is the MLS exporter output
 * `MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk)` (`SFRAME_MLS_EXPORTER_LABEL`), the same
 * for every member. A member's KIDs carry the epoch's low E bits, its leaf index in the S bits
 * above them (S from that epoch's group size) and a context above those; the KID goes into
 * the key derivation, so one base key gives every member its own key and salt.
 *
 * - `addEpoch` registers an epoch and adds this member's sending keys (one per context it
 *   sends with). An epoch with the same low E bits as a held one replaces it, and every key of
 *   the replaced epoch is forgotten (the RFC's MUST).
 * - A frame from another member is decrypted with a key derived the first time its KID is
 *   seen, then cached. Keys are derived only for leaf indices below the epoch's group size and
 *   the agreed contexts, so a stranger's KIDs cost nothing.
 */
import { err, ok, type Result } from '../../core/result.ts';
import { parseSFrameHeader } from '../../core/protocol/sframe.ts';
import {
  SFrameMlsEpochs,
  parseSFrameMlsKid,
  sframeMlsIndexBits,
  sframeMlsKid,
  type SFrameMlsKidError,
} from '../../core/protocol/sframe-mls.ts';
import {
  SFrameContext,
  type EncryptOptions,
  type SFrameContextError,
  type SFrameDecrypted,
  type SFrameDecryptError,
  type SFrameEncryptError,
} from './context.ts';
import type { Subtle } from './webcrypto.ts';

export interface SFrameMlsOptions {
  readonly cipherSuite: number;
  /** E: low bits of the epoch number in each KID (at most 2^E epochs live at once). */
  readonly epochBits: number;
  readonly replayWindow?: number | false;
  readonly subtle?: Subtle;
}

export interface SFrameMlsEpoch {
  readonly epoch: bigint;
  /** The epoch's `MLS-Exporter("SFrame 1.0 Base Key", "", Nk)`; copied. */
  readonly baseKey: Uint8Array;
  /** Number of leaves in the epoch's tree: leaf indices are below it. */
  readonly groupSize: number;
  /** This member's leaf index. */
  readonly ownIndex: number;
  /** Contexts every member may send with (section 5.2); `[0n]` by default. */
  readonly contexts?: readonly bigint[];
}

export type SFrameMlsError =
  | SFrameMlsKidError
  | { readonly kind: 'invalid-group'; readonly groupSize: number; readonly ownIndex: number }
  | { readonly kind: 'wrong-base-key-length'; readonly length: number; readonly expected: number }
  | { readonly kind: 'stale-epoch'; readonly epoch: bigint; readonly held: bigint }
  | { readonly kind: 'unknown-epoch'; readonly epoch: bigint };

interface EpochState {
  readonly epoch: bigint;
  readonly baseKey: Uint8Array;
  readonly indexBits: number;
  readonly groupSize: number;
  readonly ownIndex: number;
  readonly contexts: ReadonlySet<bigint>;
  /** Every KID whose key this epoch put in the context. */
  readonly kids: Set<bigint>;
}

/** A decrypted frame with its sender's leaf index and the epoch its key belongs to. */
export type SFrameMlsDecrypted = SFrameDecrypted & {
  readonly senderIndex: number;
  readonly epoch: bigint;
};

export class SFrameMlsContext {
  readonly #context: SFrameContext;
  readonly #epochBits: number;
  readonly #epochs: SFrameMlsEpochs<EpochState>;

  private constructor(context: SFrameContext, epochBits: number) {
    this.#context = context;
    this.#epochBits = epochBits;
    this.#epochs = new SFrameMlsEpochs(epochBits);
  }

  static create(
    options: SFrameMlsOptions,
  ): Result<SFrameMlsContext, SFrameContextError | SFrameMlsError> {
    if (!Number.isInteger(options.epochBits) || options.epochBits < 0 || options.epochBits > 32) {
      return err({ kind: 'invalid-layout', epochBits: options.epochBits, indexBits: 0 });
    }
    const context = SFrameContext.create(options);
    if (!context.ok) return context;
    return ok(new SFrameMlsContext(context.value, options.epochBits));
  }

  get suite() {
    return this.#context.suite;
  }

  /** Registers an epoch; returns the epoch it replaced, if any. */
  addEpoch(input: SFrameMlsEpoch): Result<{ readonly replaced?: bigint }, SFrameMlsError> {
    const { epoch, groupSize, ownIndex } = input;
    const suite = this.#context.suite;
    if (input.baseKey.length !== suite.nk) {
      return err({
        kind: 'wrong-base-key-length',
        length: input.baseKey.length,
        expected: suite.nk,
      });
    }
    const validGroup =
      Number.isSafeInteger(groupSize) &&
      groupSize >= 1 &&
      groupSize <= 2 ** 32 &&
      Number.isSafeInteger(ownIndex) &&
      ownIndex >= 0 &&
      ownIndex < groupSize;
    if (!validGroup) return err({ kind: 'invalid-group', groupSize, ownIndex });
    const state: EpochState = {
      epoch,
      baseKey: Uint8Array.from(input.baseKey),
      indexBits: sframeMlsIndexBits(groupSize),
      groupSize,
      ownIndex,
      contexts: new Set(input.contexts ?? [0n]),
      kids: new Set(),
    };
    const sendKids: bigint[] = [];
    for (const context of state.contexts) {
      const kid = sframeMlsKid(this.#layout(state), { context, senderIndex: ownIndex, epoch });
      if (!kid.ok) return kid;
      sendKids.push(kid.value);
    }
    const held = this.#epochs.get(this.#epochs.slot(epoch));
    if (held !== undefined && held.epoch >= epoch) {
      return err({ kind: 'stale-epoch', epoch, held: held.epoch });
    }
    if (held !== undefined) this.#forget(held.value);
    this.#epochs.add(epoch, state);
    for (const kid of sendKids) {
      // Cannot fail: the KID is in range and the epoch's KIDs were all forgotten above.
      if (this.#context.addSendKey(kid, state.baseKey).ok) state.kids.add(kid);
    }
    return ok(held === undefined ? {} : { replaced: held.epoch });
  }

  /** Forgets an epoch and every key derived from it. */
  removeEpoch(epoch: bigint): boolean {
    const held = this.#epochs.get(this.#epochs.slot(epoch));
    if (held === undefined || held.epoch !== epoch) return false;
    this.#forget(held.value);
    return this.#epochs.remove(epoch);
  }

  /** This member's KID in `epoch` for `context` (0 unless it runs several streams). */
  sendKid(epoch: bigint, context = 0n): Result<bigint, SFrameMlsError> {
    const held = this.#epochs.get(this.#epochs.slot(epoch));
    if (held === undefined || held.epoch !== epoch) return err({ kind: 'unknown-epoch', epoch });
    const state = held.value;
    return sframeMlsKid(this.#layout(state), { context, senderIndex: state.ownIndex, epoch });
  }

  /** Encrypts a frame under this member's KID for `epoch` and `context`. */
  async encrypt(
    epoch: bigint,
    plaintext: Uint8Array,
    options: EncryptOptions & { readonly context?: bigint } = {},
  ): Promise<Result<Uint8Array, SFrameEncryptError | SFrameMlsError>> {
    const kid = this.sendKid(epoch, options.context);
    if (!kid.ok) return kid;
    return this.#context.encrypt(kid.value, plaintext, options);
  }

  /** Decrypts a frame from any member of a held epoch. */
  async decrypt(
    frame: Uint8Array,
    metadata?: Uint8Array,
  ): Promise<Result<SFrameMlsDecrypted, SFrameDecryptError>> {
    const parsed = parseSFrameHeader(frame);
    if (!parsed.ok) return err({ kind: 'malformed-header', cause: parsed.error });
    const kid = parsed.value.header.kid;
    const sender = this.#sender(kid);
    if (sender === undefined) return err({ kind: 'unknown-kid', kid });
    if (this.#context.keyUsage(kid) === undefined) {
      if (!this.#context.addReceiveKey(kid, sender.state.baseKey).ok) {
        return err({ kind: 'unknown-kid', kid });
      }
      sender.state.kids.add(kid);
    }
    const decrypted = await this.#context.decrypt(frame, metadata);
    if (!decrypted.ok) return decrypted;
    return ok({ ...decrypted.value, senderIndex: sender.senderIndex, epoch: sender.state.epoch });
  }

  /** The epoch and member a KID names, if it names another member of a held epoch. */
  #sender(kid: bigint): { readonly state: EpochState; readonly senderIndex: number } | undefined {
    const held = this.#epochs.get(kid & ((1n << BigInt(this.#epochBits)) - 1n));
    if (held === undefined) return undefined;
    const state = held.value;
    const parts = parseSFrameMlsKid(this.#layout(state), kid);
    if (!parts.ok) return undefined;
    const { context, senderIndex } = parts.value;
    // This member's own KIDs are sending keys, which the context never decrypts with.
    const member = senderIndex < state.groupSize && state.contexts.has(context);
    return member ? { state, senderIndex } : undefined;
  }

  #layout(state: EpochState) {
    return { epochBits: this.#epochBits, indexBits: state.indexBits };
  }

  #forget(state: EpochState): void {
    for (const kid of state.kids) this.#context.removeKey(kid);
    state.kids.clear();
    state.baseKey.fill(0);
  }
}
