/**
 * Paths inside a rootfs seen from outside it. Symlinks in the rootfs are
 * resolved as they would be inside a chroot (absolute targets start at the
 * rootfs, `..` stops at its top), so following them never leaves the tree.
 */
import { lstat, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { EibError } from '../errors.js';

const MAX_LINKS = 40;

/** Split "/a/b/../c" into normalized components, never above the root. */
export function rootComponents(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

/**
 * The host path of `path` inside `root`, with every symlink resolved inside
 * the root. With `followLast` false the last component is not resolved (for
 * removing or replacing a symlink itself). Missing components are kept as
 * they are, so the result can name something about to be created.
 */
export async function resolveInRoot(root: string, path: string, followLast = true): Promise<string> {
  let pending = rootComponents(path);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const [name, ...rest] = pending as [string, ...string[]];
    pending = rest;
    const candidate = join(root, ...done, name);
    const isLast = pending.length === 0;
    let target: string | undefined;
    try {
      const st = await lstat(candidate);
      if (st.isSymbolicLink() && (followLast || !isLast)) target = await readlink(candidate);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e;
    }
    if (target === undefined) {
      done.push(name);
      continue;
    }
    if (++links > MAX_LINKS) {
      throw new EibError('ELOOP', `too many levels of symbolic links resolving ${path} in the rootfs`);
    }
    const base = target.startsWith('/') ? [] : done;
    pending = [...rootComponents(posix.join('/', ...base, target)), ...pending];
    done.length = 0;
  }
  return join(root, ...done);
}
