/**
 * What killed eib processes leave in the cache: scratch folders and blob
 * temp files in <cache>/tmp (stage roots, unpacked exports, snapshots
 * retired by a rebuild) and temporary records in <cache>/checkpoints. A
 * build removes them first, but only when it can take the cache
 * exclusively for a moment: while another eib process uses the cache, its
 * own scratch looks the same, and eib gc removes them later.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runInNamespace } from '../sandbox/namespace.js';
import { tryLockCacheExclusive } from '../store/cache-lock.js';

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** Remove the leftovers of killed processes when no other process uses the cache; how many were removed. */
export async function sweepLeftovers(cacheDir: string): Promise<number> {
  const tmp = (await names(join(cacheDir, 'tmp'))).map((n) => join(cacheDir, 'tmp', n));
  const records = (await names(join(cacheDir, 'checkpoints'))).filter((n) => n.endsWith('.tmp')).map((n) => join(cacheDir, 'checkpoints', n));
  if (tmp.length === 0 && records.length === 0) return 0;
  const lock = await tryLockCacheExclusive(cacheDir);
  if (lock === undefined) return 0;
  try {
    for (const record of records) await rm(record, { force: true });
    // Scratch holds files of subordinate ids: only the namespace can remove them.
    if (tmp.length > 0) await runInNamespace((await import('./gc-task.js')).removeTreesTask, { paths: tmp });
    return tmp.length + records.length;
  } finally {
    await lock.release();
  }
}
