/**
 * Asking whether a path is there: one answer for "not there" (ENOENT, or a
 * parent that is not a folder); every other failure (permissions, I/O) is
 * thrown, so a cache is never treated as empty because it could not be read.
 */
import { lstatSync, type Stats } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The result of `op`, or undefined when what it looked for is not there. */
async function unlessMissing<T>(op: Promise<T>): Promise<T | undefined> {
  try {
    return await op;
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/** Whether `path` exists, following symlinks. */
export async function exists(path: string | Buffer): Promise<boolean> {
  return (await unlessMissing(stat(path))) !== undefined;
}

/** lstatOrUndefined as one blocking call, for a process doing one thing (a namespace task extracting packages). */
export function lstatSyncOrUndefined(path: string | Buffer): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/** The entry at `path` itself (a symlink is not followed), or undefined when there is none. */
export function lstatOrUndefined(path: string | Buffer): Promise<Stats | undefined> {
  return unlessMissing(lstat(path));
}

/** The entry at `path`, following symlinks, or undefined when there is none. */
export function statOrUndefined(path: string | Buffer): Promise<Stats | undefined> {
  return unlessMissing(stat(path));
}

/** The whole content of the file at `path`, or undefined when there is none. */
export function readIfExists(path: string): Promise<Buffer | undefined> {
  return unlessMissing(readFile(path));
}

/** The names in the folder at `path`, or none when there is no folder. */
export async function readdirIfExists(path: string): Promise<string[]> {
  return (await unlessMissing(readdir(path))) ?? [];
}
