/**
 * `eib gc`: keep the checkpoints the current project's image references,
 * drop every other checkpoint, its snapshot, unreferenced blobs, and the
 * scratch folders of builds that were killed. It holds the cache's
 * exclusive lock, so it waits for running builds, exports and shells (and
 * they for it): nothing it removes is in use.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { Digest } from '../oci/types.js';
import { BlobStore } from '../store/blob-store.js';
import { runInNamespace } from '../sandbox/namespace.js';
import { lockCacheExclusive, stageLockPath, type WaitOptions } from '../store/cache-lock.js';
import { CheckpointStore } from '../store/checkpoints.js';
import { imageStageKeys } from '../store/built-image.js';

export interface GcResult {
  checkpointsKept: number;
  checkpointsRemoved: number;
  blobsRemoved: number;
  bytesFreed: number;
  scratchRemoved: number;
}


async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch {
    return [];
  }
}

export async function collectGarbage(config: Config, options: { all?: boolean } & WaitOptions = {}): Promise<GcResult> {
  const lock = await lockCacheExclusive(config.cache.dir, options);
  try {
    return await collect(config, options);
  } finally {
    await lock.release();
  }
}

async function collect(config: Config, options: { all?: boolean }): Promise<GcResult> {
  const checkpoints = new CheckpointStore(config.cache.dir);
  const store = new BlobStore(config.cache.dir);
  const keep = new Set(options.all ? [] : await imageStageKeys(config));
  const records = await checkpoints.list();
  const keptBlobs = new Set<Digest>();
  const trees: string[] = [];
  let removed = 0;
  for (const cp of records) {
    if (keep.has(cp.key)) {
      if (cp.layer) keptBlobs.add(cp.layer.digest);
      continue;
    }
    await checkpoints.removeRecord(cp.key);
    await rm(stageLockPath(config.cache.dir, cp.key), { force: true });
    trees.push(checkpoints.snapshotPath(cp.key));
    removed++;
  }
  // Snapshots without a record (a build killed before writing it).
  const recorded = new Set(records.filter((cp) => keep.has(cp.key)).map((cp) => cp.key));
  for (const name of await listDir(join(config.cache.dir, 'snapshots'))) {
    if (!recorded.has(name)) trees.push(checkpoints.snapshotPath(name));
  }
  const scratch = (await listDir(join(config.cache.dir, 'tmp'))).map((n) => join(config.cache.dir, 'tmp', n));
  const uniqueTrees = [...new Set([...trees, ...scratch])];
  if (uniqueTrees.length > 0) await runInNamespace((await import('./gc-task.js')).removeTreesTask, { paths: uniqueTrees });

  let blobsRemoved = 0;
  let bytesFreed = 0;
  for (const digest of await store.list()) {
    if (keptBlobs.has(digest)) continue;
    const path = store.path(digest);
    const size = (await stat(path)).size;
    await store.delete(digest);
    blobsRemoved++;
    bytesFreed += size;
  }
  return { checkpointsKept: records.length - removed, checkpointsRemoved: removed, blobsRemoved, bytesFreed, scratchRemoved: scratch.length };
}
