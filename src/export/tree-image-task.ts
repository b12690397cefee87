/**
 * The part of a squashfs or erofs export that runs inside the user
 * namespace: flatten the layers into a fresh tree (owners are the
 * namespace's, so the image's own), make the image from it, remove the
 * tree. Like the ext4 export, the layers are unpacked rather than the
 * snapshots mounted, so the image is exactly what was pushed.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { flatten } from '../layer/flatten.js';
import type { Digest } from '../oci/types.js';
import type { TaskContext } from '../sandbox/protocol.js';
import { BlobStore } from '../store/blob-store.js';
import { makeErofs } from './erofs.js';
import { materialize } from './materialize.js';
import { makeSquashfs } from './squashfs.js';
import { namespaceTask } from '../sandbox/task.js';
import { ExportError } from './errors.js';

export type TreeImageFormat = 'squashfs' | 'erofs';

export interface TreeImagePayload {
  format: TreeImageFormat;
  /** OCI layout holding the layer blobs. */
  layoutDir: string;
  layers: Digest[];
  names: string[];
  /** A folder to create for the tree and scratch files, removed at the end. */
  work: string;
  /** Work folders of exports that were killed, to remove first. */
  stale: string[];
  /** The image to write (a new file). */
  image: string;
  epoch?: number;
  uuid?: string;
}

export interface TreeImageResult {
  /** Entries written (hardlinks included, the root not). */
  entries: number;
}

async function exportTreeImageInside(payload: TreeImagePayload, _ctx: TaskContext): Promise<TreeImageResult> {
  for (const dir of payload.stale) await rm(dir, { recursive: true, force: true });
  const store = new BlobStore(payload.layoutDir);
  const tree = join(payload.work, 'tree');
  const scratch = join(payload.work, 'scratch');
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  try {
    const openers = payload.layers.map((digest) => () => store.open(digest));
    const made = await materialize(flatten(openers, { names: payload.names }), tree, payload.epoch === undefined ? {} : { epoch: payload.epoch });
    const input = {
      tree,
      image: payload.image,
      scratch,
      specials: made.specials,
      ...(payload.epoch === undefined ? {} : { epoch: payload.epoch }),
      ...(payload.uuid === undefined ? {} : { uuid: payload.uuid }),
    };
    if (payload.format === 'squashfs') await makeSquashfs(input);
    else await makeErofs(input);
    return { entries: made.entries };
  } finally {
    await rm(payload.work, { recursive: true, force: true });
  }
}

export const exportTreeImageTask = namespaceTask(import.meta.url, 'exportTreeImageTask', exportTreeImageInside, { errors: [ExportError] });
