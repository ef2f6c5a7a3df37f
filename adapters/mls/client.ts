/**
 * One participant's side of the meeting's MLS group (RFC 9420) over `ts-mls`: key package,
 * group creation, commits that add and remove members or only refresh the epoch, processing
 * the commits the controller fans out, joining from a welcome, and the SFrame base key from
 * the MLS exporter (RFC 9605 section 5.2).
 *
 * Shared by the browser client and tests: no `node:*` imports, WebCrypto and the `@noble`
 * packages only. Every secret stays in this object's memory; what leaves it (key package,
 * commit, welcome) is MLS wire format, encrypted where it carries secrets.
 *
 * Members are named by their participant id, carried as the identity of a basic credential.
 * A commit made here is not applied at once: the controller orders commits, so the state moves
 * only when the controller's broadcast brings this client's own commit back (or is dropped
 * when the controller rejects it and another commit comes instead).
 */
import {
  acceptAll,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  mlsExporter,
  processMessage,
  zeroOutUint8Array,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientConfig,
  type ClientState,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  type IncomingMessageCallback,
  type Proposal,
  type ProposalWithSender,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { err, ok, type Result } from '../../core/result.ts';

/** The cipher suite every meeting uses (AES-128-GCM, so SFrame's AES_128_GCM_SHA256_128). */
export const MLS_CIPHERSUITE: CiphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

/** RFC 9605 section 5.2: `sframe_epoch_secret = MLS-Exporter("SFrame 1.0 Base Key", "", Nk)`. */
export const SFRAME_EXPORTER_LABEL = 'SFrame 1.0 Base Key';

/** Nk of AES-128-GCM. */
export const SFRAME_BASE_KEY_BYTES = 16;

export type MlsClientError =
  /** The bytes are not the MLS message expected here. */
  | { readonly kind: 'malformed'; readonly expected: string }
  /** The operation needs a group and there is none (or needs none and there is one). */
  | { readonly kind: 'no-group' }
  | { readonly kind: 'already-in-group' }
  /** A member to remove is not in the group. */
  | { readonly kind: 'unknown-member'; readonly identity: string }
  /** The commit is for another epoch than this client's. */
  | { readonly kind: 'wrong-epoch'; readonly epoch: number; readonly current: number }
  /** The commit removes this client: it cannot reach the new epoch, and drops the group. */
  | { readonly kind: 'removed' }
  /** The commit's committer, additions or removals are not those the controller announced. */
  | { readonly kind: 'unexpected-changes'; readonly detail: string }
  /** MLS refused the message (signature, confirmation tag, tree, ...). */
  | { readonly kind: 'rejected'; readonly detail: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * MLS keeps no earlier epoch's secrets here: the application data is SFrame media under the
 * exporter's key, not MLS application messages, so nothing needs the old epochs' secret trees.
 */
const CLIENT_CONFIG: ClientConfig = {
  ...defaultClientConfig,
  keyRetentionConfig: { ...defaultClientConfig.keyRetentionConfig, retainKeysForEpochs: 0 },
};

let suite: Promise<CiphersuiteImpl> | undefined;

/** The cipher suite's implementation, built once. */
export function mlsCiphersuite(): Promise<CiphersuiteImpl> {
  suite ??= getCiphersuiteImpl(getCiphersuiteFromName(MLS_CIPHERSUITE));
  return suite;
}

function decode(bytes: Uint8Array): MLSMessage | undefined {
  try {
    const decoded = decodeMlsMessage(bytes, 0);
    if (decoded === undefined || decoded[1] !== bytes.length) return undefined;
    return decoded[0];
  } catch {
    return undefined;
  }
}

const detail = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * The epoch a commit was made in, from the MLS message's cleartext header (no key needed):
 * what the controller checks against the epoch the member claims.
 */
export function commitEpoch(bytes: Uint8Array): Result<number, MlsClientError> {
  const message = decode(bytes);
  if (message?.wireformat === 'mls_private_message')
    return ok(Number(message.privateMessage.epoch));
  if (message?.wireformat === 'mls_public_message')
    return ok(Number(message.publicMessage.content.epoch));
  return err({ kind: 'malformed', expected: 'commit' });
}

/** Whether `bytes` is one whole MLS message carrying a key package (what a join brings). */
export function isKeyPackageMessage(bytes: Uint8Array): boolean {
  return decode(bytes)?.wireformat === 'mls_key_package';
}

/** Whether `bytes` is one whole MLS message carrying a welcome. */
export function isWelcomeMessage(bytes: Uint8Array): boolean {
  return decode(bytes)?.wireformat === 'mls_welcome';
}

/** What the controller says an accepted commit does (its broadcast's `from`, adds, removes). */
export interface ExpectedChanges {
  readonly from: string;
  readonly adds: readonly string[];
  readonly removes: readonly string[];
}

/** What a commit made here produced, before the controller accepted it. */
export interface MadeCommit {
  readonly commit: Uint8Array;
  /** For the members the commit adds; undefined when it adds none. */
  readonly welcome: Uint8Array | undefined;
  /** The epoch the commit was made in (the group's current epoch). */
  readonly epoch: number;
}

interface PendingCommit {
  readonly commit: Uint8Array;
  readonly state: ClientState;
  /** Secrets of the current epoch the commit used up: erased once it is applied. */
  readonly consumed: readonly Uint8Array[];
}

export class MlsClient {
  private state: ClientState | undefined;
  /**
   * Commits made in the current epoch that the controller may still accept, oldest first. A
   * member can be asked again before its first answer is decided (the controller cancels one
   * request and asks for another, or asks a second time after a timeout), and either commit
   * may be the one accepted: each is kept until the epoch moves or the controller rejects it.
   */
  private pending: PendingCommit[] = [];
  /**
   * Set by `forget`: for good. An operation that was awaiting MLS when the client forgot keeps
   * nothing of what it computed (a leaver's keys never come back).
   */
  private forgotten = false;

  private constructor(
    readonly identity: string,
    private readonly cs: CiphersuiteImpl,
    private readonly publicPackage: KeyPackage,
    private readonly privatePackage: PrivateKeyPackage,
    /** The key package as an MLS message, sent with the join. */
    readonly keyPackage: Uint8Array,
  ) {}

  /** A client for `identity` (the participant id) with a fresh key package. */
  static async create(identity: string): Promise<MlsClient> {
    const cs = await mlsCiphersuite();
    const credential = { credentialType: 'basic' as const, identity: encoder.encode(identity) };
    const { publicPackage, privatePackage } = await generateKeyPackage(
      credential,
      defaultCapabilities(),
      defaultLifetime,
      [],
      cs,
    );
    const bytes = encodeMlsMessage({
      version: 'mls10',
      wireformat: 'mls_key_package',
      keyPackage: publicPackage,
    });
    return new MlsClient(identity, cs, publicPackage, privatePackage, bytes);
  }

  /** The group's epoch, or undefined outside a group. */
  get epoch(): number | undefined {
    return this.state === undefined ? undefined : Number(this.state.groupContext.epoch);
  }

  /** This member's leaf index in the group's tree (its SFrame sender index), or undefined. */
  get leafIndex(): number | undefined {
    return this.state?.privatePath.leafIndex;
  }

  /** How many leaves the group's tree has (SFrame's group size), or 0 outside a group. */
  get leafCount(): number {
    return this.state === undefined ? 0 : Math.ceil(this.state.ratchetTree.length / 2);
  }

  /** The identities of the group's members, in leaf order. */
  members(): string[] {
    if (this.state === undefined) return [];
    const out: string[] = [];
    for (const node of this.state.ratchetTree) {
      if (node?.nodeType !== 'leaf') continue;
      const credential = node.leaf.credential;
      if (credential.credentialType === 'basic') out.push(decoder.decode(credential.identity));
    }
    return out;
  }

  /** Each leaf's identity, by leaf index (undefined: a blank leaf), or [] outside a group. */
  leafIdentities(): (string | undefined)[] {
    const state = this.state;
    if (state === undefined) return [];
    return Array.from({ length: this.leafCount }, (_, leaf) => this.identityAt(state, leaf));
  }

  /** Creates the group (epoch 0) with this client as its only member. */
  async createGroup(groupId: Uint8Array): Promise<Result<void, MlsClientError>> {
    if (this.forgotten) return err({ kind: 'no-group' });
    if (this.state !== undefined) return err({ kind: 'already-in-group' });
    const created = await createGroup(
      groupId,
      this.publicPackage,
      this.privatePackage,
      [],
      this.cs,
      CLIENT_CONFIG,
    );
    if (this.forgotten) {
      zeroOutUint8Array(created.keySchedule.exporterSecret);
      return err({ kind: 'no-group' });
    }
    this.state = created;
    return ok(undefined);
  }

  /**
   * Commits, in the current epoch, the addition of `adds` (key packages as MLS messages) and
   * the removal of the members named in `removes`; with neither, a commit with a fresh update
   * path (a plain rotation). The state does not move until the commit comes back from the
   * controller (`processCommit`); a second call in the same epoch keeps the first commit too,
   * since the controller may accept either.
   */
  async commit(request: {
    readonly adds: readonly Uint8Array[];
    readonly removes: readonly string[];
  }): Promise<Result<MadeCommit, MlsClientError>> {
    const state = this.state;
    if (state === undefined) return err({ kind: 'no-group' });
    const proposals: Proposal[] = [];
    for (const identity of request.removes) {
      const leaf = this.leafOf(state, identity);
      if (leaf === undefined) return err({ kind: 'unknown-member', identity });
      proposals.push({ proposalType: 'remove', remove: { removed: leaf } });
    }
    for (const bytes of request.adds) {
      const message = decode(bytes);
      if (message?.wireformat !== 'mls_key_package')
        return err({ kind: 'malformed', expected: 'key package' });
      proposals.push({ proposalType: 'add', add: { keyPackage: message.keyPackage } });
    }
    try {
      const result = await createCommit(
        { state, cipherSuite: this.cs, pskIndex: emptyPskIndex },
        { extraProposals: proposals, ratchetTreeExtension: true },
      );
      const commit = encodeMlsMessage(result.commit);
      const welcome =
        result.welcome === undefined
          ? undefined
          : encodeMlsMessage({
              version: 'mls10',
              wireformat: 'mls_welcome',
              welcome: result.welcome,
            });
      if (this.forgotten) {
        zeroOutUint8Array(result.newState.keySchedule.exporterSecret);
        return err({ kind: 'no-group' });
      }
      this.pending.push({ commit, state: result.newState, consumed: result.consumed });
      return ok({ commit, welcome, epoch: Number(state.groupContext.epoch) });
    } catch (e) {
      return err({ kind: 'rejected', detail: detail(e) });
    }
  }

  /** The controller rejected this pending commit: it is dropped (false if it was not pending). */
  discardPendingCommit(commit: Uint8Array): boolean {
    const at = this.pending.findIndex((p) => equalBytes(p.commit, commit));
    if (at < 0) return false;
    const [dropped] = this.pending.splice(at, 1);
    if (dropped !== undefined) this.erasePending(dropped);
    return true;
  }

  /** How many commits made here wait for the controller's decision. */
  get pendingCommits(): number {
    return this.pending.length;
  }

  /**
   * Applies a commit the controller accepted: one of this client's pending ones (adopted as
   * made) or another member's (checked and applied by MLS). With `expected`, a commit by
   * another committer, or adding or removing other members than announced, is refused and
   * changes nothing. Every pending commit of this client is void afterwards (the epoch they
   * were made in is over, or the commit was refused). The previous epoch's exporter secret is
   * erased.
   */
  async processCommit(
    bytes: Uint8Array,
    expected?: ExpectedChanges,
  ): Promise<Result<{ epoch: number }, MlsClientError>> {
    const state = this.state;
    if (state === undefined) return err({ kind: 'no-group' });
    const pendings = this.pending;
    this.pending = [];
    const own = pendings.find((p) => equalBytes(p.commit, bytes));
    for (const other of pendings) if (other !== own) this.erasePending(other);
    if (own !== undefined) {
      for (const secret of own.consumed) zeroOutUint8Array(secret);
      this.moveTo(own.state);
      return ok({ epoch: Number(own.state.groupContext.epoch) });
    }
    const message = decode(bytes);
    if (
      message?.wireformat !== 'mls_private_message' &&
      message?.wireformat !== 'mls_public_message'
    )
      return err({ kind: 'malformed', expected: 'commit' });
    const epochOf =
      message.wireformat === 'mls_private_message'
        ? message.privateMessage.epoch
        : message.publicMessage.content.epoch;
    if (epochOf !== state.groupContext.epoch)
      return err({
        kind: 'wrong-epoch',
        epoch: Number(epochOf),
        current: Number(state.groupContext.epoch),
      });
    let mismatch: string | undefined;
    const check: IncomingMessageCallback =
      expected === undefined
        ? acceptAll
        : (incoming) => {
            if (incoming.kind !== 'commit') return 'reject';
            mismatch = this.mismatch(state, incoming.senderLeafIndex, incoming.proposals, expected);
            return mismatch === undefined ? 'accept' : 'reject';
          };
    try {
      const result = await processMessage(message, state, emptyPskIndex, check, this.cs);
      if (this.forgotten) {
        if (result.kind === 'newState')
          zeroOutUint8Array(result.newState.keySchedule.exporterSecret);
        return err({ kind: 'no-group' });
      }
      if (mismatch !== undefined) return err({ kind: 'unexpected-changes', detail: mismatch });
      if (result.kind !== 'newState' || result.actionTaken !== 'accept')
        return err({ kind: 'malformed', expected: 'commit' });
      if (result.newState.groupActiveState.kind === 'removedFromGroup') {
        this.forget();
        return err({ kind: 'removed' });
      }
      if (result.newState.groupContext.epoch === epochOf)
        return err({ kind: 'malformed', expected: 'commit' });
      for (const secret of result.consumed) zeroOutUint8Array(secret);
      this.moveTo(result.newState);
      return ok({ epoch: Number(result.newState.groupContext.epoch) });
    } catch (e) {
      return err({ kind: 'rejected', detail: detail(e) });
    }
  }

  /** Joins the group from a welcome made for this client's key package. */
  async joinFromWelcome(bytes: Uint8Array): Promise<Result<{ epoch: number }, MlsClientError>> {
    if (this.state !== undefined) return err({ kind: 'already-in-group' });
    const message = decode(bytes);
    if (message?.wireformat !== 'mls_welcome')
      return err({ kind: 'malformed', expected: 'welcome' });
    try {
      const joined = await joinGroup(
        message.welcome,
        this.publicPackage,
        this.privatePackage,
        emptyPskIndex,
        this.cs,
        undefined,
        undefined,
        CLIENT_CONFIG,
      );
      if (this.forgotten) {
        zeroOutUint8Array(joined.keySchedule.exporterSecret);
        return err({ kind: 'no-group' });
      }
      this.state = joined;
      return ok({ epoch: Number(joined.groupContext.epoch) });
    } catch (e) {
      return err({ kind: 'rejected', detail: detail(e) });
    }
  }

  /** The current epoch's SFrame base key (RFC 9605 section 5.2), `length` bytes. */
  async sframeBaseKey(
    length: number = SFRAME_BASE_KEY_BYTES,
  ): Promise<Result<Uint8Array, MlsClientError>> {
    if (this.state === undefined) return err({ kind: 'no-group' });
    const key = await mlsExporter(
      this.state.keySchedule.exporterSecret,
      SFRAME_EXPORTER_LABEL,
      new Uint8Array(),
      length,
      this.cs,
    );
    if (this.forgotten) {
      key.fill(0);
      return err({ kind: 'no-group' });
    }
    return ok(key);
  }

  /** Leaves: every secret of the group this client holds is dropped. */
  forget(): void {
    this.forgotten = true;
    if (this.state !== undefined) zeroOutUint8Array(this.state.keySchedule.exporterSecret);
    this.state = undefined;
    for (const pending of this.pending) this.erasePending(pending);
    this.pending = [];
  }

  /** A pending commit that will never apply: its next epoch's exporter secret is erased. */
  private erasePending(pending: PendingCommit): void {
    zeroOutUint8Array(pending.state.keySchedule.exporterSecret);
  }

  private moveTo(next: ClientState): void {
    const previous = this.state;
    this.state = next;
    if (previous !== undefined && previous.keySchedule !== next.keySchedule)
      zeroOutUint8Array(previous.keySchedule.exporterSecret);
  }

  /** How a commit differs from what the controller announced, or undefined. */
  private mismatch(
    state: ClientState,
    committer: number | undefined,
    proposals: readonly ProposalWithSender[],
    expected: ExpectedChanges,
  ): string | undefined {
    const from = committer === undefined ? undefined : this.identityAt(state, committer);
    if (from !== expected.from) return `committed by ${from ?? 'a non-member'}`;
    const adds: string[] = [];
    const removes: string[] = [];
    for (const { proposal } of proposals) {
      if (proposal.proposalType === 'add') {
        const credential = proposal.add.keyPackage.leafNode.credential;
        if (credential.credentialType !== 'basic') return 'adds a non-basic credential';
        adds.push(decoder.decode(credential.identity));
      } else if (proposal.proposalType === 'remove') {
        removes.push(this.identityAt(state, proposal.remove.removed) ?? '?');
      } else {
        return `carries a ${proposal.proposalType} proposal`;
      }
    }
    const same = (a: readonly string[], b: readonly string[]) =>
      a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
    if (!same(adds, expected.adds)) return `adds ${adds.join(',')}`;
    if (!same(removes, expected.removes)) return `removes ${removes.join(',')}`;
    return undefined;
  }

  private identityAt(state: ClientState, leaf: number): string | undefined {
    const node = state.ratchetTree[leaf * 2];
    if (node?.nodeType !== 'leaf') return undefined;
    const credential = node.leaf.credential;
    return credential.credentialType === 'basic' ? decoder.decode(credential.identity) : undefined;
  }

  private leafOf(state: ClientState, identity: string): number | undefined {
    const wanted = encoder.encode(identity);
    for (let node = 0; node < state.ratchetTree.length; node += 2) {
      const leaf = state.ratchetTree[node];
      if (leaf?.nodeType !== 'leaf') continue;
      const credential = leaf.leaf.credential;
      if (credential.credentialType === 'basic' && equalBytes(credential.identity, wanted))
        return node / 2;
    }
    return undefined;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
