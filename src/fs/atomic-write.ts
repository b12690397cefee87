/**
 * Publishing a file by rename, the one way eib replaces files it owns
 * (cache records, index.json, blobs, downloads, the lock file, outputs).
 *
 * fsync policy, decided once here: a file's data is fsynced before the
 * rename that publishes it, so after a crash the path holds the old file or
 * the whole new one, never a renamed but empty or short file. The folder is
 * not fsynced: a crash may lose the rename itself, which leaves the state
 * before the write, and every reader already handles that (a missing cache
 * entry is built again, an output is written again).
 *
 * Temporary files sit beside their target (same filesystem, so the rename
 * is atomic) under a dot name that ends in `.tmp`.
 *
 * The one exception, `inStageRoot`: files written inside a stage's root
 * (apk's database) are made durable with the stage as a whole: its layer
 * blob is synced before its checkpoint is recorded, and a stage cut short
 * is built again, so syncing each of them only cost time.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A fresh temporary name in the folder of `target`. */
export function tempPathBeside(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}

/** fsync a file's data (through its own descriptor: the data, not a descriptor, is what gets synced). */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync `tmp` and rename it over `target`: the last step of every atomic write. */
export async function publishFile(tmp: string, target: string): Promise<void> {
  await syncFile(tmp);
  await rename(tmp, target);
}

export interface AtomicWriteOptions {
  /** Permission bits, applied exactly (not masked by the umask). Default 0644. */
  mode?: number;
  /** Access and modification time in seconds, for reproducible trees. */
  mtime?: number;
  /** The file is part of a stage's root, durable with its layer: no fsync of its own (see the top). */
  inStageRoot?: boolean;
}

/** Write `data` to `path` through a temporary file beside it; the folder must exist. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathBeside(path);
  const mode = options.mode ?? 0o644;
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.chmod(mode);
      if (options.mtime !== undefined) await handle.utimes(options.mtime, options.mtime);
      if (options.inStageRoot !== true) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
