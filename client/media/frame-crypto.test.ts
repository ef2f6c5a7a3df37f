import { describe, expect, it } from 'vitest';
import { FrameCrypto, frameKid, frameMetadata } from './frame-crypto.ts';
import { DevelopmentKeySource, developmentBaseKey, type KeyEpoch, type KeySource } from './keys.ts';

const MEETING = 'm-crypto';
const ALICE = 0x1234_5678_9abc_def0n;
const BOB = 0x0fed_cba9_8765_4321n;
const STREAM = 77n;
const frame = (n: number) => Uint8Array.from({ length: 200 }, (_, i) => (i + n) & 0xff);

function pair(aliceClock = () => 1_000, epoch = 3) {
  const aliceKeys = new DevelopmentKeySource(MEETING);
  const bobKeys = new DevelopmentKeySource(MEETING);
  aliceKeys.announce(epoch);
  bobKeys.announce(epoch);
  return {
    aliceKeys,
    bobKeys,
    alice: new FrameCrypto(aliceKeys, ALICE, aliceClock),
    bob: new FrameCrypto(bobKeys, BOB),
  };
}

describe('FrameCrypto', () => {
  it('round-trips frames between two members, the KID naming epoch and sender', async () => {
    const { alice, bob } = pair();
    for (let n = 0; n < 5; n++) {
      const sealed = await alice.encrypt(frame(n), STREAM);
      if (!sealed.ok) throw new Error(sealed.error.kind);
      const opened = await bob.decrypt(sealed.value, STREAM, ALICE);
      expect(opened).toEqual({ ok: true, value: { plaintext: frame(n), epoch: 3 } });
    }
    expect(frameKid(3, ALICE)).toBe((3n << 32n) | 0x9abc_def0n);
  });

  it('refuses a frame passed off as another publisher’s or another stream’s, and a replay', async () => {
    const { alice, bob } = pair();
    const sealed = await alice.encrypt(frame(1), STREAM);
    if (!sealed.ok) throw new Error(sealed.error.kind);
    expect(await bob.decrypt(sealed.value, STREAM, BOB)).toMatchObject({
      ok: false,
      error: { kind: 'sender-mismatch' },
    });
    // Same low 32 bits, other high bits: the KID matches but the metadata does not.
    expect(await bob.decrypt(sealed.value, STREAM, ALICE ^ (1n << 40n))).toMatchObject({
      ok: false,
      error: { kind: 'decrypt-failed', reason: 'authentication-failed' },
    });
    expect(await bob.decrypt(sealed.value, STREAM + 1n, ALICE)).toMatchObject({
      ok: false,
      error: { kind: 'decrypt-failed', reason: 'authentication-failed' },
    });
    expect((await bob.decrypt(sealed.value, STREAM, ALICE)).ok).toBe(true);
    expect(await bob.decrypt(sealed.value, STREAM, ALICE)).toMatchObject({
      ok: false,
      error: { kind: 'decrypt-failed', reason: 'replayed' },
    });
    const tampered = Uint8Array.from(sealed.value);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
    expect((await bob.decrypt(tampered, STREAM, ALICE)).ok).toBe(false);
  });

  it('follows the epoch the key source announces, and another meeting’s keys do not open it', async () => {
    const { alice, aliceKeys, bob } = pair();
    aliceKeys.announce(4);
    const sealed = await alice.encrypt(frame(2), STREAM);
    if (!sealed.ok) throw new Error(sealed.error.kind);
    expect(await bob.decrypt(sealed.value, STREAM, ALICE)).toMatchObject({
      ok: true,
      value: { epoch: 4 },
    });
    const stranger = new DevelopmentKeySource('another-meeting');
    stranger.announce(4);
    expect(await new FrameCrypto(stranger, BOB).decrypt(sealed.value, STREAM, ALICE)).toMatchObject(
      { ok: false, error: { kind: 'decrypt-failed', reason: 'authentication-failed' } },
    );
  });

  it('a sender that starts again (a reload) is accepted: its counter starts above the old one', async () => {
    let now = 1_000;
    const { alice, aliceKeys, bob } = pair(() => now);
    for (let n = 0; n < 3; n++) {
      const sealed = await alice.encrypt(frame(n), STREAM);
      if (!sealed.ok) throw new Error(sealed.error.kind);
      expect((await bob.decrypt(sealed.value, STREAM, ALICE)).ok).toBe(true);
    }
    now = 1_001;
    const reloaded = new FrameCrypto(aliceKeys, ALICE, () => now);
    const sealed = await reloaded.encrypt(frame(9), STREAM);
    if (!sealed.ok) throw new Error(sealed.error.kind);
    expect((await bob.decrypt(sealed.value, STREAM, ALICE)).ok).toBe(true);
  });

  it('has nothing to send before an epoch, and does not open an epoch the source does not hold', async () => {
    const none: KeySource = {
      description: 'none',
      endToEnd: false,
      onChange: null,
      current: (): KeyEpoch | undefined => undefined,
      key: () => undefined,
    };
    expect(await new FrameCrypto(none, ALICE).encrypt(frame(0), STREAM)).toEqual({
      ok: false,
      error: { kind: 'no-key' },
    });
    const { alice } = pair();
    const sealed = await alice.encrypt(frame(0), STREAM);
    if (!sealed.ok) throw new Error(sealed.error.kind);
    expect(await new FrameCrypto(none, BOB).decrypt(sealed.value, STREAM, ALICE)).toEqual({
      ok: false,
      error: { kind: 'unknown-epoch', epoch: 3 },
    });
  });

  it('forgets receiving keys more than two epochs old', async () => {
    const { alice, aliceKeys, bob } = pair(() => 1_000, 1);
    const old = await alice.encrypt(frame(0), STREAM);
    if (!old.ok) throw new Error(old.error.kind);
    aliceKeys.announce(5);
    const fresh = await alice.encrypt(frame(1), STREAM);
    if (!fresh.ok) throw new Error(fresh.error.kind);
    expect((await bob.decrypt(fresh.value, STREAM, ALICE)).ok).toBe(true);
    expect(await bob.decrypt(old.value, STREAM, ALICE)).toEqual({
      ok: false,
      error: { kind: 'stale-epoch', epoch: 1 },
    });
  });
});

describe('DevelopmentKeySource', () => {
  it('says it is not end-to-end, and derives one 16-byte key per meeting and epoch', () => {
    const keys = new DevelopmentKeySource(MEETING);
    expect(keys.endToEnd).toBe(false);
    expect(keys.description).toContain('not end-to-end');
    expect(keys.current()).toBeUndefined();
    const seen: number[] = [];
    keys.onChange = (epoch) => seen.push(epoch.epoch);
    keys.announce(2);
    keys.announce(2);
    keys.announce(3);
    expect(seen).toEqual([2, 3]);
    expect(keys.current()?.baseKey).toEqual(developmentBaseKey(MEETING, 3));
    expect(developmentBaseKey(MEETING, 3)).toHaveLength(16);
    expect(developmentBaseKey(MEETING, 3)).not.toEqual(developmentBaseKey(MEETING, 4));
    expect(developmentBaseKey(MEETING, 3)).not.toEqual(developmentBaseKey('other', 3));
    expect(keys.key(-1)).toBeUndefined();
    expect(keys.key(2 ** 32)).toBeUndefined();
    expect(frameMetadata(1n, 2n)).toHaveLength(16);
  });
});
