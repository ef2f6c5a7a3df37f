/**
 * A participant's end-to-end media encryption (spec 003 "End-to-End Encryption with SFrame";
 * docs/protocol.md "Controller and client: MLS"): its side of the meeting's MLS group
 * (adapters/mls, RFC 9420) and the SFrame keys it derives from each epoch (adapters/sframe,
 * RFC 9605 section 5.2). The Meeting Controller only moves MLS messages; every key stays here.
 *
 *   const member = await E2eeMember.create(meeting, participant);
 *   signaling.send({ join: { ..., keyPackage: member.keyPackage } });
 *   for each ServerMessage m: for (const reply of await member.handle(m)) signaling.send(reply);
 *   const frame = await member.encrypt(encodedFrame);        // what the publisher sends
 *   const opened = await member.decrypt(receivedFrame);      // what a subscriber reads
 *
 * Keys: each epoch's base key is `MLS-Exporter("SFrame 1.0 Base Key", "", 16)`; the member
 * sends under its own KID (its leaf index and the epoch's low `epochBits` bits, section 5.2) and
 * reads every other member's KIDs of the epochs it holds: the current one and the one before
 * (frames still in flight when the epoch changed). Older epochs' keys are erased, and leaving
 * erases everything. A frame that does not decrypt is counted by kind and reported to
 * `onDecryptFailure`.
 *
 * Messages are handled one at a time in arrival order (MLS operations are asynchronous): each
 * `handle` waits for the previous one.
 */
import { err, type Result } from '../../core/result.ts';
import { SFRAME_AES_128_GCM_SHA256_128 } from '../../core/protocol/sframe-crypto.ts';
import { MlsClient, type MlsClientError } from '../../adapters/mls/client.ts';
import {
  SFrameMlsContext,
  type SFrameMlsDecrypted,
  type SFrameMlsError,
} from '../../adapters/sframe/mls.ts';
import type { SFrameDecryptError, SFrameEncryptError } from '../../adapters/sframe/context.ts';
import type {
  ClientMessage,
  ServerMessage,
} from '../../services/generated/darktower/mc/v1/signaling.ts';

/** Low bits of the epoch number in each KID: up to 16 epochs are told apart. */
export const E2EE_EPOCH_BITS = 4;

export type E2eeError =
  /** Not in an MLS group yet (no epoch to encrypt under). */
  | { readonly kind: 'no-epoch' }
  | { readonly kind: 'mls'; readonly error: MlsClientError }
  | { readonly kind: 'sframe'; readonly error: SFrameMlsError };

/** Something that went wrong with a controller's MLS message (the member keeps its state). */
export interface E2eeIncident {
  readonly message: string;
  readonly error: MlsClientError | SFrameMlsError;
}

export type DecryptFailure = SFrameDecryptError['kind'];

const encoder = new TextEncoder();

export class E2eeMember {
  /** Frames that failed to decrypt, by kind. */
  readonly failures = new Map<DecryptFailure, number>();
  /** Frames decrypted. */
  decrypted = 0;
  /** Each frame that fails to decrypt. */
  onDecryptFailure: ((kind: DecryptFailure) => void) | null = null;
  /** Frames this member sealed, by the epoch they were sealed in (diagnostics). */
  readonly sealedByEpoch = new Map<number, number>();
  /** The last few frames that failed to decrypt: kind and KID (diagnostics). */
  readonly recentFailures: { readonly kind: DecryptFailure; readonly kid: string | null }[] = [];
  /** A controller message this member could not apply (for logs and tests). */
  onIncident: ((incident: E2eeIncident) => void) | null = null;
  /** Each epoch this member enters. */
  onEpoch: ((epoch: number) => void) | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private current: bigint | undefined;
  private previous: bigint | undefined;
  /** Each held epoch's members by leaf index (undefined: a blank leaf). */
  private readonly leaves = new Map<bigint, readonly (string | undefined)[]>();
  /** The commits this member made in the current epoch, by the request each answers. */
  private readonly pendingCommits = new Map<number, Uint8Array>();

