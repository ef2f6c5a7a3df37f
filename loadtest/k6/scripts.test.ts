// What can be checked of the k6 scripts without k6 (CI type-checks them with @types/k6 in
// `npm run typecheck`): each bundles, as k6 does with TypeScript, and imports nothing but
// k6's own modules; the runner finds k6 on PATH or says how to get it.
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { findK6, K6_SCRIPTS, scriptFile } from './run.ts';

describe('k6 scripts', () => {
  it.each([...K6_SCRIPTS])('%s bundles and imports only k6 modules', async (name) => {
    const file = scriptFile(name) as string;
    const result = await build({
      entryPoints: [file],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'neutral',
      metafile: true,
      external: ['k6', 'k6/*'],
      logLevel: 'silent',
    });
    const imports = Object.values(result.metafile.inputs).flatMap((input) =>
      input.imports.filter((i) => i.external).map((i) => i.path),
    );
    expect(imports.length).toBeGreaterThan(0);
    for (const path of imports) expect(path).toMatch(/^k6(\/|$)/);
    const text = result.outputFiles[0]?.text ?? '';
    expect(text).toContain('handleSummary');
    expect(text).toContain('thresholds');
  });

  it('names only the scripts there are', () => {
    expect(scriptFile('mh-media')).toMatch(/mh-media\.ts$/);
    expect(scriptFile('loadtest/k6/http-ac-gc.ts')).toMatch(/http-ac-gc\.ts$/);
    expect(scriptFile('prepare')).toBeUndefined();
  });

  it('finds k6 on PATH, and nothing where there is none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'k6-path-'));
    try {
      expect(findK6(dir)).toBeUndefined();
      writeFileSync(join(dir, 'k6'), '#!/bin/sh\n');
      chmodSync(join(dir, 'k6'), 0o755);
      expect(findK6(`/nonexistent:${dir}`)).toBe(join(dir, 'k6'));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
