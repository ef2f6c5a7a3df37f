import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('MLS client in the browser', () => {
  it('bundles for the browser with no Node built-in', async () => {
    const result = await build({
      entryPoints: ['adapters/mls/client.ts'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((path) => path.includes('ts-mls'))).toBe(true);
    expect(inputs.filter((path) => path.startsWith('node:'))).toEqual([]);
  }, 30_000);
});
