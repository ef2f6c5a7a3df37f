import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.ts';
import { commitEpoch, MlsClient } from './client.ts';

const groupId = new TextEncoder().encode('meeting-1/0');

/** Alice's group with Bob in it (epoch 1). */
async function aliceAndBob(): Promise<{ alice: MlsClient; bob: MlsClient }> {
  const alice = await MlsClient.create('alice');
  const bob = await MlsClient.create('bob');
  unwrap(await alice.createGroup(groupId));
  const add = unwrap(await alice.commit({ adds: [bob.keyPackage], removes: [] }));
  unwrap(await alice.processCommit(add.commit));
  unwrap(await bob.joinFromWelcome(add.welcome ?? new Uint8Array()));
  return { alice, bob };
}

describe('MLS client over ts-mls', () => {
  it('adds a member: both export the same SFrame base key, and it changes with the epoch', async () => {
    const alice = await MlsClient.create('alice');
    const bob = await MlsClient.create('bob');
    unwrap(await alice.createGroup(groupId));
    const keyAtZero = unwrap(await alice.sframeBaseKey());
    const made = unwrap(await alice.commit({ adds: [bob.keyPackage], removes: [] }));
    expect(made.epoch).toBe(0);
    expect(unwrap(commitEpoch(made.commit))).toBe(0);
    // Not applied until the commit comes back.
    expect(alice.epoch).toBe(0);
    expect(unwrap(await alice.processCommit(made.commit))).toEqual({ epoch: 1 });
    expect(unwrap(await bob.joinFromWelcome(made.welcome ?? new Uint8Array()))).toEqual({
      epoch: 1,
    });
    const a = unwrap(await alice.sframeBaseKey());
    expect(a).toHaveLength(16);
    expect(a).toEqual(unwrap(await bob.sframeBaseKey()));
    expect(a).not.toEqual(keyAtZero);
    expect(bob.members()).toEqual(['alice', 'bob']);
  });

  it('a rejected commit is dropped and the accepted one from another member applies', async () => {
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((n) => MlsClient.create(n)),
    );
    if (alice === undefined || bob === undefined || carol === undefined) throw new Error();
    unwrap(await alice.createGroup(groupId));
    const add = unwrap(
      await alice.commit({ adds: [bob.keyPackage, carol.keyPackage], removes: [] }),
    );
    unwrap(await alice.processCommit(add.commit));
    for (const c of [bob, carol]) unwrap(await c.joinFromWelcome(add.welcome ?? new Uint8Array()));
    // Bob and Carol both commit in epoch 1; the controller takes Carol's.
    const fromBob = unwrap(await bob.commit({ adds: [], removes: [] }));
    const fromCarol = unwrap(await carol.commit({ adds: [], removes: ['alice'] }));
    expect(bob.discardPendingCommit(fromBob.commit)).toBe(true);
    expect(bob.discardPendingCommit(fromBob.commit)).toBe(false);
    expect(unwrap(await bob.processCommit(fromCarol.commit))).toEqual({ epoch: 2 });
    expect(unwrap(await carol.processCommit(fromCarol.commit))).toEqual({ epoch: 2 });
    expect(unwrap(await bob.sframeBaseKey())).toEqual(unwrap(await carol.sframeBaseKey()));
    expect(carol.members()).toEqual(['bob', 'carol']);
    // Bob's own commit for epoch 1 is now for an epoch that is over.
    expect(await bob.processCommit(fromBob.commit)).toMatchObject({
      ok: false,
      error: { kind: 'wrong-epoch', epoch: 1, current: 2 },
    });
    // Alice, removed, cannot process the commit that removed her into the new epoch.
    expect(await alice.processCommit(fromCarol.commit)).toEqual({
      ok: false,
      error: { kind: 'removed' },
    });
    expect(alice.epoch).toBeUndefined();
  });

  it('asked twice in one epoch, keeps both commits: the first one accepted still applies as its own', async () => {
    const { alice, bob } = await aliceAndBob();
    // The controller cancels its first request and asks again before the first answer is in;
    // then the first answer wins (the committer cannot process its own commit as a receiver).
    const first = unwrap(await alice.commit({ adds: [], removes: [] }));
    const second = unwrap(await alice.commit({ adds: [], removes: [] }));
    expect(alice.pendingCommits).toBe(2);
    expect(unwrap(await alice.processCommit(first.commit))).toEqual({ epoch: 2 });
    expect(unwrap(await bob.processCommit(first.commit))).toEqual({ epoch: 2 });
    expect(unwrap(await alice.sframeBaseKey())).toEqual(unwrap(await bob.sframeBaseKey()));
    // The other commit is void with its epoch.
    expect(alice.pendingCommits).toBe(0);
    expect(alice.discardPendingCommit(second.commit)).toBe(false);
    // The same with the second one accepted after the first was rejected.
    const third = unwrap(await alice.commit({ adds: [], removes: [] }));
    const fourth = unwrap(await alice.commit({ adds: [], removes: [] }));
    expect(alice.discardPendingCommit(third.commit)).toBe(true);
    expect(unwrap(await alice.processCommit(fourth.commit))).toEqual({ epoch: 3 });
    expect(unwrap(await bob.processCommit(fourth.commit))).toEqual({ epoch: 3 });
    expect(unwrap(await alice.sframeBaseKey())).toEqual(unwrap(await bob.sframeBaseKey()));
  });

  it('forgets for good: an operation in flight when it forgets keeps nothing it computed', async () => {
    const { alice, bob } = await aliceAndBob();
    const rotation = unwrap(await alice.commit({ adds: [], removes: [] }));
    // Bob leaves while his client is applying the commit: the new epoch never becomes his.
    const applying = bob.processCommit(rotation.commit);
    bob.forget();
    expect(await applying).toEqual({ ok: false, error: { kind: 'no-group' } });
    expect(bob.epoch).toBeUndefined();
    expect(await bob.sframeBaseKey()).toEqual({ ok: false, error: { kind: 'no-group' } });
    // The same for a welcome and for a key export under way.
    const carol = await MlsClient.create('carol');
    const join = unwrap(await alice.commit({ adds: [carol.keyPackage], removes: [] }));
    const joining = carol.joinFromWelcome(join.welcome ?? new Uint8Array());
    carol.forget();
    expect(await joining).toEqual({ ok: false, error: { kind: 'no-group' } });
    expect(carol.epoch).toBeUndefined();
    const exporting = alice.sframeBaseKey();
    alice.forget();
    expect(await exporting).toEqual({ ok: false, error: { kind: 'no-group' } });
  });

  it('refuses a commit that is not what the controller announced, and stays where it was', async () => {
    const [alice, bob, carol, dave] = await Promise.all(
      ['alice', 'bob', 'carol', 'dave'].map((n) => MlsClient.create(n)),
    );
    if (!alice || !bob || !carol || !dave) throw new Error();
    unwrap(await alice.createGroup(groupId));
    const add = unwrap(
      await alice.commit({ adds: [bob.keyPackage, carol.keyPackage], removes: [] }),
    );
    unwrap(await alice.processCommit(add.commit));
    for (const c of [bob, carol]) unwrap(await c.joinFromWelcome(add.welcome ?? new Uint8Array()));
    const key = unwrap(await bob.sframeBaseKey());
    // Alice was asked to add Dave; she also removes Carol.
    const rogue = unwrap(await alice.commit({ adds: [dave.keyPackage], removes: ['carol'] }));
    const announced = { from: 'alice', adds: ['dave'], removes: [] };
    expect(await bob.processCommit(rogue.commit, announced)).toEqual({
      ok: false,
      error: { kind: 'unexpected-changes', detail: 'removes carol' },
    });
    expect(bob.epoch).toBe(1);
    expect(unwrap(await bob.sframeBaseKey())).toEqual(key);
    // Announced as Carol's commit, it is refused too.
    expect(
      await bob.processCommit(rogue.commit, { from: 'carol', adds: ['dave'], removes: ['carol'] }),
    ).toEqual({ ok: false, error: { kind: 'unexpected-changes', detail: 'committed by alice' } });
    // As announced, it applies.
    expect(
      unwrap(await bob.processCommit(rogue.commit, { ...announced, removes: ['carol'] })),
    ).toEqual({ epoch: 2 });
  });

  it('refuses malformed bytes and out-of-place calls with typed errors', async () => {
    const alice = await MlsClient.create('alice');
    const junk = Uint8Array.of(1, 2, 3);
    expect(await alice.processCommit(junk)).toEqual({ ok: false, error: { kind: 'no-group' } });
    expect(await alice.joinFromWelcome(junk)).toEqual({
      ok: false,
      error: { kind: 'malformed', expected: 'welcome' },
    });
    expect(commitEpoch(junk)).toEqual({
      ok: false,
      error: { kind: 'malformed', expected: 'commit' },
    });
    expect(commitEpoch(alice.keyPackage).ok).toBe(false);
    unwrap(await alice.createGroup(groupId));
    expect(await alice.createGroup(groupId)).toEqual({
      ok: false,
      error: { kind: 'already-in-group' },
    });
    expect(await alice.commit({ adds: [junk], removes: [] })).toEqual({
      ok: false,
      error: { kind: 'malformed', expected: 'key package' },
    });
    expect(await alice.commit({ adds: [], removes: ['nobody'] })).toEqual({
      ok: false,
      error: { kind: 'unknown-member', identity: 'nobody' },
    });
    expect(await alice.processCommit(junk)).toEqual({
      ok: false,
      error: { kind: 'malformed', expected: 'commit' },
    });
    expect(alice.epoch).toBe(0);
  });
});
