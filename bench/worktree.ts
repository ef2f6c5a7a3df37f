/**
 * Another revision of this checkout in a temporary git worktree, for benchmarks that compare
 * it with the current tree in one sitting: its node_modules is a link to this checkout's (the
 * revisions share their dependencies), and the worktree is removed afterwards.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const checkout = path.resolve(new URL('..', import.meta.url).pathname);

export function git(args: readonly string[], cwd = checkout): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

/** The commit `rev` names (throws when it names none). */
export function commitOf(rev: string): string {
  return git(['rev-parse', '--verify', `${rev}^{commit}`]);
}

/** Whether the current tree differs from its HEAD in tracked files. */
export function uncommittedChanges(): boolean {
  return git(['status', '--porcelain', '--untracked-files=no']) !== '';
}

/** Runs `use` with `commit` checked out in a temporary worktree, then removes the worktree. */
export function withWorktree<T>(prefix: string, commit: string, use: (tree: string) => T): T {
  const tree = mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    git(['worktree', 'add', '--detach', tree, commit]);
    symlinkSync(path.join(checkout, 'node_modules'), path.join(tree, 'node_modules'), 'dir');
    return use(tree);
  } finally {
    try {
      git(['worktree', 'remove', '--force', tree]);
    } catch {
      rmSync(tree, { recursive: true, force: true });
      git(['worktree', 'prune']);
    }
  }
}
