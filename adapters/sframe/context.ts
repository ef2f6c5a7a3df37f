/**
 * An SFrame context (RFC 9605, appendix A): one cipher suite, and keys by KID, each marked for
 * sending or for receiving, never both (section 4.4.1). Adding a key derives its `sframe_key`
 * and `sframe_salt` from the base key and imports them once, non-extractable; every frame then
 * reuses them. Sending keys carry a counter (`SFrameSendCounter`): a CTR is never used twice.
 * Receiving keys may carry a replay window (`SFrameReplayWindow`, on by default).
 *
 * `encrypt` and `decrypt` never throw for bad input or a wrong key: they return typed errors.
 * A frame is encrypted whole (the datagram layer cuts the ciphertext into fragments); the
 * metadata, if any, is authenticated but not carried.
 */
import { err, ok, type Result } from '../../core/result.ts';
import {
  parseSFrameHeader,
  serializeSFrameHeader,
  type SFrameError,
} from '../../core/protocol/sframe.ts';
import {
  concatBytes,
  isSFrameValue,
  sframeAad,
  sframeCipherSuite,
  sframeNonce,
  type SFrameCipherSuite,
  type SFrameSuiteError,
} from '../../core/protocol/sframe-crypto.ts';
import {
  DEFAULT_SFRAME_REPLAY_WINDOW,
  SFrameReplayWindow,
  SFrameSendCounter,
  type SFrameCounterError,
  type SFrameReplayError,
} from '../../core/protocol/sframe-counters.ts';
import {
  defaultSubtle,
  deriveSFrameKeyMaterial,
  importSFrameAead,
  type SFrameAead,
  type Subtle,
} from './webcrypto.ts';

export type SFrameKeyUsage = 'send' | 'receive';

export type SFrameContextError =
  SFrameSuiteError | { readonly kind: 'invalid-replay-window'; readonly size: number };

export type SFrameKeyError =
  | { readonly kind: 'kid-out-of-range'; readonly kid: bigint }
  | { readonly kind: 'kid-in-use'; readonly kid: bigint; readonly usage: SFrameKeyUsage }
  | { readonly kind: 'empty-base-key' };

export type SFrameEncryptError =
  | { readonly kind: 'unknown-kid'; readonly kid: bigint }
  | { readonly kind: 'key-unavailable'; readonly kid: bigint }
  | SFrameCounterError;

export type SFrameDecryptError =
  | { readonly kind: 'malformed-header'; readonly cause: SFrameError }
  | { readonly kind: 'unknown-kid'; readonly kid: bigint }
  | { readonly kind: 'key-unavailable'; readonly kid: bigint }
  | { readonly kind: 'authentication-failed'; readonly kid: bigint; readonly ctr: bigint }
  | (SFrameReplayError & { readonly kid: bigint });

/** A decrypted frame and the header values it was authenticated with. */
export interface SFrameDecrypted {
  readonly kid: bigint;
  readonly ctr: bigint;
  readonly plaintext: Uint8Array;
}

export interface SFrameContextOptions {
  /** An RFC 9605 cipher suite id (`SFRAME_AES_128_GCM_SHA256_128`, ...). */
  readonly cipherSuite: number;
  /** Receivers' replay window in frames, or false for none. Default 128. */
  readonly replayWindow?: number | false;
  /** WebCrypto to use; the platform's by default. */
  readonly subtle?: Subtle;
}

export interface EncryptOptions {
  /** The CTR to use; by default the key's next one. It must be above every CTR used before. */
  readonly ctr?: bigint;
  /** Application metadata authenticated with the frame (RFC 9605, section 9.4). */
  readonly metadata?: Uint8Array;
}

interface ImportedKey {
  readonly aead: SFrameAead;
  readonly salt: Uint8Array;
}

interface KeyEntry {
  readonly usage: SFrameKeyUsage;
  /** Resolves once derived and imported; undefined if WebCrypto failed. Never rejects. */
  readonly ready: Promise<ImportedKey | undefined>;
  readonly counter: SFrameSendCounter | undefined;
  readonly replay: SFrameReplayWindow | undefined;
}

const EMPTY = new Uint8Array(0);

export class SFrameContext {
  readonly suite: SFrameCipherSuite;
  readonly #subtle: Subtle;
  readonly #replayWindow: number | false;
  readonly #keys = new Map<bigint, KeyEntry>();

  private constructor(suite: SFrameCipherSuite, subtle: Subtle, replayWindow: number | false) {
    this.suite = suite;
    this.#subtle = subtle;
    this.#replayWindow = replayWindow;
  }

  static create(options: SFrameContextOptions): Result<SFrameContext, SFrameContextError> {
    const suite = sframeCipherSuite(options.cipherSuite);
    if (!suite.ok) return suite;
    const window = options.replayWindow ?? DEFAULT_SFRAME_REPLAY_WINDOW;
    if (window !== false && !(Number.isInteger(window) && window >= 1)) {
      return err({ kind: 'invalid-replay-window', size: window });
    }
    return ok(new SFrameContext(suite.value, options.subtle ?? defaultSubtle(), window));
  }

  /**
   * Adds a key to encrypt with under `kid`. `nextCtr` restores a counter kept across restarts
   * (section 9.1); a fresh key starts at 0. The base key is copied: the caller may erase its
   * own. The key is usable at once: frames encrypted before its import finishes wait for it.
   */
  addSendKey(
    kid: bigint,
    baseKey: Uint8Array,
    options: { readonly nextCtr?: bigint } = {},
  ): Result<void, SFrameKeyError> {
    return this.#add(kid, baseKey, 'send', options.nextCtr ?? 0n);
  }

