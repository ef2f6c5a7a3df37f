import { describe, expect, it } from 'vitest';
import { MlsClient } from '../../../adapters/mls/client.ts';
import { warmUpMls } from './mls-warm-up.ts';

describe('MLS warm-up', () => {
  it('runs every MLS operation of a join on a throwaway group to the end', async () => {
    await expect(warmUpMls()).resolves.toBe(true);
  });

  it('erases every client it made (nothing of the throwaway group stays usable)', async () => {
    const made: MlsClient[] = [];
    const create = MlsClient.create.bind(MlsClient);
    MlsClient.create = async (identity) => {
      const client = await create(identity);
      made.push(client);
      return client;
    };
    try {
      await warmUpMls();
    } finally {
      MlsClient.create = create;
    }
    expect(made).toHaveLength(3);
    for (const client of made) {
      expect(client.epoch).toBeUndefined();
      expect(await client.createGroup(new Uint8Array([1]))).toEqual({
        ok: false,
        error: { kind: 'no-group' },
      });
    }
  });
});
