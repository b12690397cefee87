/**
 * Asking whether a path is there: one answer for "not there" (ENOENT, or a
 * parent that is not a folder); every other failure (permissions, I/O) is
 * thrown, so a cache is never treated as empty because it could not be read.
 */
import type { Stats } from 'node:fs';
import { lstat, readFile, stat } from 'node:fs/promises';

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Whether `path` exists, following symlinks. */
export async function exists(path: string | Buffer): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (isMissing(e)) return false;
    throw e;
  }
}

/** The entry at `path` itself (a symlink is not followed), or undefined when there is none. */
export async function lstatOrUndefined(path: string | Buffer): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/** The entry at `path`, following symlinks, or undefined when there is none. */
export async function statOrUndefined(path: string | Buffer): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/** The whole content of the file at `path`, or undefined when there is none. */
export async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}
