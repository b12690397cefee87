/**
 * squashfs and erofs exports, host side: check the tool, pick the image's
 * identity (an erofs UUID derived from the image's manifest with an epoch,
 * like ext4's), and run the work inside the user namespace
 * (tree-image-task.ts).
 */
import { stat } from 'node:fs/promises';
import type { Digest } from '../oci/types.js';
import { runInNamespace } from '../sandbox/namespace.js';
import { derivedUuid } from './ext4.js';
import { imageTool } from './image-tools.js';
import type { TreeImageFormat, TreeImagePayload, TreeImageResult } from './tree-image-task.js';
import { exportWorkDirs } from './work-dir.js';


export interface TreeImageOptions {
  format: TreeImageFormat;
  epoch?: number;
  /** eib's cache folder: the tree is unpacked below its tmp/. */
  cacheDir: string;
  signal?: AbortSignal;
}

export interface WrittenTreeImage extends TreeImageResult {
  bytes: number;
  uuid?: string;
}

export async function writeTreeImage(layoutDir: string, manifest: Digest, layers: { digests: Digest[]; names: string[] }, image: string, options: TreeImageOptions): Promise<WrittenTreeImage> {
  imageTool(options.format === 'squashfs' ? 'mksquashfs' : 'mkfs.erofs', `a ${options.format} export`);
  const uuid = options.format === 'erofs' && options.epoch !== undefined ? derivedUuid(manifest, 'erofs uuid') : undefined;
  const payload: TreeImagePayload = {
    format: options.format,
    layoutDir,
    layers: layers.digests,
    names: layers.names,
    ...(await exportWorkDirs(options.cacheDir)),
    image,
    ...(options.epoch === undefined ? {} : { epoch: options.epoch }),
    ...(uuid === undefined ? {} : { uuid }),
  };
  const { exportTreeImageTask } = await import('./tree-image-task.js');
  const made = await runInNamespace(exportTreeImageTask, payload, options.signal === undefined ? {} : { signal: options.signal });
  return { ...made, bytes: (await stat(image)).size, ...(uuid === undefined ? {} : { uuid }) };
}
