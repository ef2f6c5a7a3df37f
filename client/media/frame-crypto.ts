/**
 * SFrame for whole media frames (docs/protocol.md, "Client media frames"), over adapters/sframe
 * with keys from a `KeySource`. Each sender encrypts under its own KID per epoch:
 *
 *   KID = epoch << 32 | low 32 bits of the sender's publisher id
 *
 * so senders never share a counter, and a receiver tells the epoch and the sender from the KID
 * alone. A receiver checks that the KID names the publisher the datagram header names, and
 * authenticates the stream id and publisher id as SFrame metadata, so a handler cannot pass one
 * participant's frames off as another's. Receiving keys are added the first time a KID is seen
 * (when the key source holds its epoch) and forgotten once their epoch is more than two behind.
 *
 * A sending key's CTR starts at the wall-clock millisecond times 2^16, so a participant that
 * reloads (a reconnect with the same id and epoch, new SFrame state) starts above every CTR it
 * used before and receivers' replay windows accept it (RFC 9605 section 9.1 asks for a restored
 * counter; the clock stands in for storage, at up to 65,536 frames per millisecond).
 */
import { SFrameContext } from '../../adapters/sframe/context.ts';
import { parseSFrameHeader } from '../../core/protocol/sframe.ts';
import { SFRAME_AES_128_GCM_SHA256_128 } from '../../core/protocol/sframe-crypto.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type { KeySource } from './keys.ts';

const LOW32 = 0xffffffffn;

export type FrameDecryptError =
  | { readonly kind: 'malformed' }
  | { readonly kind: 'sender-mismatch'; readonly kid: bigint }
  | { readonly kind: 'unknown-epoch'; readonly epoch: number }
  | { readonly kind: 'stale-epoch'; readonly epoch: number }
  | { readonly kind: 'decrypt-failed'; readonly reason: string };

export type FrameEncryptError =
  { readonly kind: 'no-key' } | { readonly kind: 'encrypt-failed'; readonly reason: string };

/** The KID a sender uses in an epoch. */
export function frameKid(epoch: number, publisherId: bigint): bigint {
  return (BigInt(epoch >>> 0) << 32n) | (publisherId & LOW32);
}

/** Stream id then publisher id, 8 bytes each: the frame's authenticated metadata. */
export function frameMetadata(streamId: bigint, publisherId: bigint): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, streamId);
  view.setBigUint64(8, publisherId);
  return bytes;
}

export class FrameCrypto {
  private readonly context: SFrameContext;
  private readonly sendKids: bigint[] = [];
  private readonly receiveKids = new Map<bigint, number>();
  private newestEpoch = -1;

  constructor(
    private readonly keys: KeySource,
    private readonly publisherId: bigint,
    private readonly clock: () => number = () => Date.now(),
  ) {
    const context = SFrameContext.create({ cipherSuite: SFRAME_AES_128_GCM_SHA256_128 });
    if (!context.ok) throw new Error(`SFrame: ${context.error.kind}`);
    this.context = context.value;
  }

  /** The epoch frames are sent in now, if any. */
  get sendEpoch(): number | undefined {
    return this.keys.current()?.epoch;
  }

  async encrypt(
    frame: Uint8Array,
    streamId: bigint,
  ): Promise<Result<Uint8Array, FrameEncryptError>> {
    const current = this.keys.current();
    if (current === undefined) return err({ kind: 'no-key' });
    const kid = frameKid(current.epoch, this.publisherId);
    if (this.context.keyUsage(kid) === undefined) {
      const added = this.context.addSendKey(kid, current.baseKey, {
        nextCtr: BigInt(Math.floor(this.clock())) << 16n,
      });
      if (!added.ok) return err({ kind: 'encrypt-failed', reason: added.error.kind });
      this.sendKids.push(kid);
      // Keep the previous epoch's key for frames still being encrypted under it.
      while (this.sendKids.length > 2) this.context.removeKey(this.sendKids.shift() as bigint);
    }
    const sealed = await this.context.encrypt(kid, frame, {
      metadata: frameMetadata(streamId, this.publisherId),
    });
    return sealed.ok ? sealed : err({ kind: 'encrypt-failed', reason: sealed.error.kind });
  }

  async decrypt(
    ciphertext: Uint8Array,
    streamId: bigint,
    publisherId: bigint,
  ): Promise<Result<{ plaintext: Uint8Array; epoch: number }, FrameDecryptError>> {
    const parsed = parseSFrameHeader(ciphertext);
    if (!parsed.ok) return err({ kind: 'malformed' });
    const kid = parsed.value.header.kid;
    if ((kid & LOW32) !== (publisherId & LOW32)) return err({ kind: 'sender-mismatch', kid });
    const epoch = Number(kid >> 32n);
    if (!this.receiveKids.has(kid)) {
      if (epoch < this.newestEpoch - 2) return err({ kind: 'stale-epoch', epoch });
      const baseKey = this.keys.key(epoch);
      if (baseKey === undefined) return err({ kind: 'unknown-epoch', epoch });
      const added = this.context.addReceiveKey(kid, baseKey);
      if (!added.ok) return err({ kind: 'decrypt-failed', reason: added.error.kind });
      this.receiveKids.set(kid, epoch);
      if (epoch > this.newestEpoch) this.forgetBefore(epoch - 2);
    }
    const opened = await this.context.decrypt(ciphertext, frameMetadata(streamId, publisherId));
    if (!opened.ok) return err({ kind: 'decrypt-failed', reason: opened.error.kind });
    return ok({ plaintext: opened.value.plaintext, epoch });
  }

  private forgetBefore(epoch: number): void {
    this.newestEpoch = epoch + 2;
    for (const [kid, held] of this.receiveKids) {
      if (held < epoch) {
        this.context.removeKey(kid);
        this.receiveKids.delete(kid);
      }
    }
  }
}
