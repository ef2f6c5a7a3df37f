/**
 * One meeting's MLS group in one process: the controller's delivery-service machine
 * (core/mls/delivery) and real `ts-mls` clients, with the signaling reduced to direct calls in
 * output order (each client's stream is ordered, as the real one is). Time is virtual. For
 * integration tests and the MLS benchmark.
 */
import { participantId, type ParticipantId } from '../../core/ids.ts';
import {
  MlsDelivery,
  type MlsDeliveryConfig,
  type MlsDeliveryOutput,
} from '../../core/mls/delivery.ts';
import { unwrap } from '../../core/result.ts';
import { commitEpoch, MlsClient, type MadeCommit } from './client.ts';

export interface EpochRecord {
  readonly group: number;
  readonly epoch: number;
  readonly members: readonly ParticipantId[];
  /** The accepted commit that started it (undefined for a group's epoch 0). */
  readonly commit: Uint8Array | undefined;
}

/** What a committer does when asked. */
export type Answer =
  /** Commit and send at once. */
  | 'send'
  /** Never answer. */
  | 'silent'
  /** Commit now, hold the commit until `releaseHeld`. */
  | 'hold';

const encoder = new TextEncoder();

export class InProcessMeeting {
  readonly ds: MlsDelivery;
  now = 0;
  readonly clients = new Map<ParticipantId, MlsClient>();
  /** Clients of participants who left, kept to show what they can no longer do. */
  readonly departed = new Map<ParticipantId, MlsClient>();
  readonly epochs: EpochRecord[] = [];
  readonly rejections: Extract<MlsDeliveryOutput, { type: 'commit-rejected' }>[] = [];
  readonly answers = new Map<ParticipantId, Answer>();
  /** Requests left unanswered by silent members. */
  readonly ignored: Extract<MlsDeliveryOutput, { type: 'request-commit' }>[] = [];
  private readonly held: { from: ParticipantId; request: number; made: MadeCommit }[] = [];
  /** Each member's pending commits, by the request each answers. */
  private readonly pendingRequest = new Map<ParticipantId, Map<number, Uint8Array>>();
  private lastCommit: Uint8Array | undefined;

  constructor(
    readonly meeting: string,
    config?: MlsDeliveryConfig,
  ) {
    this.ds = new MlsDelivery(config);
  }

  async join(name: string): Promise<MlsClient> {
    const p = participantId(name);
    const client = await MlsClient.create(name);
    this.clients.set(p, client);
    this.expectNoError(
      this.ds.handle({ type: 'join', participant: p, keyPackage: client.keyPackage }, this.now),
    );
    await this.pump();
    return client;
  }

  async leave(name: string): Promise<void> {
    const p = participantId(name);
    const client = this.clients.get(p);
    if (client !== undefined) this.departed.set(p, client);
    this.clients.delete(p);
    this.pendingRequest.delete(p);
    this.ds.handle({ type: 'leave', participant: p }, this.now);
    await this.pump();
  }

  async rotate(): Promise<void> {
    this.ds.handle({ type: 'rotate' }, this.now);
    await this.pump();
  }

  /** Lets virtual time run to `until`, firing the machine's deadlines on the way. */
  async advance(until: number): Promise<void> {
    for (let t = this.ds.pollTimeout(); t !== null && t <= until; t = this.ds.pollTimeout()) {
      this.now = Math.max(this.now, t);
      this.ds.handleTimeout(this.now);
      await this.pump();
    }
    this.now = Math.max(this.now, until);
  }

  /** Sends the commits held back, oldest first. */
  async releaseHeld(): Promise<void> {
    for (const held of this.held.splice(0)) {
      this.send(held.from, held.request, held.made);
      await this.pump();
    }
  }

  /** The SFrame base key of every current member (the group's members by the controller). */
  async keys(): Promise<Map<ParticipantId, Uint8Array>> {
    const out = new Map<ParticipantId, Uint8Array>();
    for (const p of this.ds.groupMembers()) {
      const client = this.clients.get(p);
      if (client === undefined) throw new Error(`${p} has no client`);
      out.set(p, unwrap(await client.sframeBaseKey()));
    }
    return out;
  }

  /** The commit that started the latest epoch. */
  get latestCommit(): Uint8Array | undefined {
    return this.lastCommit;
  }

  /** Hands every output to its recipients until the machine has nothing more to say. */
  async pump(): Promise<void> {
    for (let o = this.ds.pollOutput(); o !== null; o = this.ds.pollOutput()) await this.deliver(o);
  }

  private async deliver(o: MlsDeliveryOutput): Promise<void> {
    switch (o.type) {
      case 'create-group': {
        const groupId = encoder.encode(`${this.meeting}/${o.group}`);
        unwrap(await this.client(o.to).createGroup(groupId));
        return;
      }
      case 'request-commit': {
        const answer = this.answers.get(o.to) ?? 'send';
        if (answer === 'silent') {
          this.ignored.push(o);
          return;
        }
        const made = unwrap(
          await this.client(o.to).commit({
            adds: o.adds.map((a) => a.keyPackage),
            removes: o.removes,
          }),
        );
        const pending = this.pendingRequest.get(o.to) ?? new Map<number, Uint8Array>();
        pending.set(o.request, made.commit);
        this.pendingRequest.set(o.to, pending);
        if (answer === 'hold') this.held.push({ from: o.to, request: o.request, made });
        else this.send(o.to, o.request, made);
        return;
      }
      case 'broadcast-commit':
        this.lastCommit = o.commit;
        for (const p of o.to) {
          const client = this.client(p);
          const { epoch } = unwrap(
            await client.processCommit(o.commit, {
              from: o.from,
              adds: o.adds,
              removes: o.removes,
            }),
          );
          if (epoch !== o.epoch) throw new Error(`${p} reached ${epoch}, expected ${o.epoch}`);
          this.pendingRequest.delete(p);
          this.ds.handle({ type: 'processed', participant: p, epoch }, this.now);
        }
        return;
      case 'deliver-welcome': {
        const { epoch } = unwrap(await this.client(o.to).joinFromWelcome(o.welcome));
        if (epoch !== o.epoch) throw new Error(`${o.to} joined ${epoch}, expected ${o.epoch}`);
        this.ds.handle({ type: 'processed', participant: o.to, epoch }, this.now);
        return;
      }
      case 'commit-rejected':
        this.rejections.push(o);
        {
          const rejected = this.pendingRequest.get(o.to)?.get(o.request);
          if (rejected !== undefined) {
            this.client(o.to).discardPendingCommit(rejected);
            this.pendingRequest.get(o.to)?.delete(o.request);
          }
        }
        return;
      case 'epoch-started':
        this.epochs.push({
          group: o.group,
          epoch: o.epoch,
          members: o.members,
          commit: o.epoch === 0 ? undefined : this.lastCommit,
        });
        return;
    }
  }

  private send(from: ParticipantId, request: number, made: MadeCommit): void {
    // The controller reads the epoch from the commit's cleartext header, not the claim.
    const epoch = unwrap(commitEpoch(made.commit));
    this.expectNoError(
      this.ds.handle(
        { type: 'commit', from, request, epoch, commit: made.commit, welcome: made.welcome },
        this.now,
      ),
    );
  }

  private client(p: ParticipantId): MlsClient {
    const client = this.clients.get(p);
    if (client === undefined) throw new Error(`no client for ${p}`);
    return client;
  }

  private expectNoError(error: unknown): void {
    if (error !== undefined) throw new Error(`refused: ${JSON.stringify(error)}`);
  }
}