  private constructor(
    readonly meeting: string,
    readonly participant: string,
    readonly mls: MlsClient,
    private sframe: SFrameMlsContext,
  ) {}

  static async create(meeting: string, participant: string): Promise<E2eeMember> {
    const mls = await MlsClient.create(participant);
    return new E2eeMember(meeting, participant, mls, E2eeMember.context());
  }

  private static context(): SFrameMlsContext {
    const context = SFrameMlsContext.create({
      cipherSuite: SFRAME_AES_128_GCM_SHA256_128,
      epochBits: E2EE_EPOCH_BITS,
    });
    if (!context.ok) throw new Error(`SFrame context: ${context.error.kind}`);
    return context.value;
  }

  /** The key package to send with the join (a fresh one per member object). */
  get keyPackage(): Buffer {
    return Buffer.from(this.mls.keyPackage);
  }

  /** The MLS epoch this member sends under, if it is in the group. */
  get epoch(): number | undefined {
    return this.current === undefined ? undefined : Number(this.current);
  }

  /** The epochs whose keys this member holds (current and previous), ascending. */
  heldEpochs(): number[] {
    return [this.previous, this.current]
      .filter((e): e is bigint => e !== undefined)
      .map((e) => Number(e));
  }

  /** Applies one controller message; resolves to the messages to send back, in order. */
  handle(message: ServerMessage): Promise<ClientMessage[]> {
    const next = this.queue.then(() => this.apply(message));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Encrypts one frame under this member's key in the current epoch; `metadata` (RFC 9605
   * section 9.4) is authenticated with it, and a receiver must pass the same bytes.
   */
  async encrypt(
    plaintext: Uint8Array,
    metadata?: Uint8Array,
  ): Promise<Result<Uint8Array, E2eeError | SFrameEncryptError | SFrameMlsError>> {
    if (this.current === undefined) return err({ kind: 'no-epoch' });
    const epoch = Number(this.current);
    this.sealedByEpoch.set(epoch, (this.sealedByEpoch.get(epoch) ?? 0) + 1);
    return this.sframe.encrypt(this.current, plaintext, metadata === undefined ? {} : { metadata });
  }

  /** Each held epoch's group as this member sees it (diagnostics): size, own leaf, members. */
  describeEpochs(): {
    epoch: number;
    groupSize: number;
    ownIndex: number | undefined;
    leaves: (string | null)[];
  }[] {
    return [...this.leaves].map(([epoch, leaves]) => {
      const own = leaves.indexOf(this.participant);
      return {
        epoch: Number(epoch),
        groupSize: leaves.length,
        ownIndex: own < 0 ? undefined : own,
        leaves: leaves.map((l) => l ?? null),
      };
    });
  }

  /** The participant at leaf `index` of a held `epoch` (a frame's sender), if any. */
  senderOf(epoch: bigint, index: number): string | undefined {
    return this.leaves.get(epoch)?.[index];
  }

  /** Decrypts one frame from another member; a failure is counted and reported. */
  async decrypt(
    frame: Uint8Array,
    metadata?: Uint8Array,
  ): Promise<Result<SFrameMlsDecrypted, SFrameDecryptError>> {
    const opened = await this.sframe.decrypt(frame, metadata);
    if (opened.ok) this.decrypted++;
    else {
      const kind = opened.error.kind;
      this.failures.set(kind, (this.failures.get(kind) ?? 0) + 1);
      this.recentFailures.push({
        kind,
        kid: 'kid' in opened.error ? opened.error.kid.toString() : null,
      });
      if (this.recentFailures.length > 8) this.recentFailures.shift();
      this.onDecryptFailure?.(kind);
    }
    return opened;
  }

  /**
   * Decrypts a frame the datagram header says `participant` sent: undefined unless it decrypts
   * and its KID's sender in that epoch is `participant`, so a handler cannot relabel one
   * member's frames as another's.
   */
  async openFrom(
    participant: string,
    frame: Uint8Array,
    metadata?: Uint8Array,
  ): Promise<{ readonly plaintext: Uint8Array; readonly epoch: bigint } | undefined> {
    const opened = await this.decrypt(frame, metadata);
    if (!opened.ok) return undefined;
    if (this.senderOf(opened.value.epoch, opened.value.senderIndex) !== participant) {
      return undefined;
    }
    return { plaintext: opened.value.plaintext, epoch: opened.value.epoch };
  }

