/**
 * Inside the namespace (snapshots hold files of subordinate ids): compare
 * each checkpoint's snapshot with its layer. The layer is unpacked into
 * scratch space and both trees are hashed as layers with every mtime
 * clamped to 0, so what is compared is names, types, content, owners,
 * modes, links and kept xattrs; the trees' times may differ (a snapshot
 * keeps the build's times, a layer with an epoch has them clamped).
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { treeDiffId } from '../layer/write.js';
import { unpackLayerToUpper } from '../layer/unpack-upper.js';
import type { Digest } from '../oci/types.js';
import { BlobStore } from '../store/blob-store.js';
import { namespaceTask } from '../sandbox/task.js';

export interface SnapshotCheck {
  key: string;
  snapshot: string;
  /** The layer blob and its diff_id; null for a stage that changed nothing (its snapshot is empty). */
  layer: { digest: Digest; diffId: Digest } | null;
}

export interface SnapshotVerdict {
  key: string;
  /** What is wrong; absent when the snapshot matches its layer. */
  problem?: string;
}

async function compareSnapshots(payload: { storeDir: string; scratch: string; checks: SnapshotCheck[] }): Promise<SnapshotVerdict[]> {
  const store = new BlobStore(payload.storeDir);
  const verdicts: SnapshotVerdict[] = [];
  try {
    for (const check of payload.checks) {
      try {
        verdicts.push({ key: check.key, ...(await compareOne(store, check, join(payload.scratch, check.key))) });
      } catch (e) {
        verdicts.push({ key: check.key, problem: (e as Error).message });
      }
    }
  } finally {
    await rm(payload.scratch, { recursive: true, force: true });
  }
  return verdicts;
}

async function compareOne(store: BlobStore, check: SnapshotCheck, scratch: string): Promise<{ problem?: string }> {
  if (check.layer === null) {
    const names = await readdir(check.snapshot);
    return names.length === 0 ? {} : { problem: `the stage changed nothing, but its snapshot holds ${names.length} entries` };
  }
  try {
    const unpacked = await unpackLayerToUpper(store.open(check.layer.digest), scratch, { name: check.layer.digest });
    if (unpacked.diffId !== check.layer.diffId) return { problem: `its layer unpacks to diff_id ${unpacked.diffId}, not ${check.layer.diffId}` };
    const [fromLayer, fromSnapshot] = await Promise.all([scratch, check.snapshot].map((dir) => treeDiffId({ dir, kind: 'upperdir', epoch: 0 })));
    return fromLayer!.diffId === fromSnapshot!.diffId ? {} : { problem: `the snapshot ${check.snapshot} differs from its layer ${check.layer.digest}` };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export const compareSnapshotsTask = namespaceTask(import.meta.url, 'compareSnapshotsTask', compareSnapshots);
