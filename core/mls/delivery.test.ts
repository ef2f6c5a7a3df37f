import { describe, expect, it } from 'vitest';
import { participantId, type ParticipantId } from '../ids.ts';
import { DEFAULT_MLS_DELIVERY_CONFIG, MlsDelivery, type MlsDeliveryOutput } from './delivery.ts';

const alice = participantId('alice');
const bob = participantId('bob');
const carol = participantId('carol');
const dave = participantId('dave');
const TIMEOUT = DEFAULT_MLS_DELIVERY_CONFIG.commitTimeoutMs;
const HOUR = DEFAULT_MLS_DELIVERY_CONFIG.rotationIntervalMs;

const kp = (p: ParticipantId) => new TextEncoder().encode(`kp:${p}`);
const bytes = (s: string) => new TextEncoder().encode(s);

function drain(ds: MlsDelivery): MlsDeliveryOutput[] {
  const out: MlsDeliveryOutput[] = [];
  for (let o = ds.pollOutput(); o !== null; o = ds.pollOutput()) out.push(o);
  return out;
}

function only<T extends MlsDeliveryOutput['type']>(
  outputs: readonly MlsDeliveryOutput[],
  type: T,
): Extract<MlsDeliveryOutput, { type: T }>[] {
  return outputs.filter((o): o is Extract<MlsDeliveryOutput, { type: T }> => o.type === type);
}

/** Answers the single open request in `outputs` with a commit (and a welcome when it adds). */
function answer(ds: MlsDelivery, outputs: readonly MlsDeliveryOutput[], now: number) {
  const [request] = only(outputs, 'request-commit');
  if (request === undefined) throw new Error('no request');
  ds.handle(
    {
      type: 'commit',
      from: request.to,
      request: request.request,
      epoch: request.epoch,
      commit: bytes(`commit:${request.request}`),
      welcome: request.adds.length > 0 ? bytes(`welcome:${request.request}`) : undefined,
    },
    now,
  );
  return { request, outputs: drain(ds) };
}

