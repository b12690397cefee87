/**
 * The `files` step: copy host paths into the rootfs. Runs inside the
 * namespace (uid 0 there), so it can give the copies the owner the config
 * asks for (default 0:0). A source ending in "/" copies a directory's
 * contents into dest; otherwise the source itself is copied to dest (or
 * into dest when dest ends in "/" or is an existing directory). Names are
 * handled as bytes, so names that are not UTF-8 are copied as they are.
 */
import { chmod, copyFile, lchown, lstat, mkdir, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { FileCopy } from '../../config/types.js';
import { EibError } from '../../errors.js';
import { resolveInRoot } from '../rootfs-path.js';
import { lstatOrUndefined } from '../../fs/stat.js';

interface Ownership {
  uid: number;
  gid: number;
  mode: number | undefined;
}

function ownership(copy: FileCopy): Ownership {
  const [uid, gid] = (copy.owner ?? '0:0').split(':').map(Number);
  return { uid: uid ?? 0, gid: gid ?? uid ?? 0, mode: copy.mode === undefined ? undefined : parseInt(copy.mode, 8) };
}

async function isDirectory(path: string | Buffer): Promise<boolean> {
  return (await lstatOrUndefined(path))?.isDirectory() ?? false;
}

/** `dir/name` as bytes: host file names need not be UTF-8, and are copied byte-exact. */
function child(dir: string | Buffer, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(dir), Buffer.from('/'), name]);
}

/** The names in a host folder as bytes, in byte order. */
async function names(dir: string | Buffer): Promise<Buffer[]> {
  return (await readdir(dir, { encoding: 'buffer' })).sort(Buffer.compare);
}

/** Copy one host entry (recursively) to the host path `to`, replacing what is there. */
async function copyEntry(from: Buffer, to: Buffer, own: Ownership): Promise<number> {
  const st = await lstat(from);
  if (st.isDirectory()) {
    if (!(await isDirectory(to))) {
      await rm(to, { force: true });
      await mkdir(to);
    }
    await chmod(to, st.mode & 0o7777);
    await lchown(to, own.uid, own.gid);
    let count = 1;
    for (const name of await names(from)) count += await copyEntry(child(from, name), child(to, name), own);
    return count;
  }
  await rm(to, { recursive: true, force: true });
  if (st.isSymbolicLink()) {
    await symlink(await readlink(from), to);
    await lchown(to, own.uid, own.gid);
    return 1;
  }
  if (!st.isFile()) {
    throw new EibError('EFILETYPE', `files: ${from.toString()} is not a regular file, directory or symlink; copy only those`, { exitCode: 2 });
  }
  await copyFile(from, to);
  // chown before chmod: chown clears setuid bits.
  await lchown(to, own.uid, own.gid);
  await chmod(to, own.mode ?? st.mode & 0o7777);
  return 1;
}

/** Apply every copy of a stage; returns the number of entries written. */
export async function copyFiles(root: string, copies: readonly FileCopy[]): Promise<number> {
  let count = 0;
  for (const copy of copies) {
    const own = ownership(copy);
    const contentsOnly = copy.src.endsWith('/');
    let dest = await resolveInRoot(root, copy.dest);
    if (contentsOnly) {
      await mkdir(dest, { recursive: true });
      for (const name of await names(copy.src)) count += await copyEntry(child(copy.src, name), child(dest, name), own);
      continue;
    }
    if (copy.dest.endsWith('/') || (await isDirectory(dest))) dest = join(dest, basename(copy.src));
    await mkdir(dirname(dest), { recursive: true });
    count += await copyEntry(Buffer.from(copy.src), Buffer.from(dest), own);
  }
  return count;
}
