/**
 * Inside the build's namespace (see sandbox/runInNamespace): turn a pulled
 * layer back into the checkpoint's snapshot, the upperdir later stages
 * mount. It is unpacked into a scratch folder, checked against the record's
 * diff_id, and only then renamed into place, so a failed or refused pull
 * leaves no snapshot behind. The files belong to namespace ids, so creating
 * and removing them has to happen in here.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { IntegrityError } from '../errors.js';
import { unpackLayerToUpper } from '../layer/unpack-upper.js';
import type { Digest } from '../oci/types.js';
import { BlobStore } from '../store/blob-store.js';
import { publishSnapshot } from '../store/snapshot-publish.js';
import { namespaceTask } from '../sandbox/task.js';
import { LayerError, UnpackError } from '../layer/errors.js';

export interface RestoreSnapshotPayload {
  /** The blob store holding the layer. */
  storeDir: string;
  /** The layer blob and its diff_id; null for a stage that changed nothing. */
  layer: { digest: Digest; diffId: Digest } | null;
  /** Where the snapshot goes (a stale one there is retired, see snapshot-publish.ts). */
  snapshot: string;
  /** Scratch folder on the snapshot's filesystem; removed afterwards. */
  scratch: string;
  /** How errors name the layer. */
  name: string;
}

export interface RestoreSnapshotResult {
  entries: number;
}

async function restoreSnapshot(payload: RestoreSnapshotPayload): Promise<RestoreSnapshotResult> {
  const upper = join(payload.scratch, 'upper');
  try {
    let entries = 0;
    if (payload.layer === null) {
      await mkdir(upper, { recursive: true });
    } else {
      // open() re-hashes the blob as it is read: a blob changed since the pull fails here too.
      const unpacked = await unpackLayerToUpper(new BlobStore(payload.storeDir).open(payload.layer.digest), upper, { name: payload.name });
      if (unpacked.diffId !== payload.layer.diffId) {
        throw new IntegrityError('EINTEGRITY', `${payload.name}: the uncompressed layer hashes to ${unpacked.diffId}, but its record says diff_id ${payload.layer.diffId}; refusing it`);
      }
      entries = unpacked.entries;
    }
    await publishSnapshot(upper, payload.snapshot);
    return { entries };
  } finally {
    await rm(payload.scratch, { recursive: true, force: true });
  }
}

export const restoreSnapshotTask = namespaceTask(import.meta.url, 'restoreSnapshotTask', restoreSnapshot, { errors: [LayerError, UnpackError] });
