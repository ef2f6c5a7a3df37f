// Members and the controller's delivery service (core/mls/delivery) under random meetings:
// reconnects (a new member replaces the old leaf), leaves and rejoins, rotations and committers
// that time out, with every member's messages handled in order but answers arriving back at the
// controller in any order. Once the controller has nothing left to do, every member holds the
// group's epoch and opens every other member's frames as from that member.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { participantId } from '../../core/ids.ts';
import { MlsDelivery } from '../../core/mls/delivery.ts';
import { commitEpoch } from '../../adapters/mls/client.ts';
import { mlsMessage } from '../../services/mc/mls-messages.ts';
import { E2eeMember } from './member.ts';

const NAMES = ['alice', 'bob', 'carol'] as const;

type Step =
  | {
      readonly kind: 'reconnect' | 'leave-and-rejoin';
      readonly who: number;
      readonly settle: boolean;
    }
  | { readonly kind: 'rotate'; readonly settle: boolean }
  | { readonly kind: 'timeout' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('reconnect' as const, 'leave-and-rejoin' as const),
    who: fc.integer({ min: 0, max: 2 }),
    settle: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('rotate' as const), settle: fc.boolean() }),
  fc.record({ kind: fc.constant('timeout' as const) }),
);

/** One meeting: the delivery service, the members, and answers that come back late. */
class Meeting {
  readonly ds = new MlsDelivery({ commitTimeoutMs: 5_000, rotationIntervalMs: 3_600_000 });
  readonly members = new Map<string, E2eeMember>();
  readonly incidents: string[] = [];
  now = 0;
  private readonly inflight: Promise<void>[] = [];

  constructor(private readonly delays: () => number) {}

  async join(name: string): Promise<void> {
    const member = await E2eeMember.create('m-props', name);
    // Only the current member's incidents count: one that was replaced may still be working
    // through messages queued before it forgot everything.
    member.onIncident = (i) => {
      if (this.members.get(name) === member)
        this.incidents.push(`${name} ${i.message} ${i.error.kind}`);
    };
    this.members.set(name, member);
    this.ds.handle(
      { type: 'join', participant: participantId(name), keyPackage: member.keyPackage },
      this.now,
    );
    this.pump();
  }

  /** The member's state is lost (or it leaves): the object is gone with its keys. */
  drop(name: string, leave: boolean): void {
    this.members.get(name)?.forget();
    this.members.delete(name);
    if (leave) this.ds.handle({ type: 'leave', participant: participantId(name) }, this.now);
    this.pump();
  }

  rotate(): void {
    this.ds.handle({ type: 'rotate' }, this.now);
    this.pump();
  }

  /** A committer's time runs out. */
  timeout(): void {
    this.now += 6_000;
    this.ds.handleTimeout(this.now);
    this.pump();
  }

  async settle(): Promise<void> {
    while (this.inflight.length > 0) await this.inflight.shift();
  }

  private pump(): void {
    for (let o = this.ds.pollOutput(); o !== null; o = this.ds.pollOutput()) {
      const carried = mlsMessage(o);
      if (carried === undefined) continue;
      const { message } = carried;
      for (const to of carried.to) {
        const member = this.members.get(to);
        if (member === undefined) continue;
        const delay = this.delays();
        this.inflight.push(
          member.handle(message).then(async (replies) => {
            // Each member's answers travel on their own: they reach the controller in any order.
            await new Promise((resolve) => setTimeout(resolve, delay));
            if (this.members.get(to) !== member) return;
            for (const reply of replies) this.answer(to, reply);
            this.pump();
          }),
        );
      }
    }
  }

  private answer(from: string, reply: Awaited<ReturnType<E2eeMember['handle']>>[number]): void {
    const participant = participantId(from);
    if (reply.mlsCommit !== undefined) {
      const epoch = commitEpoch(reply.mlsCommit.commit);
      if (!epoch.ok) throw new Error(`${from} sent a malformed commit`);
      this.ds.handle(
        {
          type: 'commit',
          from: participant,
          request: reply.mlsCommit.request,
          epoch: epoch.value,
          commit: reply.mlsCommit.commit,
          welcome: reply.mlsCommit.welcome.length > 0 ? reply.mlsCommit.welcome : undefined,
        },
        this.now,
      );
    } else if (reply.mlsProcessed !== undefined) {
      this.ds.handle({ type: 'processed', participant, epoch: reply.mlsProcessed.epoch }, this.now);
    }
  }
}

describe('E2eeMember with the delivery service, under random joins, leaves and rotations', () => {
  it('ends with every member in the group’s epoch, each opening every other’s frames', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 1, maxLength: 12 }),
        fc.infiniteStream(fc.integer({ min: 0, max: 2 })),
        async (steps, delayStream) => {
          const delays = delayStream[Symbol.iterator]();
          const meeting = new Meeting(() => delays.next().value as number);
          for (const name of NAMES) {
            await meeting.join(name);
            await meeting.settle();
          }
          for (const step of steps) {
            if (step.kind === 'timeout') meeting.timeout();
            else if (step.kind === 'rotate') meeting.rotate();
            else {
              const name = NAMES[step.who] as string;
              meeting.drop(name, step.kind === 'leave-and-rejoin');
              await meeting.join(name);
            }
            if (step.kind !== 'timeout' && step.settle) await meeting.settle();
          }
          // Nothing new: late answers arrive and stalled committers are replaced.
          for (let i = 0; i < 4; i++) {
            await meeting.settle();
            meeting.timeout();
          }
          await meeting.settle();

          expect(meeting.incidents).toEqual([]);
          const epoch = meeting.ds.epoch;
          expect(meeting.ds.groupMembers().sort()).toEqual([...NAMES].sort());
          for (const [name, member] of meeting.members) {
            expect({ name, epoch: member.epoch }).toEqual({ name, epoch });
          }
          for (const [from, sender] of meeting.members) {
            for (const [to, receiver] of meeting.members) {
              if (from === to) continue;
              const sealed = await sender.encrypt(new TextEncoder().encode(`${from} to ${to}`));
              if (!sealed.ok) throw new Error(`${from} cannot seal: ${sealed.error.kind}`);
              const opened = await receiver.openFrom(from, sealed.value);
              expect({ from, to, opened: opened !== undefined }).toEqual({
                from,
                to,
                opened: true,
              });
            }
          }
        },
      ),
      { numRuns: 30 },
    );
  }, 120_000);
});
