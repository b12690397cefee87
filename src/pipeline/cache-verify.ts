/**
 * `eib cache verify`: the full check the cheap ones on every use cannot
 * make. Under the cache's exclusive lock (like gc) it re-hashes every blob
 * of the cache and of the project's OCI layout, reads every checkpoint
 * record, and compares every snapshot with its layer. What is damaged is
 * dropped: a blob, or a checkpoint (record, snapshot) whose record, layer or
 * snapshot is wrong, so the next build redoes exactly those stages and puts
 * whole blobs back into the layout.
 */
import { rm } from 'node:fs/promises';
import type { Config } from '../config/types.js';
import type { Digest } from '../oci/types.js';
import { runInNamespace } from '../sandbox/namespace.js';
import { BlobStore } from '../store/blob-store.js';
import { lockCacheExclusive, stageLockPath, type WaitOptions } from '../store/cache-lock.js';
import { CheckpointStore } from '../store/checkpoints.js';
import { CacheDamagedError } from '../store/errors.js';
import { OciLayout } from '../store/layout.js';
import type { SnapshotCheck } from './verify-task.js';

export interface Dropped {
  /** The damaged file, or the checkpoint's record for a dropped checkpoint. */
  path: string;
  reason: string;
}

export interface CacheVerifyResult {
  blobsChecked: number;
  checkpointsChecked: number;
  /** Everything dropped, blobs first. */
  dropped: Dropped[];
}


export async function verifyCache(config: Config, options: WaitOptions = {}): Promise<CacheVerifyResult> {
  const lock = await lockCacheExclusive(config.cache.dir, options);
  try {
    return await verify(config);
  } finally {
    await lock.release();
  }
}

async function verify(config: Config): Promise<CacheVerifyResult> {
  const store = new BlobStore(config.cache.dir);
  const checkpoints = new CheckpointStore(config.cache.dir);
  const dropped: Dropped[] = [];
  const stores = [store];
  const layout = await OciLayout.open(config.outputs.oci).catch(() => undefined);
  if (layout) stores.push(layout.blobs);
  let blobsChecked = 0;
  for (const blobs of stores) {
    for (const check of await blobs.verify()) {
      blobsChecked++;
      if (check.ok) continue;
      dropped.push({ path: blobs.path(check.digest), reason: check.reason ?? 'does not match its digest' });
      await blobs.delete(check.digest);
    }
  }

  const drop: { key: string; path: string; reason: string }[] = [];
  const checks: SnapshotCheck[] = [];
  const keys = await checkpoints.keys();
  for (const key of keys) {
    const problem = await recordProblem(checkpoints, store, key, checks);
    if (problem !== undefined) drop.push({ key, path: checkpoints.recordPath(key), reason: problem });
  }
  if (checks.length > 0) {
    const { compareSnapshotsTask } = await import('./verify-task.js');
    const verdicts = await runInNamespace(compareSnapshotsTask, { storeDir: store.root, scratch: await checkpoints.scratchDir(), checks });
    for (const v of verdicts) if (v.problem !== undefined) drop.push({ key: v.key, path: checkpoints.recordPath(v.key), reason: v.problem });
  }
  // The record goes first: a checkpoint without it is a miss, never half used.
  for (const d of drop) {
    await checkpoints.removeRecord(d.key);
    await rm(stageLockPath(config.cache.dir, d.key), { force: true });
    dropped.push({ path: d.path, reason: d.reason });
  }
  if (drop.length > 0) await runInNamespace((await import('./gc-task.js')).removeTreesTask, { paths: drop.map((d) => checkpoints.snapshotPath(d.key)) });
  return { blobsChecked, checkpointsChecked: keys.length, dropped };
}

/** Why the checkpoint `key` cannot be used; undefined when its snapshot is still to be compared (added to `checks`). */
async function recordProblem(checkpoints: CheckpointStore, store: BlobStore, key: string, checks: SnapshotCheck[]): Promise<string | undefined> {
  let cp;
  try {
    cp = await checkpoints.read(key);
  } catch (e) {
    if (e instanceof CacheDamagedError) return `the record ${e.problem}`;
    throw e;
  }
  if (!cp) return undefined;
  let layer: { digest: Digest; diffId: Digest } | null = null;
  if (cp.layer) {
    if (!(await store.has(cp.layer.digest))) return `its layer ${cp.layer.digest} is missing (or was damaged)`;
    const size = await store.size(cp.layer.digest);
    if (size !== cp.layer.size) return `its layer ${cp.layer.digest} has ${size} bytes, not ${cp.layer.size}`;
    layer = { digest: cp.layer.digest, diffId: cp.diffId! };
  }
  checks.push({ key, snapshot: checkpoints.snapshotPath(key), layer });
  return undefined;
}
