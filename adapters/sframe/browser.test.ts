// adapters/sframe is shared with the browser client: it must bundle for the browser platform,
// where Node built-ins do not exist (esbuild refuses to resolve them there).
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('adapters/sframe in the browser', () => {
  it('bundles for the browser platform with nothing left to import', async () => {
    const result = await build({
      entryPoints: [new URL('./index.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((path) => path.endsWith('adapters/sframe/context.ts'))).toBe(true);
    expect(
      inputs.filter((path) => path.includes('node_modules') || path.startsWith('node:')),
    ).toEqual([]);
    const output = result.outputFiles[0]?.text ?? '';
    expect(output).not.toMatch(/\bimport\b[^;]*\bfrom\s*["']/);
  });
});