  /** Adds a key to decrypt frames whose header carries `kid`. */
  addReceiveKey(kid: bigint, baseKey: Uint8Array): Result<void, SFrameKeyError> {
    return this.#add(kid, baseKey, 'receive', 0n);
  }

  /** Forgets a key; frames already being processed with it finish. True if it was held. */
  removeKey(kid: bigint): boolean {
    return this.#keys.delete(kid);
  }

  /**
   * The CTR the next `encrypt` under sending key `kid` will use by default (2^64 once all are
   * used); undefined for a KID without a sending key. An application that keeps SFrame state
   * across restarts stores a value above it before encrypting with it (RFC 9605, section 9.1)
   * and passes it back as `nextCtr`.
   */
  nextCtr(kid: bigint): bigint | undefined {
    return this.#keys.get(kid)?.counter?.next;
  }

  /** The usage of the key held for `kid`, if any. */
  keyUsage(kid: bigint): SFrameKeyUsage | undefined {
    return this.#keys.get(kid)?.usage;
  }

  /** Resolves once every key added so far is imported (or failed to). */
  async ready(): Promise<void> {
    await Promise.all([...this.#keys.values()].map((entry) => entry.ready));
  }

  /** Encrypts one frame: the SFrame header, then the AEAD ciphertext with its tag. */
  async encrypt(
    kid: bigint,
    plaintext: Uint8Array,
    options: EncryptOptions = {},
  ): Promise<Result<Uint8Array, SFrameEncryptError>> {
    const entry = this.#keys.get(kid);
    if (entry?.counter === undefined) return err({ kind: 'unknown-kid', kid });
    // Taken before any await, so concurrent calls never share a CTR.
    const ctr = entry.counter.take(options.ctr);
    if (!ctr.ok) return ctr;
    const header = serializeSFrameHeader({ kid, ctr: ctr.value });
    if (!header.ok) return err({ kind: 'unknown-kid', kid });
    const key = await entry.ready;
    if (key === undefined) return err({ kind: 'key-unavailable', kid });
    const nonce = sframeNonce(key.salt, ctr.value);
    const aad = sframeAad(header.value, options.metadata ?? EMPTY);
    try {
      return ok(concatBytes(header.value, await key.aead.seal(nonce, aad, plaintext)));
    } catch {
      return err({ kind: 'key-unavailable', kid });
    }
  }

  /** Decrypts one whole SFrame ciphertext with the metadata it was encrypted with. */
  async decrypt(
    frame: Uint8Array,
    metadata: Uint8Array = EMPTY,
  ): Promise<Result<SFrameDecrypted, SFrameDecryptError>> {
    const parsed = parseSFrameHeader(frame);
    if (!parsed.ok) return err({ kind: 'malformed-header', cause: parsed.error });
    const { kid, ctr } = parsed.value.header;
    const entry = this.#keys.get(kid);
    if (entry === undefined || entry.usage !== 'receive') return err({ kind: 'unknown-kid', kid });
    const fresh = entry.replay?.check(ctr);
    if (fresh !== undefined && !fresh.ok) return err({ ...fresh.error, kid });
    const key = await entry.ready;
    if (key === undefined) return err({ kind: 'key-unavailable', kid });
    const nonce = sframeNonce(key.salt, ctr);
    const aad = sframeAad(frame.subarray(0, parsed.value.headerLength), metadata);
    let plaintext: Uint8Array | undefined;
    try {
      plaintext = await key.aead.open(nonce, aad, parsed.value.ciphertext);
    } catch {
      plaintext = undefined;
    }
    if (plaintext === undefined) return err({ kind: 'authentication-failed', kid, ctr });
    // Checked again: another frame with this CTR may have been accepted while this one waited.
    const accepted = entry.replay?.accept(ctr);
    if (accepted !== undefined && !accepted.ok) return err({ ...accepted.error, kid });
    return ok({ kid, ctr, plaintext });
  }

  #add(
    kid: bigint,
    baseKey: Uint8Array,
    usage: SFrameKeyUsage,
    nextCtr: bigint,
  ): Result<void, SFrameKeyError> {
    if (!isSFrameValue(kid)) return err({ kind: 'kid-out-of-range', kid });
    const held = this.#keys.get(kid);
    if (held !== undefined) return err({ kind: 'kid-in-use', kid, usage: held.usage });
    if (baseKey.length === 0) return err({ kind: 'empty-base-key' });
    this.#keys.set(kid, {
      usage,
      ready: this.#importKey(kid, Uint8Array.from(baseKey)),
      counter: usage === 'send' ? new SFrameSendCounter(nextCtr) : undefined,
      replay:
        usage === 'receive' && this.#replayWindow !== false
          ? new SFrameReplayWindow(this.#replayWindow)
          : undefined,
    });
    return ok(undefined);
  }

  async #importKey(kid: bigint, baseKey: Uint8Array): Promise<ImportedKey | undefined> {
    try {
      const material = await deriveSFrameKeyMaterial(this.#subtle, this.suite, kid, baseKey);
      const aead = await importSFrameAead(this.#subtle, this.suite, material.key);
      material.key.fill(0);
      return { aead, salt: material.salt };
    } catch {
      return undefined;
    } finally {
      baseKey.fill(0);
    }
  }
}
