import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.ts';
import { commitEpoch, MlsClient } from './client.ts';

const groupId = new TextEncoder().encode('meeting-1/0');

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
    bob.discardPendingCommit();
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
