/**
 * Random histories against the delivery service, with model clients that follow its outputs:
 * joins, leaves, rejoins, manual rotations, the hourly timer, and committers that answer at
 * once, late, twice, never, or send a commit for an epoch that is over.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { participantId, type ParticipantId } from '../ids.ts';
import { MlsDelivery, type MlsDeliveryConfig, type MlsDeliveryOutput } from './delivery.ts';

const CONFIG: MlsDeliveryConfig = { commitTimeoutMs: 100, rotationIntervalMs: 5_000 };
const PEOPLE = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6'].map(participantId);

type Behaviour = 'prompt' | 'late' | 'silent' | 'twice';

type Step =
  | { readonly type: 'join'; readonly who: number }
  | { readonly type: 'leave'; readonly who: number }
  | { readonly type: 'rotate' }
  | { readonly type: 'stale'; readonly who: number }
  | { readonly type: 'behave'; readonly who: number; readonly as: Behaviour }
  | { readonly type: 'wait'; readonly ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.nat(PEOPLE.length - 1).map((who) => ({ type: 'join' as const, who })),
  },
  {
    weight: 2,
    arbitrary: fc.nat(PEOPLE.length - 1).map((who) => ({ type: 'leave' as const, who })),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'rotate' as const }) },
  {
    weight: 1,
    arbitrary: fc.nat(PEOPLE.length - 1).map((who) => ({ type: 'stale' as const, who })),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('behave' as const),
      who: fc.nat(PEOPLE.length - 1),
      as: fc.constantFrom<Behaviour>('prompt', 'late', 'silent', 'twice'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.integer({ min: 0, max: 6_000 }).map((ms) => ({ type: 'wait' as const, ms })),
  },
);

interface Client {
  /** Present in the meeting (joined and not left since). */
  present: boolean;
  /** The MLS state the model client holds: its group and epoch, if in one. */
  group: number | undefined;
  epoch: number;
  behaviour: Behaviour;
}

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly from: ParticipantId;
  readonly incarnation: number;
  readonly request: number;
  readonly epoch: number;
  readonly adds: boolean;
}

/** Drives the machine and the model clients, checking every output as it comes. */
class World {
  readonly ds = new MlsDelivery(CONFIG);
  readonly clients = new Map<ParticipantId, Client & { incarnation: number }>();
  now = 0;
  private seq = 0;
  private queue: Scheduled[] = [];
  /** Epochs started, per group, with their time and members. */
  readonly epochs = new Map<number, { epoch: number; at: number; members: ParticipantId[] }[]>();
  accepted = 0;
  private lastBroadcast: Extract<MlsDeliveryOutput, { type: 'broadcast-commit' }> | undefined;

  client(p: ParticipantId) {
    let c = this.clients.get(p);
    if (c === undefined) {
      c = {
        present: false,
        group: undefined,
        epoch: -1,
        behaviour: 'prompt',
        incarnation: 0,
      };
      this.clients.set(p, c);
    }
    return c;
  }

  apply(s: Step): void {
    const p = PEOPLE[(s as { who?: number }).who ?? 0] as ParticipantId;
    switch (s.type) {
      case 'join': {
        const c = this.client(p);
        // A (re)join starts from nothing: a fresh key package, no group state.
        c.present = true;
        c.group = undefined;
        c.epoch = -1;
        c.incarnation++;
        this.feed({ type: 'join', participant: p, keyPackage: Uint8Array.of(c.incarnation) });
        break;
      }
      case 'leave': {
        const c = this.client(p);
        c.present = false;
        c.group = undefined;
        c.incarnation++;
        this.feed({ type: 'leave', participant: p });
        break;
      }
      case 'rotate':
        this.feed({ type: 'rotate' });
        break;
      case 'stale': {
        const c = this.client(p);
        if (c.group === undefined || c.epoch < 1) break;
        const before = this.ds.epoch;
        this.feed({
          type: 'commit',
          from: p,
          request: 1,
          epoch: c.epoch - 1,
          commit: Uint8Array.of(0),
          welcome: Uint8Array.of(0),
        });
        expect(this.ds.epoch).toBe(before);
        break;
      }
      case 'behave':
        this.client(p).behaviour = s.as;
        break;
      case 'wait':
        this.runUntil(this.now + s.ms);
        break;
    }
  }

  /** Lets time pass to `until`, firing client answers and machine deadlines in order. */
  runUntil(until: number): void {
    for (let guard = 0; guard < 10_000; guard++) {
      const timeout = this.ds.pollTimeout();
      const next = this.queue.reduce<Scheduled | undefined>(
        (a, b) => (a === undefined || b.at < a.at || (b.at === a.at && b.seq < a.seq) ? b : a),
        undefined,
      );
      const nextAt = Math.min(timeout ?? Infinity, next?.at ?? Infinity);
      if (nextAt > until) break;
      this.now = Math.max(this.now, nextAt);
      if (next !== undefined && next.at === nextAt) {
        this.queue = this.queue.filter((q) => q !== next);
        const c = this.client(next.from);
        // A client that left or rejoined since the request does not answer it.
        if (c.incarnation !== next.incarnation) continue;
        this.feed({
          type: 'commit',
          from: next.from,
          request: next.request,
          epoch: next.epoch,
          commit: Uint8Array.of(next.request & 0xff, 1),
          welcome: next.adds ? Uint8Array.of(next.request & 0xff, 2) : undefined,
        });
      } else {
        this.ds.handleTimeout(this.now);
        this.drain();
      }
    }
    this.now = Math.max(this.now, until);
  }

