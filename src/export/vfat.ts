/**
 * A vfat filesystem image of a tree: mkfs.vfat on a file of the partition's
 * size, then mtools' mmd and mcopy, folders and files in sorted order so
 * short names and directory order come out the same every time. With an
 * epoch, SOURCE_DATE_EPOCH fixes the times mkfs.vfat and mtools would take
 * from the clock, --invariant the rest, and file times come from the tree.
 * FAT has no owners, modes, symlinks or device nodes: a tree with symlinks
 * or special files is refused.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ExportError } from './errors.js';
import { imageTool, runImageTool, toolTail } from './image-tools.js';
import { listTree } from './partition-tree.js';

/** Files per mcopy run, well under the argument length limit. */
const BATCH = 200;

export interface MakeVfatInput {
  tree: string;
  image: string;
  bytes: number;
  label: string;
  /** 8 hex digits. */
  volumeId: string;
  epoch?: number;
  /** For messages: `partition "boot"`. */
  what: string;
}

/** Bytes of content plus a cluster's rounding per file and a cluster per folder, which a vfat of `auto` size must hold. */
export async function vfatContentBytes(tree: string): Promise<number> {
  const { dirs, files } = await listTree(tree);
  return files.reduce((sum, f) => sum + Math.ceil(f.size / 4096) * 4096, 0) + (dirs.length + 1) * 4096;
}

/** FAT tables, reserved sectors and root directory, with room to spare. */
export function vfatOverhead(contentBytes: number): number {
  return 2 ** 20 + Math.ceil(contentBytes / 50);
}

export class VfatFullError extends ExportError {}

export async function makeVfat(input: MakeVfatInput): Promise<void> {
  const mkfs = imageTool('mkfs.vfat', 'a vfat partition');
  const mmd = imageTool('mmd', 'a vfat partition');
  const mcopy = imageTool('mcopy', 'a vfat partition');
  const { dirs, files, others } = await listTree(input.tree);
  if (others.length > 0) {
    throw new ExportError('EDISK', `${input.what}: /${others[0]} is a symlink or special file, which vfat cannot hold; remove it from the partition's content, or use ext4`);
  }
  const fh = await open(input.image, 'wx', 0o644);
  try {
    await fh.truncate(input.bytes);
  } finally {
    await fh.close();
  }
  const epochOpt = input.epoch === undefined ? {} : { epoch: input.epoch };
  const made = await runImageTool([mkfs, ...(input.epoch === undefined ? [] : ['--invariant']), '-i', input.volumeId, '-n', input.label, input.image], epochOpt);
  if (made.code !== 0) throw new ExportError('EDISK', `${input.what}: mkfs.vfat failed (exit ${made.code}): ${toolTail(made)}`);

  const mtools = async (argv: string[]): Promise<void> => {
    const r = await runImageTool(argv, epochOpt);
    if (r.code === 0) return;
    if (/disk full|no free|not enough space|no space/i.test(r.stderr)) throw new VfatFullError('EDISK', `${input.what}: the content does not fit in ${input.bytes} bytes of vfat`);
    throw new ExportError('EDISK', `${input.what}: ${argv[0]!.split('/').pop()!} failed (exit ${r.code}): ${toolTail(r)}`);
  };
  for (let i = 0; i < dirs.length; i += BATCH) await mtools([mmd, '-i', input.image, ...dirs.slice(i, i + BATCH).map((d) => `::/${d}`)]);
  const byDir = new Map<string, string[]>();
  for (const f of files) {
    const slash = f.path.lastIndexOf('/');
    const dir = slash < 0 ? '' : f.path.slice(0, slash);
    byDir.set(dir, [...(byDir.get(dir) ?? []), f.path]);
  }
  for (const [dir, paths] of byDir) {
    for (let i = 0; i < paths.length; i += BATCH) {
      await mtools([mcopy, '-i', input.image, '-m', '-D', 'o', ...paths.slice(i, i + BATCH).map((p) => join(input.tree, p)), `::/${dir}${dir === '' ? '' : '/'}`]);
    }
  }
}
