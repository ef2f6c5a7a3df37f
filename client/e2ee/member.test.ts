// The member's frame protection beyond the MLS group itself: metadata bound to each frame, the
// sender read from the KID and checked against the epoch's tree, and what a member keeps and
// erases. Two real members; the controller's messages are written out in the order it sends
// them (create the group, ask alice to add bob, broadcast her commit, welcome bob).
import { describe, expect, it } from 'vitest';
import {
  MlsRejectReason,
  type ClientMessage,
} from '../../services/generated/darktower/mc/v1/signaling.ts';
import { E2eeMember } from './member.ts';

const MEETING = 'm-e2ee';
const text = (s: string) => new TextEncoder().encode(s);
const meta = (s: string) => new TextEncoder().encode(`meta:${s}`);

async function pair(): Promise<{ alice: E2eeMember; bob: E2eeMember }> {
  const alice = await E2eeMember.create(MEETING, 'alice');
  const bob = await E2eeMember.create(MEETING, 'bob');
  expect(await alice.handle({ mlsCreateGroup: { group: 1 } })).toEqual([
    { mlsProcessed: { epoch: 0 } },
  ]);
  const [answer] = (await alice.handle({
    mlsCommitRequest: {
      request: 1,
      epoch: 0,
      adds: [{ participant: 'bob', keyPackage: bob.keyPackage }],
      removes: [],
    },
  })) as [ClientMessage];
  const commit = answer.mlsCommit;
  if (commit === undefined) throw new Error('no commit');
  await alice.handle({
    mlsCommit: { from: 'alice', epoch: 1, commit: commit.commit, adds: ['bob'], removes: [] },
  });
  await bob.handle({ mlsWelcome: { epoch: 1, welcome: commit.welcome } });
  expect([alice.epoch, bob.epoch]).toEqual([1, 1]);
  return { alice, bob };
}

describe('E2eeMember', () => {
  it('authenticates metadata with each frame and names its sender from the epoch’s tree', async () => {
    const { alice, bob } = await pair();
    const sealed = await alice.encrypt(text('frame 1'), meta('camera of alice'));
    if (!sealed.ok) throw new Error(sealed.error.kind);

    const opened = await bob.decrypt(sealed.value, meta('camera of alice'));
    if (!opened.ok) throw new Error(opened.error.kind);
    expect(new TextDecoder().decode(opened.value.plaintext)).toBe('frame 1');
    expect(bob.senderOf(opened.value.epoch, opened.value.senderIndex)).toBe('alice');
    expect(alice.senderOf(1n, opened.value.senderIndex)).toBe('alice');
    expect(bob.senderOf(1n, 1 - opened.value.senderIndex)).toBe('bob');
    expect(bob.senderOf(0n, opened.value.senderIndex)).toBeUndefined();

    // The same frame relabelled (other metadata) or without its metadata does not open.
    const other = await alice.encrypt(text('frame 2'), meta('camera of alice'));
    if (!other.ok) throw new Error(other.error.kind);
    expect(await bob.decrypt(other.value, meta('camera of carol'))).toMatchObject({ ok: false });
    expect(await bob.decrypt(other.value)).toMatchObject({ ok: false });
    expect(bob.failureCount).toBe(2);
  });

  it('opens a frame only as from the member its tree names (a relabelled sender is refused)', async () => {
    const { alice, bob } = await pair();
    // A fresh frame for each try: a frame opened (or refused) once is a replay after.
    const fresh = async () => {
      const sealed = await alice.encrypt(text('hello'), meta('camera of alice'));
      if (!sealed.ok) throw new Error(sealed.error.kind);
      return sealed.value;
    };
    // The datagram header names bob (or nobody known) for alice's frame: nothing opens.
    expect(await bob.openFrom('bob', await fresh(), meta('camera of alice'))).toBeUndefined();
    expect(await bob.openFrom('mallory', await fresh(), meta('camera of alice'))).toBeUndefined();
    expect(await bob.openFrom('alice', await fresh(), meta('camera of bob'))).toBeUndefined();
    const opened = await bob.openFrom('alice', await fresh(), meta('camera of alice'));
    expect(opened && new TextDecoder().decode(opened.plaintext)).toBe('hello');
    expect(opened?.epoch).toBe(1n);
  });

  it('asked to commit twice before its first answer is decided, applies whichever commit the controller accepts', async () => {
    for (const accepted of [0, 1]) {
      const { alice, bob } = await pair();
      const ask = (request: number) =>
        alice.handle({ mlsCommitRequest: { request, epoch: 1, adds: [], removes: [] } });
      const commits = [];
      for (const request of [7, 8]) {
        const [answer] = (await ask(request)) as [ClientMessage];
        commits.push(answer.mlsCommit?.commit as Buffer);
      }
      // The other one is rejected, then the accepted one comes back to everyone.
      await alice.handle({
        mlsCommitRejected: {
          request: accepted === 0 ? 8 : 7,
          epoch: 1,
          reason: MlsRejectReason.MLS_REJECT_REASON_SUPERSEDED,
        },
      });
      const commit = commits[accepted] as Buffer;
      const broadcast = { from: 'alice', epoch: 2, commit, adds: [], removes: [] };
      expect(await alice.handle({ mlsCommit: broadcast })).toEqual([
        { mlsProcessed: { epoch: 2 } },
      ]);
      expect(await bob.handle({ mlsCommit: broadcast })).toEqual([{ mlsProcessed: { epoch: 2 } }]);
      const sealed = await alice.encrypt(text('after'), meta('m'));
      if (!sealed.ok) throw new Error(sealed.error.kind);
      expect((await bob.openFrom('alice', sealed.value, meta('m')))?.epoch).toBe(2n);
    }
  });

  it('forgets every key and every epoch’s tree on leaving', async () => {
    const { alice, bob } = await pair();
    const sealed = await alice.encrypt(text('frame'), meta('m'));
    if (!sealed.ok) throw new Error(sealed.error.kind);
    bob.forget();
    expect(bob.heldEpochs()).toEqual([]);
    expect(bob.senderOf(1n, 0)).toBeUndefined();
    expect(await bob.decrypt(sealed.value, meta('m'))).toMatchObject({
      ok: false,
      error: { kind: 'unknown-kid' },
    });
  });
});