  feed(input: Parameters<MlsDelivery['handle']>[0]): void {
    expect(this.ds.handle(input, this.now)).toBeUndefined();
    this.drain();
  }

  private drain(): void {
    const acks: ParticipantId[] = [];
    for (let o = this.ds.pollOutput(); o !== null; o = this.ds.pollOutput()) {
      this.check(o, acks);
    }
    for (const p of acks) {
      const c = this.client(p);
      if (c.group !== undefined)
        this.ds.handle({ type: 'processed', participant: p, epoch: c.epoch }, this.now);
    }
  }

  private check(o: MlsDeliveryOutput, acks: ParticipantId[]): void {
    switch (o.type) {
      case 'create-group': {
        const c = this.client(o.to);
        expect(c.present).toBe(true);
        expect(c.group).toBeUndefined();
        c.group = o.group;
        c.epoch = 0;
        break;
      }
      case 'request-commit': {
        const c = this.client(o.to);
        expect(c.present).toBe(true);
        // A committer is asked for the epoch it is in (its stream delivered the rest first).
        expect(c.epoch).toBe(o.epoch);
        expect(o.removes).not.toContain(o.to);
        for (const a of o.adds) expect(this.client(a.participant).present).toBe(true);
        const schedule = (delay: number) =>
          this.queue.push({
            at: this.now + delay,
            seq: this.seq++,
            from: o.to,
            incarnation: c.incarnation,
            request: o.request,
            epoch: o.epoch,
            adds: o.adds.length > 0,
          });
        if (c.behaviour === 'prompt') schedule(1);
        if (c.behaviour === 'late') schedule(CONFIG.commitTimeoutMs * 1.5);
        if (c.behaviour === 'twice') {
          schedule(1);
          schedule(2);
        }
        break;
      }
      case 'broadcast-commit':
        this.lastBroadcast = o;
        for (const p of o.to) {
          const c = this.client(p);
          // Only present members in the group receive it, and each gets every epoch in turn.
          expect(c.present).toBe(true);
          expect(c.group).toBe(this.ds.group);
          expect(c.epoch).toBe(o.epoch - 1);
          c.epoch = o.epoch;
          acks.push(p);
        }
        break;
      case 'deliver-welcome': {
        const c = this.client(o.to);
        expect(c.present).toBe(true);
        expect(c.group).toBeUndefined();
        // A joiner's first epoch is the one starting now (its epoch-started follows), so it
        // began after the join: never an epoch that was already running.
        expect(o.epoch).toBe(this.epochs.get(this.ds.group)?.length);
        c.group = this.ds.group;
        c.epoch = o.epoch;
        acks.push(o.to);
        break;
      }
      case 'commit-rejected':
        expect(this.client(o.to).present).toBe(true);
        break;
      case 'epoch-started': {
        let list = this.epochs.get(o.group);
        if (list === undefined) this.epochs.set(o.group, (list = []));
        // Exactly one commit accepted per epoch: the epochs of a group go 0, 1, 2, ...
        expect(o.epoch).toBe(list.length);
        list.push({ epoch: o.epoch, at: this.now, members: [...o.members] });
        if (o.epoch > 0) {
          this.accepted++;
          // The commit did what the broadcast says it did, and the broadcast went to the rest.
          const before = list[list.length - 2]?.members ?? [];
          const b = this.lastBroadcast;
          expect(b?.epoch).toBe(o.epoch);
          const stayed = before.filter((p) => !(b?.removes ?? []).includes(p));
          expect(o.members).toEqual([...stayed, ...(b?.adds ?? [])]);
          expect(b?.to).toEqual(stayed);
        }
        // Every member of an epoch is present: a leaver is in no epoch after its leave, and a
        // joiner's first epoch began at or after its (last) join.
        for (const p of o.members) {
          const c = this.client(p);
          expect(c.present).toBe(true);
        }
        expect(new Set(o.members).size).toBe(o.members.length);
        break;
      }
    }
  }
}

describe('MLS delivery service, random histories', () => {
  it('one commit per epoch, only present members, everyone converges on the same epoch', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const world = new World();
        for (const s of steps) world.apply(s);
        // Then every client answers at once and time runs on: the group settles.
        for (const c of world.clients.values()) c.behaviour = 'prompt';
        world.runUntil(world.now + 20 * CONFIG.commitTimeoutMs);
        const present = [...world.clients].filter(([, c]) => c.present).map(([p]) => p);
        expect(new Set(world.ds.groupMembers())).toEqual(new Set(present));
        for (const p of present) {
          const c = world.client(p);
          expect(c.group).toBe(world.ds.group);
          expect(c.epoch).toBe(world.ds.epoch);
        }
        // Settled: nothing left to commit, only the hourly timer (or nothing) ahead.
        const timeout = world.ds.pollTimeout();
        if (present.length === 0) expect(timeout).toBeNull();
        else expect(timeout).toBeGreaterThan(world.now);
      }),
      { numRuns: 300 },
    );
  });
});
