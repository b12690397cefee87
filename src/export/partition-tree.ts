/**
 * The trees a disk's filesystem partitions are made from, inside the
 * namespace, after the image is materialized: a folder of the image (like
 * /boot) is moved out of the rootfs tree into its partition's tree and an
 * empty mount point with the folder's attributes is left behind; host files
 * are copied in owned by root; and each tree's usage is counted for ext4's
 * sizing. Nothing here follows a symlink of the image.
 */
import type { Stats } from 'node:fs';
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, readdir, readlink, rename, symlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExportError } from './errors.js';
import { UsageCounter, type TreeUsage } from './ext4-size.js';
import type { TarHeader } from '../layer/tar-header.js';
import type { SpecialEntry } from './materialize.js';

/** The absolute path of `imagePath` in `tree`, refusing a path through or to a symlink. */
export async function pathInTree(tree: string, imagePath: string, what: string): Promise<string> {
  const parts = imagePath.split('/').filter((p) => p !== '' && p !== '.');
  let current = tree;
  for (const part of parts) {
    current = join(current, part);
    let st;
    try {
      st = await lstat(current);
    } catch {
      throw new ExportError('EDISK', `${what}: the image has no ${imagePath}`);
    }
    if (st.isSymbolicLink()) throw new ExportError('EDISK', `${what}: ${imagePath} goes through the symlink /${parts.slice(0, parts.indexOf(part) + 1).join('/')} in the image; name the file or folder it points to`);
  }
  return current;
}

/**
 * Move the image folder `imagePath` out of `tree` to `dest` (a new path),
 * leaving an empty folder with the same owner, mode and time as a mount point.
 */
export async function takeFolder(tree: string, imagePath: string, dest: string, what: string): Promise<void> {
  const source = await pathInTree(tree, imagePath, what);
  const st = await lstat(source);
  if (!st.isDirectory()) throw new ExportError('EDISK', `${what}: ${imagePath} is not a folder of the image; content takes a folder (or rootfs)`);
  const parent = await lstat(dirname(source));
  await mkdir(dirname(dest), { recursive: true });
  await rename(source, dest);
  await mkdir(source);
  await lchown(source, st.uid, st.gid);
  await chmod(source, st.mode & 0o7777);
  await utimes(source, st.atime, st.mtime);
  await utimes(dirname(source), parent.atime, parent.mtime);
}

/** The specials below `imagePath` (relative to the rootfs), moved to their own list with paths relative to that folder. */
export function takeSpecials(specials: SpecialEntry[], imagePath: string): SpecialEntry[] {
  const prefix = `${Buffer.from(imagePath.replace(/^\/+/, ''), 'utf8').toString('latin1')}/`;
  const taken: SpecialEntry[] = [];
  for (let i = specials.length - 1; i >= 0; i--) {
    const s = specials[i]!;
    if (s.path.startsWith(prefix)) {
      taken.unshift({ ...s, path: s.path.slice(prefix.length) });
      specials.splice(i, 1);
    }
  }
  return taken;
}

/**
 * Copy a host file or folder into `destDir` (a trailing / copies a folder's
 * contents), owned by root (the namespace's, which is the caller), modes
 * kept, times set to the epoch when there is one.
 */
export async function copyHostPath(src: string, destDir: string, epoch: number | undefined): Promise<void> {
  const contents = src.endsWith('/');
  const from = contents ? src.replace(/\/+$/, '') : src;
  if (contents) {
    for (const name of (await readdir(from)).sort()) await copyEntry(join(from, name), join(destDir, name), epoch);
    if (epoch !== undefined) await utimes(destDir, epoch, epoch);
  } else {
    await copyEntry(from, join(destDir, basename(from)), epoch);
  }
}

async function copyEntry(from: string, to: string, epoch: number | undefined): Promise<void> {
  const st = await lstat(from);
  const time = epoch ?? st.mtime;
  if (st.isDirectory()) {
    await mkdir(to, { recursive: true });
    for (const name of (await readdir(from)).sort()) await copyEntry(join(from, name), join(to, name), epoch);
    await chmod(to, st.mode & 0o7777);
    await utimes(to, time, time);
  } else if (st.isFile()) {
    await copyFile(from, to);
    await chmod(to, st.mode & 0o7777);
    await utimes(to, time, time);
  } else if (st.isSymbolicLink()) {
    await symlink(await readlink(from), to);
    await lutimes(to, time, time);
  } else {
    throw new ExportError('EDISK', `${from} is neither a file, a folder nor a symlink; only those can be copied into a partition`);
  }
}

/** Every entry below `root`, depth first in sorted order, with its path relative to `root`. */
async function walkTree(root: string, visit: (path: string, abs: string, st: Stats) => Promise<void> | void): Promise<void> {
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const abs = join(dir, name);
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(abs);
      await visit(path, abs, st);
      if (st.isDirectory()) await walk(abs, path);
    }
  };
  await walk(root, '');
}

/** What ext4 needs for a tree, counted from the folder (hardlinks once) and its specials. */
export async function treeUsage(root: string, specials: readonly SpecialEntry[]): Promise<TreeUsage> {
  const counter = new UsageCounter();
  const seen = new Set<number>();
  await walkTree(root, async (path, abs, st) => {
    if (st.isDirectory()) return counter.directory(path);
    const linked = st.nlink > 1 && seen.has(st.ino);
    if (st.nlink > 1) seen.add(st.ino);
    const type = linked ? 'link' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'fifo';
    counter.entry({ path, type, size: st.size, linkname: type === 'symlink' ? await readlink(abs) : '', xattrs: new Map() } as unknown as TarHeader);
  });
  for (const s of specials) counter.entry({ path: s.path, type: s.type, size: 0, linkname: '', xattrs: new Map() } as unknown as TarHeader);
  return counter.usage();
}

/** Files and folders of a tree, sorted, for tools that copy one at a time (mtools). */
export async function listTree(root: string): Promise<{ dirs: string[]; files: { path: string; size: number }[]; others: string[] }> {
  const out = { dirs: [] as string[], files: [] as { path: string; size: number }[], others: [] as string[] };
  await walkTree(root, (path, _abs, st) => {
    if (st.isDirectory()) out.dirs.push(path);
    else if (st.isFile()) out.files.push({ path, size: st.size });
    else out.others.push(path);
  });
  return out;
}
