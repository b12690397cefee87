/**
 * The part of a squashfs or erofs export that runs inside the user
 * namespace: flatten the layers into a fresh tree (owners are the
 * namespace's, so the image's own), make the image from it, remove the
 * tree. Like the ext4 export, the layers are unpacked rather than the
 * snapshots mounted, so the image is exactly what was pushed.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskContext } from '../sandbox/protocol.js';
import { makeErofs } from './erofs.js';
import { materializeLayers, type LayerTreePayload } from './materialize.js';
import { makeSquashfs } from './squashfs.js';
import { namespaceTask } from '../sandbox/task.js';
import { ExportError } from './errors.js';

export type TreeImageFormat = 'squashfs' | 'erofs';

export interface TreeImagePayload extends LayerTreePayload {
  format: TreeImageFormat;
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
  const tree = join(payload.work, 'tree');
  const scratch = join(payload.work, 'scratch');
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  try {
    const made = await materializeLayers(payload, tree, payload.epoch);
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
