/**
 * A squashfs image of a materialized tree, inside the namespace, so the
 * tree's owners are the image's own: mksquashfs copies owners, modes,
 * hardlinks, symlinks and xattrs, and takes the device nodes and FIFOs the
 * namespace cannot create from a pseudo file (with their times). Since
 * squashfs-tools 4.4 the output is reproducible; with an epoch the
 * filesystem's own time is the epoch too, so the same tree gives the same
 * bytes.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExportError } from './errors.js';
import { imageTool, runImageTool, toolTail } from './image-tools.js';
import type { SpecialEntry } from './materialize.js';

export interface MakeTreeImageInput {
  tree: string;
  /** A new file to write. */
  image: string;
  /** A folder for scratch files (created by the caller). */
  scratch: string;
  /** Device nodes and FIFOs of the tree, relative to it. */
  specials: readonly SpecialEntry[];
  epoch?: number;
  /** erofs only: the filesystem UUID. */
  uuid?: string;
}

export async function makeSquashfs(input: MakeTreeImageInput): Promise<void> {
  const tool = imageTool('mksquashfs', 'a squashfs image');
  const args = [tool, input.tree, input.image, '-noappend', '-no-progress', '-quiet', '-reproducible', '-processors', '2'];
  if (input.epoch !== undefined) args.push('-mkfs-time', String(input.epoch));
  if (input.specials.length > 0) {
    const pseudo = join(input.scratch, 'squashfs.pseudo');
    await writeFile(pseudo, Buffer.from(input.specials.map(pseudoLine).join('\n') + '\n', 'latin1'));
    args.push('-pf', pseudo);
  }
  // Not SOURCE_DATE_EPOCH: mksquashfs refuses it together with -mkfs-time, and files keep their own times.
  const r = await runImageTool(args);
  if (r.code !== 0) throw new ExportError('ESQUASHFS', `mksquashfs failed (exit ${r.code}): ${toolTail(r)}`);
}

/** "dev/console C 1700000000 620 0 5 5 1": mksquashfs' timed pseudo definitions (4.5 and later). */
function pseudoLine(s: SpecialEntry): string {
  if (/[\s"\\]/.test(s.path)) {
    throw new ExportError('ESQUASHFS', `/${Buffer.from(s.path, 'latin1').toString('utf8')}: a device node or FIFO whose name has a space, quote or backslash cannot be given to mksquashfs; rename it in the image`);
  }
  const head = `${s.path} ${s.type === 'char' ? 'C' : s.type === 'block' ? 'B' : 'I'} ${s.mtime} ${s.mode.toString(8)} ${s.uid} ${s.gid}`;
  return s.type === 'fifo' ? `${head} f` : `${head} ${s.major} ${s.minor}`;
}
