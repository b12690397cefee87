/**
 * Scratch folders of the exports that unpack a tree (ext4, squashfs, erofs,
 * disk), under the cache's tmp/. The tree's files belong to subordinate
 * ids, so only the namespace can remove them: each export names the
 * folders of exports whose eib process is gone, and removes them first.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive } from '../store/cache-lock.js';

const WORK_PREFIX = 'export-';

export interface WorkDirs {
  /** A new folder name for this export (not created yet). */
  work: string;
  /** Work folders of killed exports, to remove first. */
  stale: string[];
}

export async function exportWorkDirs(cacheDir: string): Promise<WorkDirs> {
  const tmp = join(cacheDir, 'tmp');
  return { work: join(tmp, `${WORK_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`), stale: await staleWorkDirs(tmp) };
}

async function staleWorkDirs(tmp: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(tmp);
  } catch {
    return [];
  }
  return names
    .filter((n) => {
      const m = new RegExp(`^${WORK_PREFIX}(\\d+)-`).exec(n);
      return m !== null && !processAlive(Number(m[1]));
    })
    .map((n) => join(tmp, n));
}
