/**
 * Making the ext4 image from a materialized tree, inside the namespace:
 * `mke2fs -d` copies the tree with its (namespace) owners, modes,
 * hardlinks, symlinks and xattrs; one debugfs run then adds what the tree
 * could not hold (device nodes, FIFOs), sets the root directory's own
 * attributes, and, with an epoch, the inode times the tree cannot carry
 * (ctime, atime) so two exports of one image are byte-identical.
 *
 * The mke2fs profile is eib's own, not the host's /etc/mke2fs.conf, so
 * the image does not depend on the host: 4 KiB blocks, 256-byte inodes and
 * the ext4 features every kernel since 3.18 and e2fsprogs since 1.43 handle
 * (no orphan_file, which older fsck tools refuse).
 */
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExportError } from './errors.js';
import { BLOCK_SIZE, INODE_SIZE, type Ext4Geometry } from './ext4-size.js';
import { e2fsTool } from './e2fs-tools.js';
import { runTool, tailLines } from '../fs/tool.js';
import type { SpecialEntry } from './materialize.js';

const PROFILE = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = ${BLOCK_SIZE}
	inode_size = ${INODE_SIZE}
	inode_ratio = 16384
	reserved_ratio = 5.0

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`;

export interface RootAttrs {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  xattrs: [string, string][];
}

export interface MakeExt4Input {
  tree: string;
  image: string;
  /** Folder for the profile, the debugfs script and xattr values. */
  scratch: string;
  geometry: Ext4Geometry;
  label?: string;
  uuid?: string;
  hashSeed?: string;
  epoch?: number;
  root: RootAttrs;
  specials: readonly SpecialEntry[];
}

export async function makeExt4(input: MakeExt4Input): Promise<void> {
  await mkdir(input.scratch, { recursive: true });
  const profile = join(input.scratch, 'mke2fs.conf');
  await writeFile(profile, PROFILE);
  const env: NodeJS.ProcessEnv = { ...process.env, MKE2FS_CONFIG: profile, LC_ALL: 'C' };
  // libext2fs takes "now" from here: superblock and new-inode times.
  if (input.epoch !== undefined) env['E2FSPROGS_FAKE_TIME'] = String(input.epoch);
  delete env['MKE2FS_SYNC'];
  delete env['MKE2FS_DEVICE_SECTSIZE'];
  delete env['MKE2FS_DEVICE_PHYS_SECTSIZE'];

  // A fresh sparse file of the exact size: mke2fs fills in what it uses.
  const fh = await open(input.image, 'wx', 0o644);
  try {
    await fh.truncate(input.geometry.bytes);
  } finally {
    await fh.close();
  }

  const extended = ['root_owner=0:0', 'lazy_itable_init=0', 'lazy_journal_init=0', 'nodiscard'];
  if (input.hashSeed !== undefined) extended.push(`hash_seed=${input.hashSeed}`);
  const args = ['-q', '-F', '-t', 'ext4', '-b', String(BLOCK_SIZE), '-I', String(INODE_SIZE), '-N', String(input.geometry.inodes), '-E', extended.join(',')];
  if (input.label !== undefined) args.push('-L', input.label);
  if (input.uuid !== undefined) args.push('-U', input.uuid);
  args.push('-d', input.tree, input.image, String(input.geometry.blocks));
  const made = await runTool([e2fsTool('mke2fs'), ...args], { env });
  if (made.code !== 0) {
    if (/allocate|no space|no free space|could not find.*free|too small/i.test(made.stderr)) {
      throw new ExportError('EEXT4SIZE', `the ext4 image of ${input.geometry.bytes} bytes is too small for the tree (mke2fs: ${tailLines(made.stderr, 1)})`);
    }
    throw new ExportError('EEXT4', `mke2fs failed (exit ${made.code}): ${tailLines(made.stderr, 5)}`);
  }

  await runDebugfs(input, env, 'structure', await structureScript(input));
  if (input.epoch !== undefined) {
    // The tree's ctimes and atimes are when it was unpacked and read: set every inode's to the epoch.
    const epoch = input.epoch;
    const lines = (await usedInodes(input.image, env)).flatMap((ino) => [`sif <${ino}> atime @${epoch}`, `sif <${ino}> ctime @${epoch}`]);
    await runDebugfs(input, env, 'times', `${lines.join('\n')}\n`);
  }
}

async function runDebugfs(input: MakeExt4Input, env: NodeJS.ProcessEnv, name: string, script: string): Promise<void> {
  const scriptFile = join(input.scratch, `debugfs-${name}.cmds`);
  await writeFile(scriptFile, Buffer.from(script, 'latin1'));
  const r = await runTool([e2fsTool('debugfs'), '-w', '-f', scriptFile, input.image], { env });
  // debugfs exits 0 even when a command fails; its errors are lines on stderr besides its banner.
  const errors = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/^debugfs \d/.test(l));
  if (r.code !== 0 || errors.length > 0) {
    const text = errors.join('\n') || r.stderr;
    if (/no free space|could not allocate|no space/i.test(text)) throw new ExportError('EEXT4SIZE', `the ext4 image has no room left for the device nodes (debugfs: ${tailLines(text, 1)})`);
    throw new ExportError('EEXT4', `debugfs could not finish the ext4 image: ${tailLines(text, 5)}`);
  }
}

/** debugfs commands: the root's attributes and the special files. */
async function structureScript(input: MakeExt4Input): Promise<string> {
  const lines: string[] = [];
  let values = 0;
  const eaSet = async (target: string, xattrs: readonly [string, string][]): Promise<void> => {
    for (const [name, value] of xattrs) {
      const file = join(input.scratch, `xattr-${values++}`);
      await writeFile(file, Buffer.from(value, 'base64'));
      lines.push(`ea_set -f ${quote(file, 'an xattr value file')} ${target} ${quote(name, 'an xattr name')}`);
    }
  };

  const root = input.root;
  lines.push(`sif <2> mode 0${(0o040000 | root.mode).toString(8)}`, `sif <2> uid ${root.uid}`, `sif <2> gid ${root.gid}`, `sif <2> mtime @${root.mtime}`);
  await eaSet('<2>', root.xattrs);

  for (const s of input.specials) {
    const slash = s.path.lastIndexOf('/');
    const dir = `/${slash < 0 ? '' : s.path.slice(0, slash)}`;
    const name = quote(s.path.slice(slash + 1), `/${s.path}`);
    const typeBits = s.type === 'char' ? 0o020000 : s.type === 'block' ? 0o060000 : 0o010000;
    lines.push(`cd ${quote(dir, dir)}`);
    lines.push(s.type === 'fifo' ? `mknod ${name} p` : `mknod ${name} ${s.type === 'char' ? 'c' : 'b'} ${s.major} ${s.minor}`);
    lines.push(`sif ${name} mode 0${(typeBits | s.mode).toString(8)}`, `sif ${name} uid ${s.uid}`, `sif ${name} gid ${s.gid}`, `sif ${name} mtime @${s.mtime}`);
    await eaSet(name, s.xattrs);
    lines.push('cd /');
  }

  return `${lines.join('\n')}\n`;
}

/** Inodes in use, from dumpe2fs' per-group free-inode ranges; reserved inodes other than the root are left alone. */
async function usedInodes(image: string, env: NodeJS.ProcessEnv): Promise<number[]> {
  const r = await runTool([e2fsTool('dumpe2fs'), image], { env });
  if (r.code !== 0) throw new ExportError('EEXT4', `dumpe2fs could not read the new ext4 image: ${tailLines(r.stderr, 5)}`);
  const perGroup = Number(/^Inodes per group:\s+(\d+)/m.exec(r.stdout)?.[1]);
  const total = Number(/^Inode count:\s+(\d+)/m.exec(r.stdout)?.[1]);
  const firstIno = Number(/^First inode:\s+(\d+)/m.exec(r.stdout)?.[1] ?? '11');
  if (!(perGroup > 0 && total > 0)) throw new ExportError('EEXT4', 'dumpe2fs printed no inode counts for the new ext4 image');
  const free = new Uint8Array(total + 1);
  let group = -1;
  for (const line of r.stdout.split('\n')) {
    const g = /^Group (\d+):/.exec(line);
    if (g) {
      group = Number(g[1]);
      continue;
    }
    const f = /^\s+Free inodes:\s*(.*)$/.exec(line);
    if (!f || group < 0) continue;
    for (const range of f[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [a, b] = range.split('-').map(Number);
      for (let i = a!; i <= (b ?? a!); i++) if (i <= total) free[i] = 1;
    }
  }
  const used: number[] = [2];
  for (let ino = firstIno; ino <= total; ino++) if (!free[ino]) used.push(ino);
  return used;
}

/** debugfs arguments are split on spaces; double quotes keep one together but cannot contain a quote. */
function quote(s: string, what: string): string {
  if (/["\n\r\0]/.test(s)) {
    throw new ExportError('EEXT4', `${Buffer.from(what, 'latin1').toString('utf8')}: a name with a double quote or a line break cannot be written by debugfs; rename it in the image`);
  }
  return `"${s}"`;
}
