/**
 * SFrame keyed by a real MLS group: members' `SFrameMlsContext`s take each epoch's exporter key
 * from their ts-mls state (through the controller's delivery machine), encrypt under their own
 * KIDs and read each other; after a member leaves, the others move to the new epoch and keep
 * reading each other, while the leaver, holding only the old epoch, cannot read a frame of the
 * new one.
 */
import { describe, expect, it } from 'vitest';
import { participantId } from '../../core/ids.ts';
import { unwrap } from '../../core/result.ts';
import { SFRAME_AES_128_GCM_SHA256_128 } from '../../core/protocol/sframe-crypto.ts';
import type { MlsClient } from '../mls/client.ts';
import { InProcessMeeting } from '../mls/testing.ts';
import { SFrameMlsContext } from './mls.ts';

const text = (s: string) => new TextEncoder().encode(s);
const read = (b: Uint8Array) => new TextDecoder().decode(b);

/** Gives the member's SFrame context its MLS client's current epoch. */
async function enterEpoch(sframe: SFrameMlsContext, mls: MlsClient): Promise<bigint> {
  const epoch = BigInt(mls.epoch ?? -1);
  unwrap(
    sframe.addEpoch({
      epoch,
      baseKey: unwrap(await mls.sframeBaseKey()),
      groupSize: mls.leafCount,
      ownIndex: mls.leafIndex ?? -1,
    }),
  );
  return epoch;
}

describe('SFrame under MLS epochs', () => {
  it('members read each other in every epoch; a leaver cannot read the epoch after it', async () => {
    const meeting = new InProcessMeeting('meeting-sframe', {
      commitTimeoutMs: 5_000,
      rotationIntervalMs: 3_600_000,
    });
    const names = ['ann', 'bob', 'cat'];
    for (const name of names) {
      meeting.now += 10;
      await meeting.join(name);
    }
    const contexts = new Map(
      names.map((name) => [
        name,
        unwrap(
          SFrameMlsContext.create({ cipherSuite: SFRAME_AES_128_GCM_SHA256_128, epochBits: 8 }),
        ),
      ]),
    );
    const client = (name: string) => meeting.clients.get(participantId(name)) as MlsClient;
    const epochs = await Promise.all(
      names.map((name) => enterEpoch(contexts.get(name) as SFrameMlsContext, client(name))),
    );
    expect(new Set(epochs).size).toBe(1);
    const first = epochs[0] as bigint;

    for (const from of names) {
      const frame = unwrap(
        await (contexts.get(from) as SFrameMlsContext).encrypt(first, text(from)),
      );
      for (const to of names.filter((n) => n !== from)) {
        const got = unwrap(await (contexts.get(to) as SFrameMlsContext).decrypt(frame));
        expect(read(got.plaintext)).toBe(from);
      }
    }

    // cat leaves: ann and bob move to the next epoch; cat keeps only the one it had.
    meeting.now += 10;
    await meeting.leave('cat');
    const next = await enterEpoch(contexts.get('ann') as SFrameMlsContext, client('ann'));
    expect(await enterEpoch(contexts.get('bob') as SFrameMlsContext, client('bob'))).toBe(next);
    expect(next).toBeGreaterThan(first);

    const secret = unwrap(
      await (contexts.get('ann') as SFrameMlsContext).encrypt(next, text('after')),
    );
    const bob = unwrap(await (contexts.get('bob') as SFrameMlsContext).decrypt(secret));
    expect(read(bob.plaintext)).toBe('after');
    const cat = await (contexts.get('cat') as SFrameMlsContext).decrypt(secret);
    expect(cat.ok).toBe(false);
    // Even read as if it were the new epoch, cat's last key (all its MLS state still holds)
    // does not authenticate the frame.
    const catMls = meeting.departed.get(participantId('cat')) as MlsClient;
    const forged = unwrap(
      SFrameMlsContext.create({ cipherSuite: SFRAME_AES_128_GCM_SHA256_128, epochBits: 8 }),
    );
    unwrap(
      forged.addEpoch({
        epoch: next,
        baseKey: unwrap(await catMls.sframeBaseKey()),
        groupSize: 3,
        ownIndex: 2,
      }),
    );
    expect((await forged.decrypt(secret)).ok).toBe(false);
  }, 60_000);
});
