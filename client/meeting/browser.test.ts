import { describe, expect, it } from 'vitest';
import { browserBundle } from '../../adapters/browser-bundle.testing.ts';

describe('client library in the browser', () => {
  it('bundles for the browser with no Node built-in (the web page joins through it)', async () => {
    const result = await browserBundle('client/meeting/index.ts');
    expect(result.errors).toEqual([]);
    const { inputs } = result;
    expect(inputs.some((path) => path.includes('client/e2ee/member.ts'))).toBe(true);
    expect(inputs.filter((path) => path.startsWith('node:'))).toEqual([]);
  }, 30_000);
});
