// adapters/sframe is shared with the browser client: it must bundle for the browser platform,
// where Node built-ins do not exist (esbuild refuses to resolve them there).
import { describe, expect, it } from 'vitest';
import { browserBundle } from '../browser-bundle.testing.ts';

describe('adapters/sframe in the browser', () => {
  it('bundles for the browser platform with nothing left to import', async () => {
    const result = await browserBundle(new URL('./index.ts', import.meta.url).pathname);
    expect(result.errors).toEqual([]);
    const { inputs } = result;
    expect(inputs.some((path) => path.endsWith('adapters/sframe/context.ts'))).toBe(true);
    expect(
      inputs.filter((path) => path.includes('node_modules') || path.startsWith('node:')),
    ).toEqual([]);
    const { output } = result;
    expect(output).not.toMatch(/\bimport\b[^;]*\bfrom\s*["']/);
  });
});
