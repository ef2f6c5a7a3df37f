import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_MEDIA_KEY_POLICY, MediaKeyEpochs } from './media-epochs.ts';
import type { MediaKeyEffect, MediaKeyEvent } from './media-epochs.ts';
import { participantId } from '../ids.ts';
import type { ParticipantId } from '../ids.ts';

const HOUR_MS = 3_600_000;
const GRACE_MS = DEFAULT_MEDIA_KEY_POLICY.deletionGraceMs;
const alice = participantId('alice');
const bob = participantId('bob');
const carol = participantId('carol');

const distributions = (effects: readonly MediaKeyEffect[]) =>
  effects.flatMap((e) => (e.type === 'distribute_epoch' ? [e] : []));
const deletions = (effects: readonly MediaKeyEffect[]) =>
  effects.flatMap((e) => (e.type === 'delete_epoch' ? [e.epoch] : []));

describe('media-key epochs', () => {
  it('starts a new epoch for everyone on each join, the joiner included', () => {
    const epochs = new MediaKeyEpochs();
    expect(epochs.handle({ type: 'join', participant: alice }, 0)).toEqual([
      { type: 'distribute_epoch', epoch: 0, recipients: [alice], reason: 'join' },
    ]);
    const [second] = distributions(epochs.handle({ type: 'join', participant: bob }, 10));
    expect(second).toMatchObject({ epoch: 1, recipients: [alice, bob] });
    expect(epochs.currentEpoch()).toBe(1);
  });

  it('on leave, rotates for the others only', () => {
    const epochs = new MediaKeyEpochs();
    for (const p of [alice, bob, carol]) epochs.handle({ type: 'join', participant: p }, 0);
    const [rotation] = distributions(epochs.handle({ type: 'leave', participant: bob }, 5));
    expect(rotation).toMatchObject({ epoch: 3, recipients: [alice, carol], reason: 'leave' });
  });

  it('ignores a second join and a leave of a non-member', () => {
    const epochs = new MediaKeyEpochs();
    epochs.handle({ type: 'join', participant: alice }, 0);
    expect(epochs.handle({ type: 'join', participant: alice }, 1)).toEqual([]);
    expect(epochs.handle({ type: 'leave', participant: bob }, 2)).toEqual([]);
  });

  it('rotates on manual request and every hour', () => {
    const epochs = new MediaKeyEpochs();
    epochs.handle({ type: 'join', participant: alice }, 0);
    expect(distributions(epochs.handle({ type: 'rotate' }, 100))[0]?.reason).toBe('manual');
    expect(epochs.nextDeadline()).toBe(100 + GRACE_MS);
    epochs.handle({ type: 'tick' }, 100 + GRACE_MS);
    expect(epochs.nextDeadline()).toBe(100 + HOUR_MS);
    expect(distributions(epochs.handle({ type: 'tick' }, 100 + HOUR_MS - 1))).toEqual([]);
    const [hourly] = distributions(epochs.handle({ type: 'tick' }, 100 + HOUR_MS));
    expect(hourly).toMatchObject({ epoch: 2, reason: 'hourly', recipients: [alice] });
  });

  it('deletes a superseded epoch exactly one grace window later', () => {
    const epochs = new MediaKeyEpochs();
    epochs.handle({ type: 'join', participant: alice }, 0);
    epochs.handle({ type: 'join', participant: bob }, 1000);
    expect(deletions(epochs.handle({ type: 'tick' }, 1000 + GRACE_MS - 1))).toEqual([]);
    expect(epochs.liveEpochs()).toEqual([0, 1]);
    expect(deletions(epochs.handle({ type: 'tick' }, 1000 + GRACE_MS))).toEqual([0]);
    expect(epochs.liveEpochs()).toEqual([1]);
  });

  it('an empty meeting deletes its last epoch after the grace and stops rotating', () => {
    const epochs = new MediaKeyEpochs();
    epochs.handle({ type: 'join', participant: alice }, 0);
    expect(epochs.handle({ type: 'leave', participant: alice }, 10)).toEqual([]);
    expect(epochs.currentEpoch()).toBeUndefined();
    expect(epochs.nextDeadline()).toBe(10 + GRACE_MS);
    expect(deletions(epochs.handle({ type: 'tick' }, 10 + GRACE_MS))).toEqual([0]);
    expect(epochs.nextDeadline()).toBeUndefined();
    expect(epochs.handle({ type: 'rotate' }, 20 + GRACE_MS)).toEqual([]);
  });

  it('after any history: recipients are exactly the members, members share the latest epoch, nothing outlives its grace', () => {
    const people = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'].map(participantId);
    const event: fc.Arbitrary<MediaKeyEvent> = fc.oneof(
      fc.constantFrom(...people).map((participant) => ({ type: 'join' as const, participant })),
      fc.constantFrom(...people).map((participant) => ({ type: 'leave' as const, participant })),
      fc.constant({ type: 'rotate' as const }),
      fc.constant({ type: 'tick' as const }),
    );
    const step = fc.record({
      advanceMs: fc.oneof(
        fc.integer({ min: 0, max: 2 * GRACE_MS }),
        fc.integer({ min: 0, max: 2 * HOUR_MS }),
      ),
      event,
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 150 }), (steps) => {
        const machine = new MediaKeyEpochs();
        const members = new Set<ParticipantId>();
        const held = new Map<ParticipantId, Set<number>>(people.map((p) => [p, new Set<number>()]));
        const supersededAt = new Map<number, number>();
        let latest: number | undefined;
        let now = 0;
        for (const { advanceMs, event: ev } of steps) {
          now += advanceMs;
          if (ev.type === 'join') members.add(ev.participant);
          if (ev.type === 'leave' && members.delete(ev.participant)) {
            held.get(ev.participant)!.clear(); // a departed client's keys go with its session
          }
          for (const effect of machine.handle(ev, now)) {
            if (effect.type === 'distribute_epoch') {
              expect(new Set(effect.recipients)).toEqual(members);
              expect(effect.epoch).toBeGreaterThan(latest ?? -1);
              if (latest !== undefined && !supersededAt.has(latest)) supersededAt.set(latest, now);
              latest = effect.epoch;
              for (const p of effect.recipients) held.get(p)!.add(effect.epoch);
            } else {
              expect(now).toBeGreaterThanOrEqual(supersededAt.get(effect.epoch)! + GRACE_MS);
              for (const p of effect.holders) held.get(p)!.delete(effect.epoch);
            }
          }
          if (members.size === 0 && latest !== undefined && !supersededAt.has(latest)) {
            supersededAt.set(latest, now);
          }
          // Every member holds the latest epoch and uses it.
          if (members.size > 0) {
            expect(machine.currentEpoch()).toBe(latest);
            for (const p of members) expect(Math.max(...held.get(p)!)).toBe(latest);
          } else {
            expect(machine.currentEpoch()).toBeUndefined();
          }
          // No superseded epoch older than the grace window survives.
          for (const epoch of machine.liveEpochs()) {
            const since = supersededAt.get(epoch);
            if (since !== undefined) expect(now - since).toBeLessThan(GRACE_MS);
          }
          // Members hold only live epochs.
          const live = new Set(machine.liveEpochs());
          for (const p of members)
            for (const epoch of held.get(p)!) expect(live.has(epoch)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
