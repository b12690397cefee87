/**
 * The part of a disk export that runs inside the user namespace: unpack the
 * image once, cut it into the partitions' trees (a folder like /boot moves
 * out, leaving its mount point), make each partition as a file with its
 * real tool (mke2fs -d, mkfs.vfat + mtools, mksquashfs, mkfs.erofs, or the
 * bytes of a file), size the auto ones, place them (config/disk-layout.ts),
 * and assemble the disk: sfdisk writes the table on the image file, the
 * partitions and raw writes are copied in at their offsets, zero blocks
 * left as holes. No loop device and no root anywhere.
 *
 * A layout that does not fit (content larger than its partition, overlaps
 * once auto sizes are known) is a configuration error at the line of
 * eib.yaml that set it.
 */
import { lstat, mkdir, open, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { planLayout, SECTOR } from '../config/disk-layout.js';
import { autoSize } from '../config/disk.js';
import type { ConfigLocation, DiskOutput, DiskPartition } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { TaskContext } from '../sandbox/protocol.js';
import { namespaceTask } from '../sandbox/task.js';
import { makeErofs } from './erofs.js';
import { ExportError } from './errors.js';
import { explicitGeometry, minimumGeometry, type Ext4Geometry } from './ext4-size.js';
import { formatBytes } from '../fs/byte-size.js';
import { sizeArgument } from './format.js';
import { imageTool, runImageTool, toolTail } from './image-tools.js';
import { materializeLayers, type LayerTreePayload, type SpecialEntry } from './materialize.js';
import { makeExt4 } from './mke2fs.js';
import { copyHostPath, pathInTree, takeFolder, takeSpecials, treeUsage } from './partition-tree.js';
import { makeSquashfs } from './squashfs.js';
import { makeVfat, VfatFullError, vfatContentBytes, vfatOverhead } from './vfat.js';

/** What the host side decided: identities derived from the epoch (or random). */
export interface DiskIdentity {
  /** GPT disk GUID, or the MBR disk id as 0x + 8 hex digits. */
  diskId: string;
  /** Per partition: GPT partition UUID (unused for MBR). */
  partitionUuids: string[];
  /** Per partition: ext4/erofs filesystem UUID. */
  filesystemUuids: string[];
  /** Per partition: ext4 directory hash seed. */
  hashSeeds: string[];
  /** Per partition: vfat volume id, 8 hex digits. */
  volumeIds: string[];
}

export interface DiskTaskPayload extends LayerTreePayload {
  /** The disk image to write (a new file). */
  image: string;
  disk: DiskOutput;
  identity: DiskIdentity;
  epoch?: number;
}

export interface PlacedPartition {
  name: string;
  type: DiskPartition['type'];
  /** Byte offset and size on the disk. */
  start: number;
  size: number;
  /** GPT partition UUID (PARTUUID), or for MBR the kernel's DISKID-NN form. */
  partuuid: string;
  /** Filesystem UUID (ext4, erofs) or vfat volume id. */
  fsid?: string;
}

export interface DiskTaskResult {
  bytes: number;
  partitions: PlacedPartition[];
}

const GPT_TYPES: Record<DiskPartition['type'], string> = {
  vfat: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  ext4: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  squashfs: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  erofs: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  raw: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
};
const MBR_TYPES: Record<DiskPartition['type'], string> = { vfat: '0c', ext4: '83', squashfs: '83', erofs: '83', raw: 'da' };
/** Copy unit: a chunk of zeros is skipped, leaving a hole. */
const CHUNK = 64 * 1024;

function tooLarge(at: ConfigLocation, message: string): ConfigError {
  return new ConfigError([{ ...at, message }]);
}

async function buildDiskInside(payload: DiskTaskPayload, _ctx: TaskContext): Promise<DiskTaskResult> {
  for (const dir of payload.stale) await rm(dir, { recursive: true, force: true });
  const { disk, identity, epoch } = payload;
  const work = payload.work;
  const tree = join(work, 'tree');
  await mkdir(join(work, 'scratch'), { recursive: true, mode: 0o700 });
  try {
    const needsImage = disk.partitions.some((p) => p.content !== undefined || (p.source !== undefined && 'image' in p.source)) || disk.raw.some((r) => 'image' in r.source);
    let specials: SpecialEntry[] = [];
    if (needsImage) {
      specials = (await materializeLayers(payload, tree, epoch)).specials;
    }

    // Bytes from files of the image, read before folders move out of the tree.
    const partitionBytes = new Map<number, string>();
    for (const [i, p] of disk.partitions.entries()) {
      if (p.source === undefined) continue;
      partitionBytes.set(i, 'image' in p.source ? await imageFile(tree, p.source.image, `partition "${p.name}"`) : p.source.host);
    }
    const rawBytes: string[] = [];
    for (const [i, r] of disk.raw.entries()) rawBytes.push('image' in r.source ? await imageFile(tree, r.source.image, `raw[${i}]`) : r.source.host);

    // Each partition's tree: folders of the image move out, deepest first, so /boot/efi can be its own.
    const trees = new Map<number, { dir: string; specials: SpecialEntry[] }>();
    const byDepth = [...disk.partitions.entries()].filter(([, p]) => p.content !== undefined && p.content !== 'rootfs').sort(([, a], [, b]) => b.content!.split('/').length - a.content!.split('/').length);
    for (const [i, p] of byDepth) {
      const dir = join(work, `part-${i}`, 'tree');
      await takeFolder(tree, p.content!, dir, `partition "${p.name}" content`);
      trees.set(i, { dir, specials: takeSpecials(specials, p.content!) });
    }
    for (const [i, p] of disk.partitions.entries()) {
      if (p.type === 'raw') continue;
      if (p.content === 'rootfs') trees.set(i, { dir: tree, specials });
      if (!trees.has(i)) {
        const dir = join(work, `part-${i}`, 'tree');
        await mkdir(dir, { recursive: true });
        if (epoch !== undefined) await utimes(dir, epoch, epoch);
        trees.set(i, { dir, specials: [] });
      }
      for (const f of p.files) await copyHostPath(f, trees.get(i)!.dir, epoch);
    }

    // Each partition as a file, and its size on the disk.
    const files: string[] = [];
    const sizes: number[] = [];
    for (const [i, p] of disk.partitions.entries()) {
      const file = join(work, `part-${i}.img`);
      const what = `partition "${p.name}"`;
      let size: number;
      if (p.type === 'raw') {
        const source = partitionBytes.get(i)!;
        const bytes = (await stat(source)).size;
        if (p.size !== 'auto' && bytes > p.size) throw tooLarge(p.sizeAt, `${what}: its bytes (${formatBytes(bytes)}) do not fit in ${formatBytes(p.size)}; make size bigger, or auto`);
        files.push(source);
        sizes.push(p.size === 'auto' ? autoSize(bytes, disk.align) : p.size);
        continue;
      }
      const { dir, specials: own } = trees.get(i)!;
      if (p.type === 'ext4') {
        const usage = await treeUsage(dir, own);
        const minimum = minimumGeometry(usage);
        let geometry: Ext4Geometry | undefined;
        if (p.size === 'auto') {
          const room = 'fraction' in p.headroom ? minimum.bytes * p.headroom.fraction : p.headroom.bytes;
          geometry = explicitGeometry(usage, autoSize(minimum.bytes + room, disk.align));
        } else {
          geometry = explicitGeometry(usage, p.size);
          if (geometry === undefined) {
            throw tooLarge(p.sizeAt, `${what}: the content (${formatBytes(usage.contentBytes)} in ${usage.inodes} inodes) needs an ext4 of at least ${formatBytes(minimum.bytes)}, more than ${formatBytes(p.size)}; use size: ${sizeArgument(minimum.bytes * 1.1)} or more, or auto`);
          }
        }
        const st = await lstat(dir);
        await makeExt4({
          tree: dir,
          image: file,
          scratch: join(work, 'scratch', `ext4-${i}`),
          geometry: geometry!,
          root: { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), xattrs: [] },
          specials: own,
          label: p.label ?? p.name.slice(0, 16),
          uuid: identity.filesystemUuids[i]!,
          hashSeed: identity.hashSeeds[i]!,
          ...(epoch === undefined ? {} : { epoch }),
        }).catch((e: unknown) => {
          if (e instanceof ExportError && e.code === 'EEXT4SIZE') throw tooLarge(p.sizeAt, `${what}: the content does not fit in ${formatBytes(geometry!.bytes)} of ext4 (${e.message}); make size bigger, or auto`);
          throw e;
        });
        size = p.size === 'auto' ? geometry!.bytes : p.size;
      } else if (p.type === 'vfat') {
        const content = await vfatContentBytes(dir);
        const room = 'fraction' in p.headroom ? content * p.headroom.fraction : p.headroom.bytes;
        size = p.size === 'auto' ? autoSize(Math.max(content + room + vfatOverhead(content), 4 * 2 ** 20), disk.align) : p.size;
        await makeVfat({ tree: dir, image: file, bytes: size, label: vfatLabel(p), volumeId: identity.volumeIds[i]!, what, ...(epoch === undefined ? {} : { epoch }) }).catch((e: unknown) => {
          if (e instanceof VfatFullError) throw tooLarge(p.sizeAt, `${what}: the content (about ${formatBytes(content)}) does not fit in ${formatBytes(size)} of vfat; make size bigger, or auto`);
          throw e;
        });
      } else {
        const scratch = join(work, 'scratch', `${p.type}-${i}`);
        await mkdir(scratch, { recursive: true });
        const input = { tree: dir, image: file, scratch, specials: own, ...(epoch === undefined ? {} : { epoch }), uuid: identity.filesystemUuids[i]! };
        if (p.type === 'squashfs') await makeSquashfs(input);
        else await makeErofs(input);
        const bytes = (await stat(file)).size;
        if (p.size !== 'auto' && bytes > p.size) throw tooLarge(p.sizeAt, `${what}: the ${p.type} image (${formatBytes(bytes)}) does not fit in ${formatBytes(p.size)}; use size: ${sizeArgument(bytes)} or more, or auto`);
        size = p.size === 'auto' ? autoSize(bytes, disk.align) : p.size;
      }
      files.push(file);
      sizes.push(size);
    }

    // Place them; the rules are the config check's, now with every size known.
    const rawLengths = await Promise.all(rawBytes.map(async (f) => (await stat(f)).size));
    const layout = planLayout({
      table: disk.table,
      align: disk.align,
      ...(disk.size === undefined ? {} : { diskSize: disk.size }),
      partitions: disk.partitions.map((p, i) => ({ name: p.name, size: sizes[i]!, ...(p.start === undefined ? {} : { start: p.start }), at: p.at, sizeAt: p.sizeAt, startAt: p.startAt })),
      raw: disk.raw.map((r, i) => ({ offset: r.offset, length: rawLengths[i]!, at: r.at })),
    });
    if (layout.problems.length > 0) throw new ConfigError(layout.problems.map((p) => ({ ...p.at, message: p.message })));
    const diskSize = layout.diskSize!;
    const extents = layout.partitions.map((e) => e!);

    // The table first (on a file of the disk's size), then the contents at their offsets.
    const fh = await open(payload.image, 'wx', 0o644);
    try {
      await fh.truncate(diskSize);
    } finally {
      await fh.close();
    }
    await writeTable(payload.image, disk, identity, extents);
    const out = await open(payload.image, 'r+');
    try {
      for (const [i, file] of files.entries()) await copyInto(out, file, extents[i]!.start);
      for (const [i, file] of rawBytes.entries()) await copyInto(out, file, disk.raw[i]!.offset);
      await out.sync();
    } finally {
      await out.close();
    }

    return {
      bytes: diskSize,
      partitions: disk.partitions.map((p, i) => ({
        name: p.name,
        type: p.type,
        start: extents[i]!.start,
        size: extents[i]!.size,
        partuuid: disk.table === 'gpt' ? identity.partitionUuids[i]!.toLowerCase() : `${identity.diskId.slice(2).toLowerCase()}-${String(i + 1).padStart(2, '0')}`,
        ...(p.type === 'ext4' || p.type === 'erofs' ? { fsid: identity.filesystemUuids[i]! } : p.type === 'vfat' ? { fsid: `${identity.volumeIds[i]!.slice(0, 4)}-${identity.volumeIds[i]!.slice(4)}`.toUpperCase() } : {}),
      })),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Layout errors come back as ConfigErrors, with their eib.yaml positions. */
export const buildDiskTask = namespaceTask(import.meta.url, 'buildDiskTask', buildDiskInside, { errors: [ExportError, ConfigError] });

/** A regular file of the materialized image. */
async function imageFile(tree: string, path: string, what: string): Promise<string> {
  const abs = await pathInTree(tree, path, what);
  if (!(await lstat(abs)).isFile()) throw new ExportError('EDISK', `${what}: ${path} is not a regular file of the image`);
  return abs;
}

function vfatLabel(p: DiskPartition): string {
  return p.label ?? (p.name.toUpperCase().replace(/[^A-Z0-9_-]/g, '_').slice(0, 11) || 'NO NAME');
}

/** sfdisk's script for the table: every identity given, so two runs write the same bytes. */
export function sfdiskScript(disk: DiskOutput, identity: DiskIdentity, extents: readonly { start: number; size: number }[]): string {
  const gpt = disk.table === 'gpt';
  const lines = [`label: ${gpt ? 'gpt' : 'dos'}`, `label-id: ${identity.diskId}`, 'unit: sectors', ...(gpt ? ['first-lba: 34'] : []), ''];
  for (const [i, p] of disk.partitions.entries()) {
    const e = extents[i]!;
    const fields = [`start=${e.start / SECTOR}`, `size=${e.size / SECTOR}`];
    if (gpt) {
      fields.push(`type=${p.gptType ?? GPT_TYPES[p.type]}`, `uuid=${identity.partitionUuids[i]!}`, `name="${p.name}"`);
      if (p.bootable) fields.push('attrs="LegacyBIOSBootable"');
    } else {
      fields.push(`type=${p.mbrType ?? MBR_TYPES[p.type]}`);
      if (p.bootable) fields.push('bootable');
    }
    lines.push(fields.join(', '));
  }
  return `${lines.join('\n')}\n`;
}

async function writeTable(image: string, disk: DiskOutput, identity: DiskIdentity, extents: readonly { start: number; size: number }[]): Promise<void> {
  const sfdisk = imageTool('sfdisk', 'a disk image');
  const r = await runImageTool([sfdisk, '--no-reread', '--no-tell-kernel', '--wipe', 'never', '-q', image], { input: sfdiskScript(disk, identity, extents) });
  if (r.code !== 0) throw new ExportError('EDISK', `sfdisk could not write the ${disk.table} table: ${toolTail(r)}`);
}

/** Copy a file into the fresh disk at `offset`, skipping chunks of zeros: they stay holes, and read as zeros. */
async function copyInto(out: FileHandle, file: string, offset: number): Promise<void> {
  const input = await open(file, 'r');
  const buf = Buffer.alloc(CHUNK);
  const zero = Buffer.alloc(CHUNK);
  try {
    let pos = 0;
    for (;;) {
      const { bytesRead } = await input.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      if (!chunk.equals(zero.subarray(0, bytesRead))) await out.write(chunk, 0, bytesRead, offset + pos);
      pos += bytesRead;
    }
  } finally {
    await input.close();
  }
}
