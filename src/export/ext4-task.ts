/**
 * The part of an ext4 export that runs inside the user namespace (through
 * runInNamespace): flatten the layers into a fresh tree, size the image,
 * run mke2fs and debugfs, and remove the tree. Owners in the tree are the
 * namespace's, so the image gets the image's own owners.
 *
 * Why always unpack instead of mounting the stage snapshots: the layers are
 * the image — they are what was pushed and what the tar export holds, with
 * mtimes clamped to the epoch — and they exist when snapshots were
 * collected or the image came from a registry. Unpacking costs one copy of
 * the rootfs on the cache's disk, small next to mke2fs' own writing.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskContext } from '../sandbox/protocol.js';
import { ExportError } from './errors.js';
import { defaultGeometry, explicitGeometry, minimumGeometry, type Ext4Geometry } from './ext4-size.js';
import { sizeArgument } from './format.js';
import { formatBytes } from '../fs/byte-size.js';
import { materializeLayers, type LayerTreePayload } from './materialize.js';
import { makeExt4 } from './mke2fs.js';
import { namespaceTask } from '../sandbox/task.js';

export interface Ext4TaskPayload extends LayerTreePayload {
  /** Where mke2fs writes the image (a new file). */
  image: string;
  size?: number;
  label?: string;
  uuid?: string;
  hashSeed?: string;
  epoch?: number;
}

export interface Ext4TaskResult {
  bytes: number;
  blocks: number;
  inodes: number;
  /** The smallest size that would hold this tree. */
  minimumBytes: number;
  entries: number;
}

async function exportExt4Inside(payload: Ext4TaskPayload, _ctx: TaskContext): Promise<Ext4TaskResult> {
  for (const dir of payload.stale) await rm(dir, { recursive: true, force: true });
  const tree = join(payload.work, 'tree');
  await mkdir(payload.work, { recursive: true, mode: 0o700 });
  try {
    const { usage, root, specials, entries } = await materializeLayers(payload, tree, payload.epoch);
    const minimum = minimumGeometry(usage);
    let geometry: Ext4Geometry | undefined;
    if (payload.size === undefined) {
      geometry = defaultGeometry(usage);
    } else {
      geometry = explicitGeometry(usage, payload.size);
      if (geometry === undefined) {
        throw new ExportError(
          'EEXT4SIZE',
          `an ext4 image of ${formatBytes(payload.size)} is too small for this image: it needs at least ${formatBytes(minimum.bytes)} ` +
            `(${formatBytes(usage.contentBytes)} of files in ${usage.inodes} inodes, plus ext4 metadata and journal); ` +
            `use --size ${sizeArgument(minimum.bytes)} or more, or leave --size out for the content plus room to spare`,
        );
      }
    }
    await makeExt4({
      tree,
      image: payload.image,
      scratch: join(payload.work, 'scratch'),
      geometry,
      root,
      specials,
      ...(payload.label === undefined ? {} : { label: payload.label }),
      ...(payload.uuid === undefined ? {} : { uuid: payload.uuid }),
      ...(payload.hashSeed === undefined ? {} : { hashSeed: payload.hashSeed }),
      ...(payload.epoch === undefined ? {} : { epoch: payload.epoch }),
    }).catch((e: unknown) => {
      if (e instanceof ExportError && e.code === 'EEXT4SIZE') {
        throw new ExportError('EEXT4SIZE', `${e.message}; it needs more than ${formatBytes(geometry.bytes)}: try --size ${sizeArgument(geometry.bytes * 1.1 + 2 ** 20)}`, { cause: e });
      }
      throw e;
    });
    return { bytes: geometry.bytes, blocks: geometry.blocks, inodes: geometry.inodes, minimumBytes: minimum.bytes, entries };
  } finally {
    await rm(payload.work, { recursive: true, force: true });
  }
}

export const exportExt4Task = namespaceTask(import.meta.url, 'exportExt4Task', exportExt4Inside, { errors: [ExportError] });
