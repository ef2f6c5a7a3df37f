import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('client library in the browser', () => {
  it('bundles for the browser with no Node built-in (the web page joins through it)', async () => {
    const result = await build({
      entryPoints: ['client/meeting/index.ts'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((path) => path.includes('client/e2ee/member.ts'))).toBe(true);
    expect(inputs.filter((path) => path.startsWith('node:'))).toEqual([]);
  }, 30_000);
});
