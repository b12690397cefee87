/**
 * An erofs image of a materialized tree, inside the namespace, so the
 * tree's owners are the image's own. mkfs.erofs (1.5) reads only a
 * directory: FIFOs are created in the tree first (a user namespace may make
 * those), while device nodes cannot be and are refused with what to do.
 * With an epoch the build time and UUID are fixed, so the same tree gives
 * the same bytes. Files keep their own mtimes (--preserve-mtime); data is
 * lz4hc-compressed, which every kernel with erofs reads.
 */
import { chmod, lchown, lstat, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { findTool } from '../fs/tool.js';
import { ExportError } from './errors.js';
import { imageTool, runImageTool, toolTail } from './image-tools.js';
import type { MakeTreeImageInput } from './squashfs.js';

export async function makeErofs(input: MakeTreeImageInput): Promise<void> {
  const tool = imageTool('mkfs.erofs', 'an erofs image');
  const mkfifo = findTool('mkfifo') ?? 'mkfifo';
  for (const s of input.specials) {
    const shown = `/${Buffer.from(s.path, 'latin1').toString('utf8')}`;
    if (s.type !== 'fifo') {
      throw new ExportError(
        'EEROFS',
        `the image holds the device node ${shown}, which an erofs image made without root cannot hold (mkfs.erofs reads a directory, and a user namespace cannot create device nodes); ` +
          'remove device nodes in a stage (devtmpfs provides /dev at boot), or use squashfs or ext4, which eib writes with them',
      );
    }
    // Names are latin1 binary strings (bytes as read from the tar); the file system wants those bytes.
    const p = Buffer.concat([Buffer.from(input.tree), Buffer.from(`/${s.path}`, 'latin1')]);
    const parent = Buffer.from(dirname(p.toString('latin1')), 'latin1');
    const parentStat = await lstat(parent);
    const r = await runImageTool([mkfifo, '-m', s.mode.toString(8), p.toString()]);
    if (r.code !== 0) throw new ExportError('EEROFS', `could not create the FIFO ${shown} in the exported tree: ${toolTail(r)}`);
    await lchown(p, s.uid, s.gid);
    await chmod(p, s.mode);
    await utimes(p, s.mtime, s.mtime);
    // Creating the FIFO touched its folder: put the folder's time back.
    await utimes(parent, parentStat.atime, parentStat.mtime);
  }
  const args = [tool, '-zlz4hc', '--preserve-mtime', '--quiet'];
  if (input.epoch !== undefined) args.push(`-T${input.epoch}`);
  if (input.uuid !== undefined) args.push(`-U${input.uuid}`);
  args.push(input.image, input.tree);
  const r = await runImageTool(args, input.epoch === undefined ? {} : { epoch: input.epoch });
  if (r.code !== 0) throw new ExportError('EEROFS', `mkfs.erofs failed (exit ${r.code}): ${toolTail(r)}`);
}
