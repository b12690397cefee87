/**
 * outputs.disk, host side: choose the disk's identities (derived from the
 * image name, arch, partition names and the epoch, so PARTUUIDs and
 * filesystem UUIDs that a bootloader configuration names stay put from
 * build to build; random without an epoch), run the assembly inside the
 * user namespace (disk-task.ts), then write the .bmap and the compressed
 * copies beside the image. Every file is written under a temporary name
 * and renamed into place.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Config, DiskOutput } from '../config/types.js';
import type { SelectedImage } from './select.js';
import { runInNamespace } from '../sandbox/namespace.js';
import type { DiskIdentity, DiskTaskPayload, PlacedPartition } from './disk-task.js';
import { ExportError } from './errors.js';
import { derivedUuid } from './ext4.js';
import { imageTool, runImageTool, toolTail } from './image-tools.js';
import { writeBmap } from './bmap.js';
import { writeAtomically } from './temp-output.js';
import { exportWorkDirs } from './work-dir.js';

export interface WrittenDisk {
  bytes: number;
  table: DiskOutput['table'];
  diskId: string;
  partitions: PlacedPartition[];
  bmap?: string;
  compressed: string[];
}

/** Identities from the epoch (stable), else random. */
export function diskIdentity(disk: DiskOutput, seed: { name: string; arch: string; epoch?: number }): DiskIdentity {
  const id = (...parts: string[]): string => (seed.epoch === undefined ? randomUUID() : derivedUuid(seed.name, seed.arch, String(seed.epoch), ...parts)).toUpperCase();
  const diskGuid = id('disk');
  return {
    diskId: disk.table === 'gpt' ? diskGuid : `0x${diskGuid.slice(0, 8).toLowerCase()}`,
    partitionUuids: disk.partitions.map((p) => p.uuid ?? id('partition', p.name)),
    filesystemUuids: disk.partitions.map((p) => id('filesystem', p.name).toLowerCase()),
    hashSeeds: disk.partitions.map((p) => id('ext4 hash seed', p.name).toLowerCase()),
    volumeIds: disk.partitions.map((p) => id('vfat volume', p.name).slice(0, 8).toLowerCase()),
  };
}

export async function writeDisk(config: Config, image: SelectedImage, path: string, options: { epoch?: number; signal?: AbortSignal } = {}): Promise<WrittenDisk> {
  const disk = config.outputs.disk!;
  imageTool('sfdisk', 'a disk image');
  if (disk.compress.includes('zst')) imageTool('zstd', 'outputs.disk.compress: zst');
  const identity = diskIdentity(disk, { name: config.name, arch: image.arch, ...(options.epoch === undefined ? {} : { epoch: options.epoch }) });
  const made = await writeAtomically(path, async (tmp) => {
    const payload: DiskTaskPayload = {
      layoutDir: image.layout.dir,
      layers: image.layers.map((l) => l.digest),
      names: image.names,
      ...(await exportWorkDirs(config.cache.dir)),
      image: tmp,
      disk,
      identity,
      ...(options.epoch === undefined ? {} : { epoch: options.epoch }),
    };
    const { buildDiskTask } = await import('./disk-task.js');
    return runInNamespace(buildDiskTask, payload, options.signal === undefined ? {} : { signal: options.signal });
  });
  const result: WrittenDisk = { bytes: made.bytes, table: disk.table, diskId: identity.diskId, partitions: made.partitions, compressed: [] };
  if (disk.bmap) {
    result.bmap = `${path}.bmap`;
    await writeAtomically(result.bmap, (tmp) => writeBmap(path, tmp));
  }
  for (const kind of disk.compress) {
    const target = `${path}.${kind}`;
    await writeAtomically(target, (tmp) => (kind === 'gz' ? gzipFile(path, tmp) : zstdFile(path, tmp)));
    result.compressed.push(target);
  }
  return result;
}

/** Node's gzip header has no time or name in it: the same image gives the same bytes. */
async function gzipFile(from: string, to: string): Promise<void> {
  await pipeline(createReadStream(from), createGzip({ level: 6 }), createWriteStream(to, { flags: 'wx', mode: 0o644 }));
}

async function zstdFile(from: string, to: string): Promise<void> {
  const r = await runImageTool([imageTool('zstd', 'outputs.disk.compress: zst'), '-q', '-T1', '--no-progress', '-f', '-o', to, from]);
  if (r.code !== 0) throw new ExportError('EDISK', `zstd failed (exit ${r.code}): ${toolTail(r)}`);
}
