/**
 * The controller's delivery-service machine driving real MLS clients (ts-mls) in one process:
 * after every epoch, every member exports the same SFrame base key, and a member who left can
 * neither read the new epoch's key from its state nor process the commit that removed it.
 */
import { describe, expect, it } from 'vitest';
import { participantId, type ParticipantId } from '../../core/ids.ts';
import { unwrap } from '../../core/result.ts';
import { InProcessMeeting } from './testing.ts';

const TIMEOUT = 5_000;
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Every member is on the controller's epoch and exports the same key; returns that key. */
async function agreed(m: InProcessMeeting): Promise<string> {
  const keys = await m.keys();
  expect(keys.size).toBe(m.ds.groupMembers().length);
  for (const p of m.ds.groupMembers()) expect(m.clients.get(p)?.epoch).toBe(m.ds.epoch);
  const distinct = new Set([...keys.values()].map(hex));
  expect(distinct.size).toBe(1);
  const [key] = distinct;
  return key ?? '';
}

describe('MLS group keys with the controller as delivery service', () => {
  it('joins, a leave, a manual rotation, a silent committer and a commit race: one key per epoch', async () => {
    const m = new InProcessMeeting('meeting-1', {
      commitTimeoutMs: TIMEOUT,
      rotationIntervalMs: 3_600_000,
    });
    const seen = new Set<string>();
    const fresh = async () => {
      const key = await agreed(m);
      expect(seen.has(key)).toBe(false);
      seen.add(key);
      return key;
    };

    // Six join one by one: the first creates the group, each next one is added by a commit.
    const names = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
    for (const [i, name] of names.entries()) {
      m.now += 10;
      await m.join(name);
      expect(m.ds.epoch).toBe(i);
      expect(m.ds.groupMembers()).toEqual(names.slice(0, i + 1));
      await fresh();
    }
    expect(m.epochs.map((e) => e.epoch)).toEqual([0, 1, 2, 3, 4, 5]);

    // p2 leaves: p0 (earliest joined) commits its removal.
    m.now += 10;
    const leaver = m.clients.get(participantId('p2'));
    if (leaver === undefined) throw new Error('no p2');
    const keyBeforeLeave = await agreed(m);
    await m.leave('p2');
    expect(m.ds.epoch).toBe(6);
    expect(m.ds.groupMembers()).not.toContain('p2');
    const afterLeave = await fresh();
    // The leaver still holds epoch 5: its export is the old key, not the new one, ...
    expect(leaver.epoch).toBe(5);
    expect(hex(unwrap(await leaver.sframeBaseKey()))).toBe(keyBeforeLeave);
    expect(hex(unwrap(await leaver.sframeBaseKey()))).not.toBe(afterLeave);
    // ... and the commit that removed it does not take it into epoch 6.
    const removal = m.latestCommit;
    if (removal === undefined) throw new Error('no commit');
    expect(await leaver.processCommit(removal)).toEqual({ ok: false, error: { kind: 'removed' } });
    expect(leaver.epoch).toBeUndefined();

    // Manual rotation: an empty commit, a new epoch, same members.
    m.now += 10;
    await m.rotate();
    expect(m.ds.epoch).toBe(7);
    expect(m.epochs.at(-1)?.members).toEqual(['p0', 'p1', 'p3', 'p4', 'p5']);
    await fresh();

    // p0 goes silent: after the deadline p1 is asked and commits the next join.
    m.answers.set(participantId('p0'), 'silent');
    m.now += 10;
    await m.join('p6');
    expect(m.ds.epoch).toBe(7);
    expect(m.ignored.map((r) => r.to)).toEqual(['p0']);
    await m.advance(m.now + TIMEOUT);
    expect(m.ds.epoch).toBe(8);
    expect(m.epochs.at(-1)?.members).toContain('p6');
    await fresh();
    m.answers.delete(participantId('p0'));

    // Two commits for epoch 8: p0 is asked and holds its commit, times out, p1 is asked and
    // holds too; p0's arrives first and wins, p1's is rejected, and p1 follows p0's commit.
    m.answers.set(participantId('p0'), 'hold');
    m.answers.set(participantId('p1'), 'hold');
    m.now += 10;
    await m.rotate();
    await m.advance(m.now + TIMEOUT);
    expect(m.ds.epoch).toBe(8);
    m.answers.clear();
    await m.releaseHeld();
    expect(m.ds.epoch).toBe(9);
    const lastTwo = m.rejections.slice(-2).map((r) => [r.to, r.epoch, r.reason]);
    expect(lastTwo).toEqual([
      ['p1', 8, 'superseded'],
      ['p1', 8, 'stale-epoch'],
    ]);
    expect(m.clients.get(participantId('p1'))?.epoch).toBe(9);
    await fresh();

    // After the race the group still works: the next join goes through p0.
    m.now += 10;
    await m.join('p7');
    expect(m.ds.epoch).toBe(10);
    await fresh();
    expect(m.ds.groupMembers()).toHaveLength(7);
    // Exactly one accepted commit per epoch.
    expect(m.epochs.map((e) => e.epoch)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  }, 60_000);

  it('a member who rejoins with a new key package is removed and added in one commit', async () => {
    const m = new InProcessMeeting('meeting-2');
    for (const name of ['a', 'b', 'c']) await m.join(name);
    const old = m.clients.get(participantId('b'));
    await m.join('b');
    expect(m.ds.epoch).toBe(3);
    expect(m.ds.groupMembers()).toEqual(['a', 'c', 'b'] as ParticipantId[]);
    expect(m.clients.get(participantId('b'))).not.toBe(old);
    await agreed(m);
  }, 30_000);

  it('rotates every hour: a new epoch and key, same members', async () => {
    const m = new InProcessMeeting('meeting-4');
    for (const name of ['a', 'b', 'c']) await m.join(name);
    const before = await agreed(m);
    await m.advance(3_600_000 - 1);
    expect(m.ds.epoch).toBe(2);
    await m.advance(3_600_000);
    expect(m.ds.epoch).toBe(3);
    expect(m.epochs.at(-1)?.members).toEqual(['a', 'b', 'c']);
    expect(await agreed(m)).not.toBe(before);
  }, 30_000);

  it('grows to 20 members one join at a time', async () => {
    const m = new InProcessMeeting('meeting-3');
    for (let i = 0; i < 20; i++) await m.join(`q${i}`);
    expect(m.ds.groupMembers()).toHaveLength(20);
    expect(m.ds.epoch).toBe(19);
    await agreed(m);
  }, 60_000);
});
