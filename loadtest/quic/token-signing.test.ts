import { describe, expect, it } from 'vitest';
import { measureMoveTokens } from './token-signing.ts';

describe("the controller's move tokens", () => {
  it('times each counted batch, per token, after one batch to warm up', async () => {
    const perToken = await measureMoveTokens(4, 3);
    expect(perToken).toHaveLength(3);
    for (const ms of perToken) {
      expect(ms).toBeGreaterThan(0);
      // An Ed25519 signature takes well under 50 ms here, even on a busy machine.
      expect(ms).toBeLessThan(50);
    }
  });
});
