import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.ts';
import { parseSFrameHeader, serializeSFrameHeader } from '../../core/protocol/sframe.ts';
import {
  SFRAME_AES_128_CTR_HMAC_SHA256_80,
  SFRAME_AES_128_GCM_SHA256_128,
} from '../../core/protocol/sframe-crypto.ts';
import { SFrameMlsContext } from './mls.ts';

const text = (s: string) => new TextEncoder().encode(s);
/** Stands in for one epoch's MLS exporter output: the same bytes at every member. */
const exported = (epoch: number, length = 16) =>
  Uint8Array.from({ length }, (_, i) => (epoch * 31 + i) & 0xff);

function group(size: number, epochBits = 4, cipherSuite = SFRAME_AES_128_GCM_SHA256_128) {
  return Array.from({ length: size }, () =>
    unwrap(SFrameMlsContext.create({ cipherSuite, epochBits })),
  );
}

function enter(members: SFrameMlsContext[], epoch: number, groupSize = members.length) {
  members.forEach((member, ownIndex) =>
    unwrap(
      member.addEpoch({ epoch: BigInt(epoch), baseKey: exported(epoch), groupSize, ownIndex }),
    ),
  );
}

describe('SFrameMlsContext (RFC 9605 section 5.2)', () => {
  it('lets every member read every other member, each under its own KID', async () => {
    const members = group(3);
    enter(members, 7);
    const kids = members.map((m) => unwrap(m.sendKid(7n)));
    expect(kids).toEqual([0x07n, 0x17n, 0x27n]); // index << 4 | epoch 7
    for (const [from, sender] of members.entries()) {
      const frame = unwrap(await sender.encrypt(7n, text(`from ${from}`)));
      expect(unwrap(parseSFrameHeader(frame)).header.kid).toBe(kids[from]);
      for (const [to, receiver] of members.entries()) {
        const result = await receiver.decrypt(frame);
        if (to === from) {
          expect(result).toEqual({ ok: false, error: { kind: 'unknown-kid', kid: kids[from] } });
        } else {
          const decrypted = unwrap(result);
          expect(decrypted.senderIndex).toBe(from);
          expect(decrypted.epoch).toBe(7n);
          expect(new TextDecoder().decode(decrypted.plaintext)).toBe(`from ${from}`);
        }
      }
    }
  });

  it('lays KIDs out as figure 9 (E = 4, S = 6)', () => {
    const member = unwrap(SFrameMlsContext.create({ cipherSuite: 4, epochBits: 4 }));
    const epoch16 = { epoch: 16n, baseKey: exported(16), groupSize: 64, ownIndex: 2 };
    unwrap(member.addEpoch({ ...epoch16, contexts: [2n, 3n] }));
    expect(unwrap(member.sendKid(16n, 2n))).toBe(0x820n);
    expect(unwrap(member.sendKid(16n, 3n))).toBe(0xc20n);
    unwrap(member.addEpoch({ epoch: 14n, baseKey: exported(14), groupSize: 64, ownIndex: 20 }));
    expect(unwrap(member.sendKid(14n))).toBe(0x14en);
  });

  it('drops an epoch and its keys when a newer one takes its low bits', async () => {
    const members = group(2, 1, SFRAME_AES_128_CTR_HMAC_SHA256_80);
    const base = (epoch: number) => exported(epoch, 48);
    for (const epoch of [4, 5]) {
      members.forEach((m, ownIndex) =>
        unwrap(m.addEpoch({ epoch: BigInt(epoch), baseKey: base(epoch), groupSize: 2, ownIndex })),
      );
    }
    const old = unwrap(await members[0]!.encrypt(4n, text('epoch 4')));
    const kept = unwrap(await members[0]!.encrypt(5n, text('epoch 5')));
    unwrap(await members[1]!.decrypt(old));
    const added = members.map((m, ownIndex) =>
      unwrap(m.addEpoch({ epoch: 6n, baseKey: base(6), groupSize: 2, ownIndex })),
    );
    expect(added).toEqual([{ replaced: 4n }, { replaced: 4n }]);
    const replay = Uint8Array.from(old);
    expect(await members[1]!.decrypt(replay)).toMatchObject({ ok: false });
    expect(await members[0]!.encrypt(4n, text('x'))).toEqual({
      ok: false,
      error: { kind: 'unknown-epoch', epoch: 4n },
    });
    expect(unwrap(await members[1]!.decrypt(kept)).epoch).toBe(5n);
    const fresh = unwrap(await members[0]!.encrypt(6n, text('epoch 6')));
    // Same KID as the dropped epoch's (low bit 0, index 0), a new key: CTR starts over.
    expect(unwrap(parseSFrameHeader(fresh)).header).toEqual(unwrap(parseSFrameHeader(old)).header);
    expect(new TextDecoder().decode(unwrap(await members[1]!.decrypt(fresh)).plaintext)).toBe(
      'epoch 6',
    );
  });

  it('refuses an epoch older than the one holding its slot', () => {
    const [member] = group(1, 2);
    unwrap(member!.addEpoch({ epoch: 9n, baseKey: exported(9), groupSize: 1, ownIndex: 0 }));
    expect(
      member!.addEpoch({ epoch: 5n, baseKey: exported(5), groupSize: 1, ownIndex: 0 }),
    ).toEqual({ ok: false, error: { kind: 'stale-epoch', epoch: 5n, held: 9n } });
  });

  it('derives no key for KIDs outside the group or its contexts', async () => {
    const members = group(3);
    enter(members, 3);
    const receiver = members[1]!;
    for (const kid of [
      (3n << 4n) | 3n, // leaf index 3 in a group of 3 (S = 2)
      (1n << 6n) | (0n << 4n) | 3n, // context 1, not agreed
      (0n << 4n) | 9n, // an epoch nobody added
    ]) {
      const frame = new Uint8Array([...unwrap(serializeSFrameHeader({ kid, ctr: 0n })), 1, 2]);
      expect(await receiver.decrypt(frame)).toEqual({
        ok: false,
        error: { kind: 'unknown-kid', kid },
      });
    }
  });

  it('forgets a removed epoch and every key derived from it', async () => {
    const members = group(2);
    enter(members, 1);
    const frame = unwrap(await members[0]!.encrypt(1n, text('a')));
    unwrap(await members[1]!.decrypt(frame));
    for (const member of members) expect(member.removeEpoch(1n)).toBe(true);
    expect(members[1]!.removeEpoch(1n)).toBe(false);
    expect((await members[1]!.decrypt(frame)).ok).toBe(false);
    // The same epoch number again with another base key: only the new keys are used.
    members.forEach((m, ownIndex) =>
      unwrap(m.addEpoch({ epoch: 1n, baseKey: exported(99), groupSize: 2, ownIndex })),
    );
    const again = unwrap(await members[0]!.encrypt(1n, text('b')));
    expect(unwrap(parseSFrameHeader(again)).header.ctr).toBe(0n);
    expect(unwrap(await members[1]!.decrypt(again)).plaintext).toEqual(text('b'));
  });

  it.each([
    [{ groupSize: 0, ownIndex: 0 }, 'invalid-group'],
    [{ groupSize: 4, ownIndex: 4 }, 'invalid-group'],
    [{ groupSize: 4, ownIndex: 0, baseKey: new Uint8Array(15) }, 'wrong-base-key-length'],
    [{ groupSize: 4, ownIndex: 0, contexts: [1n << 60n] }, 'context-out-of-range'],
  ])('refuses an epoch with %o: %s', (input, kind) => {
    const [member] = group(1);
    const result = member!.addEpoch({ epoch: 1n, baseKey: exported(1), ...input });
    expect(result.ok ? undefined : result.error.kind).toBe(kind);
  });

  it('refuses an epoch width outside 0..32', () => {
    expect(SFrameMlsContext.create({ cipherSuite: 4, epochBits: 33 }).ok).toBe(false);
  });
});
