/** Temporary config folders for the configuration tests. */
import { chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { testUser, userTempDir } from '../helpers/user.js';

/** Files to create, by path relative to the folder; a path ending in / is a directory. */
export type Tree = Readonly<Record<string, string>>;

/** A fresh folder holding `tree` (owned by the unprivileged test user when `forUser`). */
export function writeTree(tree: Tree, options: { forUser?: boolean } = {}): string {
  const dir = options.forUser ? userTempDir('eib-config-') : mkdtempSync(join(tmpdir(), 'eib-config-'));
  for (const [path, content] of Object.entries(tree)) {
    const full = join(dir, path);
    if (path.endsWith('/')) mkdirSync(full, { recursive: true });
    else {
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
  }
  if (options.forUser) {
    const user = testUser();
    if (!user.self) chownRecursive(dir, Object.keys(tree), user.uid, user.gid);
  }
  return dir;
}

function chownRecursive(dir: string, paths: readonly string[], uid: number, gid: number): void {
  for (const path of paths) {
    let p = join(dir, path);
    while (p.startsWith(dir) && p !== dir) {
      chownSync(p, uid, gid);
      p = dirname(p);
    }
  }
}