describe('MLS delivery service', () => {
  it('the first member creates the group; the next joiner is added by a commit from it', () => {
    const ds = new MlsDelivery();
    ds.handle({ type: 'join', participant: alice, keyPackage: kp(alice) }, 0);
    expect(drain(ds)).toEqual([
      { type: 'create-group', to: alice, group: 0 },
      { type: 'epoch-started', group: 0, epoch: 0, members: [alice], reasons: ['create'] },
    ]);
    ds.handle({ type: 'join', participant: bob, keyPackage: kp(bob) }, 10);
    const asked = drain(ds);
    expect(asked).toEqual([
      {
        type: 'request-commit',
        to: alice,
        request: 1,
        epoch: 0,
        adds: [{ participant: bob, keyPackage: kp(bob) }],
        removes: [],
      },
    ]);
    const { outputs } = answer(ds, asked, 20);
    expect(outputs).toEqual([
      {
        type: 'broadcast-commit',
        to: [alice],
        from: alice,
        epoch: 1,
        commit: bytes('commit:1'),
        adds: [bob],
        removes: [],
      },
      { type: 'deliver-welcome', to: bob, epoch: 1, welcome: bytes('welcome:1') },
      { type: 'epoch-started', group: 0, epoch: 1, members: [alice, bob], reasons: ['join'] },
    ]);
    expect(ds.epoch).toBe(1);
    expect(ds.groupMembers()).toEqual([alice, bob]);
  });

  it('batches joins that arrive while a commit is pending into the next request', () => {
    const ds = new MlsDelivery();
    ds.handle({ type: 'join', participant: alice, keyPackage: kp(alice) }, 0);
    drain(ds);
    ds.handle({ type: 'join', participant: bob, keyPackage: kp(bob) }, 1);
    const first = drain(ds);
    ds.handle({ type: 'join', participant: carol, keyPackage: kp(carol) }, 2);
    ds.handle({ type: 'join', participant: dave, keyPackage: kp(dave) }, 3);
    expect(drain(ds)).toEqual([]);
    const { outputs } = answer(ds, first, 4);
    const [next] = only(outputs, 'request-commit');
    expect(next).toMatchObject({ to: alice, epoch: 1, removes: [] });
    expect(next?.adds.map((a) => a.participant)).toEqual([carol, dave]);
  });

  it('a leave is removed by the earliest remaining member; the leaver hears nothing', () => {
    const ds = grown([alice, bob, carol]);
    ds.handle({ type: 'leave', participant: alice }, 100);
    const asked = drain(ds);
    expect(only(asked, 'request-commit')).toMatchObject([
      { to: bob, epoch: 2, adds: [], removes: [alice] },
    ]);
    const { outputs } = answer(ds, asked, 110);
    expect(outputs).toEqual([
      {
        type: 'broadcast-commit',
        to: [bob, carol],
        from: bob,
        epoch: 3,
        commit: expect.any(Uint8Array),
        adds: [],
        removes: [alice],
      },
      { type: 'epoch-started', group: 0, epoch: 3, members: [bob, carol], reasons: ['leave'] },
    ]);
  });

  it('a leave cancels a pending request that would keep the leaver; its late commit is refused', () => {
    const ds = grown([alice, bob, carol]);
    ds.handle({ type: 'rotate' }, 100);
    const [old] = only(drain(ds), 'request-commit');
    expect(old).toMatchObject({ to: alice, removes: [] });
    ds.handle({ type: 'leave', participant: carol }, 101);
    const [fresh] = only(drain(ds), 'request-commit');
    expect(fresh).toMatchObject({ to: alice, removes: [carol], epoch: old?.epoch });
    ds.handle(
      {
        type: 'commit',
        from: alice,
        request: old?.request ?? 0,
        epoch: old?.epoch ?? 0,
        commit: bytes('old'),
        welcome: undefined,
      },
      102,
    );
    expect(drain(ds)).toEqual([
      {
        type: 'commit-rejected',
        to: alice,
        request: old?.request,
        epoch: old?.epoch,
        reason: 'superseded',
      },
    ]);
    expect(ds.epoch).toBe(2);
  });

  it('a silent committer is replaced after the deadline; its late commit then loses', () => {
    const ds = grown([alice, bob]);
    ds.handle({ type: 'rotate' }, 1000);
    const [toAlice] = only(drain(ds), 'request-commit');
    expect(toAlice?.to).toBe(alice);
    expect(ds.pollTimeout()).toBe(1000 + TIMEOUT);
    ds.handleTimeout(1000 + TIMEOUT - 1);
    expect(drain(ds)).toEqual([]);
    ds.handleTimeout(1000 + TIMEOUT);
    const asked = drain(ds);
    expect(only(asked, 'request-commit')).toMatchObject([{ to: bob, epoch: 1 }]);
    const { outputs } = answer(ds, asked, 1000 + TIMEOUT + 5);
    expect(outputs).toContainEqual({
      type: 'commit-rejected',
      to: alice,
      request: toAlice?.request,
      epoch: 1,
      reason: 'superseded',
    });
    expect(only(outputs, 'epoch-started')).toMatchObject([{ epoch: 2, reasons: ['manual'] }]);
    // Alice's commit arriving now is for an epoch that is over.
    ds.handle(
      {
        type: 'commit',
        from: alice,
        request: toAlice?.request ?? 0,
        epoch: 1,
        commit: bytes('late'),
        welcome: undefined,
      },
      1000 + TIMEOUT + 6,
    );
    expect(drain(ds)).toMatchObject([{ type: 'commit-rejected', reason: 'stale-epoch' }]);
  });

  it('the late answer of a replaced committer wins if it comes first', () => {
    const ds = grown([alice, bob]);
    ds.handle({ type: 'rotate' }, 0);
    const first = drain(ds);
    ds.handleTimeout(TIMEOUT);
    const [toBob] = only(drain(ds), 'request-commit');
    const { outputs } = answer(ds, first, TIMEOUT + 1);
    expect(only(outputs, 'broadcast-commit')).toMatchObject([{ from: alice, epoch: 2 }]);
    expect(only(outputs, 'commit-rejected')).toEqual([
      { type: 'commit-rejected', to: bob, request: toBob?.request, epoch: 1, reason: 'superseded' },
    ]);
  });

  it('rotates every hour from the start of the current epoch', () => {
    const ds = grown([alice, bob]);
    expect(ds.pollTimeout()).toBe(HOUR);
    ds.handleTimeout(HOUR - 1);
    expect(drain(ds)).toEqual([]);
    ds.handleTimeout(HOUR);
    const { outputs } = answer(ds, drain(ds), HOUR + 3);
    expect(only(outputs, 'epoch-started')).toMatchObject([{ epoch: 2, reasons: ['hourly'] }]);
    expect(ds.pollTimeout()).toBe(2 * HOUR + 3);
  });

  it('refuses bad input with a typed error and changes nothing', () => {
    const ds = grown([alice, bob]);
    expect(
      ds.handle({ type: 'join', participant: carol, keyPackage: new Uint8Array() }, 5),
    ).toEqual({ kind: 'empty-key-package', participant: carol });
    expect(
      ds.handle(
        {
          type: 'commit',
          from: alice,
          request: 1,
          epoch: 1,
          commit: new Uint8Array(),
          welcome: undefined,
        },
        6,
      ),
    ).toEqual({ kind: 'empty-commit', from: alice });
    expect(drain(ds)).toEqual([]);
    expect(ds.groupMembers()).toEqual([alice, bob]);
  });

  it('rejects commits nobody asked for, from outsiders, for future epochs and without a welcome', () => {
    const ds = grown([alice, bob]);
    const commit = (from: ParticipantId, request: number, epoch: number) =>
      ds.handle(
        { type: 'commit', from, request, epoch, commit: bytes('x'), welcome: undefined },
        7,
      );
    commit(bob, 99, 1);
    commit(carol, 1, 1);
    commit(alice, 1, 5);
    expect(drain(ds).map((o) => (o.type === 'commit-rejected' ? o.reason : o.type))).toEqual([
      'not-requested',
      'not-a-member',
      'future-epoch',
    ]);
    ds.handle({ type: 'join', participant: carol, keyPackage: kp(carol) }, 8);
    const [request] = only(drain(ds), 'request-commit');
    commit(alice, request?.request ?? 0, 1);
    expect(drain(ds)).toMatchObject([{ type: 'commit-rejected', reason: 'missing-welcome' }]);
    expect(ds.epoch).toBe(1);
  });

  it('a member joining again is removed and added in one commit', () => {
    const ds = grown([alice, bob]);
    const fresh = bytes('kp:bob:2');
    ds.handle({ type: 'join', participant: bob, keyPackage: fresh }, 50);
    const asked = drain(ds);
    expect(only(asked, 'request-commit')).toMatchObject([
      { to: alice, adds: [{ participant: bob, keyPackage: fresh }], removes: [bob] },
    ]);
    const { outputs } = answer(ds, asked, 51);
    expect(only(outputs, 'broadcast-commit')).toMatchObject([{ to: [alice] }]);
    expect(only(outputs, 'deliver-welcome')).toMatchObject([{ to: bob, epoch: 2 }]);
  });

  it('when every member has left, the next joiner creates a new group', () => {
    const ds = grown([alice, bob]);
    ds.handle({ type: 'leave', participant: alice }, 1);
    drain(ds);
    ds.handle({ type: 'leave', participant: bob }, 2);
    expect(drain(ds)).toEqual([]);
    expect(ds.epoch).toBeUndefined();
    expect(ds.pollTimeout()).toBeNull();
    ds.handle({ type: 'join', participant: carol, keyPackage: kp(carol) }, 3);
    expect(drain(ds)).toEqual([
      { type: 'create-group', to: carol, group: 1 },
      { type: 'epoch-started', group: 1, epoch: 0, members: [carol], reasons: ['create'] },
    ]);
  });

  it('prefers a committer that acknowledged the current epoch', () => {
    const ds = grown([alice, bob, carol]);
    ds.handle({ type: 'processed', participant: carol, epoch: 2 }, 9);
    ds.handle({ type: 'rotate' }, 10);
    expect(only(drain(ds), 'request-commit')).toMatchObject([{ to: carol }]);
  });
});

/** A group grown by `members` joining one by one, each commit answered at once (time 0). */
function grown(members: readonly ParticipantId[]): MlsDelivery {
  const ds = new MlsDelivery();
  for (const p of members) {
    ds.handle({ type: 'join', participant: p, keyPackage: kp(p) }, 0);
    const outputs = drain(ds);
    if (only(outputs, 'request-commit').length > 0) answer(ds, outputs, 0);
  }
  expect(ds.groupMembers()).toEqual(members);
  return ds;
}
