// For tests of code the browser client shares: bundles an entry point for the browser platform,
// where Node built-ins do not exist (esbuild refuses to resolve them there).
import { build } from 'esbuild';

/** The bundle's errors, the paths of every input it took in, and its output text. */
export async function browserBundle(entryPoint: string): Promise<{
  readonly errors: readonly unknown[];
  readonly inputs: readonly string[];
  readonly output: string;
}> {
  const result = await build({
    entryPoints: [entryPoint],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
    metafile: true,
  });
  return {
    errors: result.errors,
    inputs: Object.keys(result.metafile.inputs),
    output: result.outputFiles[0]?.text ?? '',
  };
}
