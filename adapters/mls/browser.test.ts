import { describe, expect, it } from 'vitest';
import { browserBundle } from '../browser-bundle.testing.ts';

describe('MLS client in the browser', () => {
  it('bundles for the browser with no Node built-in', async () => {
    const result = await browserBundle('adapters/mls/client.ts');
    expect(result.errors).toEqual([]);
    const { inputs } = result;
    expect(inputs.some((path) => path.includes('ts-mls'))).toBe(true);
    expect(inputs.filter((path) => path.startsWith('node:'))).toEqual([]);
  }, 30_000);
});
