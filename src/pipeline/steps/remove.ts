/**
 * The `remove` step: delete paths and globs from the stage's rootfs. Run on
 * the merged overlay, deletions of lower files become whiteouts in the layer.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { relative } from 'node:path';
import { resolveInRoot, rootComponents } from '../rootfs-path.js';

const GLOB_CHARS = /[*?[]/;

/** A glob component as a regular expression: `*`, `?` and `[...]` classes. */
export function componentPattern(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, end);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Expand one absolute pattern into rootfs paths that exist (as "/a/b"). */
export async function expandInRoot(root: string, pattern: string): Promise<string[]> {
  let current = ['/'];
  const parts = rootComponents(pattern);
  for (const [index, part] of parts.entries()) {
    const last = index === parts.length - 1;
    const next: string[] = [];
    for (const dir of current) {
      if (!GLOB_CHARS.test(part)) {
        next.push(dir === '/' ? `/${part}` : `${dir}/${part}`);
        continue;
      }
      const re = componentPattern(part);
      let names: string[];
      try {
        names = await readdir(await resolveInRoot(root, dir));
      } catch {
        continue;
      }
      // Like the shell, `*` does not match hidden names unless the glob says so.
      for (const name of names.sort()) {
        if (name.startsWith('.') && !part.startsWith('.')) continue;
        if (re.test(name)) next.push(dir === '/' ? `/${name}` : `${dir}/${name}`);
      }
    }
    current = next;
    if (last) break;
  }
  const existing: string[] = [];
  for (const p of current) {
    try {
      await lstat(await resolveInRoot(root, p, false));
      existing.push(p);
    } catch {
      // a plain path that does not exist is not an error: nothing to remove
    }
  }
  return existing;
}

/** Remove every match of `patterns`; returns the rootfs paths removed. */
export async function removePaths(root: string, patterns: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const pattern of patterns) {
    for (const p of await expandInRoot(root, pattern)) {
      const host = await resolveInRoot(root, p, false);
      if (relative(root, host) === '') continue; // never the root itself
      await rm(host, { recursive: true, force: true });
      removed.push(p);
    }
  }
  return removed;
}

