/**
 * The generated protobuf code is what `proto/` gives: `buf lint` passes and `buf generate`
 * (buf.gen.yaml, ts-proto) into a scratch directory reproduces `services/generated/` file for
 * file, so an edited .proto whose code was not regenerated (or hand-edited generated code)
 * fails the test run. Regenerate with `npm run proto:gen`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BUF = join('node_modules', '.bin', 'buf');
const GENERATED = join('services', 'generated');
const scratch = mkdtempSync(join(tmpdir(), 'dt-proto-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function files(root: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else found.set(relative(root, path), readFileSync(path, 'utf8'));
    }
  };
  walk(root);
  return found;
}

describe('protobuf sources and generated code', () => {
  it('pass buf lint', () => {
    expect(() => execFileSync(BUF, ['lint'], { stdio: 'pipe' })).not.toThrow();
  });

  it('regenerate to exactly the committed services/generated', () => {
    execFileSync(BUF, ['generate', '-o', scratch], { stdio: 'pipe' });
    const fresh = files(join(scratch, GENERATED));
    const committed = files(GENERATED);
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    for (const [path, text] of fresh) {
      expect(committed.get(path), `${path} differs from what buf generate gives`).toBe(text);
    }
  }, 60_000);
});