  /** Frames that failed to decrypt, all kinds. */
  get failureCount(): number {
    let total = 0;
    for (const count of this.failures.values()) total += count;
    return total;
  }

  /** Leaves the group: every MLS secret and SFrame key is erased. */
  forget(): void {
    this.mls.forget();
    this.sframe = E2eeMember.context();
    this.current = undefined;
    this.previous = undefined;
    this.leaves.clear();
    this.pendingCommits.clear();
  }

  private incident(message: string, error: MlsClientError | SFrameMlsError): void {
    this.onIncident?.({ message, error });
  }

  private async apply(message: ServerMessage): Promise<ClientMessage[]> {
    if (message.mlsCreateGroup !== undefined) {
      const created = await this.mls.createGroup(
        encoder.encode(`${this.meeting}/${message.mlsCreateGroup.group}`),
      );
      if (!created.ok) {
        this.incident('create-group', created.error);
        return [];
      }
      return this.entered('create-group');
    }
    if (message.mlsCommitRequest !== undefined) {
      const request = message.mlsCommitRequest;
      const made = await this.mls.commit({
        adds: request.adds.map((a) => Uint8Array.from(a.keyPackage)),
        removes: request.removes,
      });
      if (!made.ok) {
        // No answer: the controller asks another member once this one's time is up.
        this.incident('commit-request', made.error);
        return [];
      }
      this.pendingCommits.set(request.request, made.value.commit);
      return [
        {
          mlsCommit: {
            request: request.request,
            commit: Buffer.from(made.value.commit),
            welcome:
              made.value.welcome === undefined ? Buffer.alloc(0) : Buffer.from(made.value.welcome),
          },
        },
      ];
    }
    if (message.mlsCommit !== undefined) {
      const commit = message.mlsCommit;
      this.pendingCommits.clear();
      const processed = await this.mls.processCommit(Uint8Array.from(commit.commit), {
        from: commit.from,
        adds: commit.adds,
        removes: commit.removes,
      });
      if (!processed.ok) {
        if (processed.error.kind === 'removed') this.forget();
        this.incident('commit', processed.error);
        return [];
      }
      return this.entered('commit');
    }
    if (message.mlsWelcome !== undefined) {
      const joined = await this.mls.joinFromWelcome(Uint8Array.from(message.mlsWelcome.welcome));
      if (!joined.ok) {
        this.incident('welcome', joined.error);
        return [];
      }
      return this.entered('welcome');
    }
    if (message.mlsCommitRejected !== undefined) {
      const rejected = this.pendingCommits.get(message.mlsCommitRejected.request);
      if (rejected !== undefined) {
        this.mls.discardPendingCommit(rejected);
        this.pendingCommits.delete(message.mlsCommitRejected.request);
      }
      return [];
    }
    return [];
  }

  /** Takes the MLS group's new epoch into SFrame and tells the controller it got there. */
  private async entered(what: string): Promise<ClientMessage[]> {
    const epoch = this.mls.epoch;
    const ownIndex = this.mls.leafIndex;
    const baseKey = await this.mls.sframeBaseKey();
    if (epoch === undefined || ownIndex === undefined || !baseKey.ok) return [];
    const added = this.sframe.addEpoch({
      epoch: BigInt(epoch),
      baseKey: baseKey.value,
      groupSize: this.mls.leafCount,
      ownIndex,
    });
    baseKey.value.fill(0);
    if (!added.ok) {
      this.incident(what, added.error);
      return [];
    }
    // Keep the epoch before (frames in flight), erase the ones older than that.
    if (this.previous !== undefined) {
      this.sframe.removeEpoch(this.previous);
      this.leaves.delete(this.previous);
    }
    this.previous = this.current;
    this.current = BigInt(epoch);
    this.leaves.set(this.current, this.mls.leafIdentities());
    this.onEpoch?.(epoch);
    return [{ mlsProcessed: { epoch } }];
  }
}
