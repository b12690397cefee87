/**
 * The root a stage runs in, mounted inside the namespace: an overlay of the
 * earlier layers (read-only lowers) and the stage's upperdir, plus /proc,
 * a read-only /sys, a minimal /dev and, while the network is on, the host's
 * /etc/resolv.conf. Nothing of this may leak into the layer, while what
 * packages install at those paths (alpine-baselayout's /proc, /sys, /dev,
 * /dev/pts, /dev/shm with their modes) must stay in it:
 * - the mount points /proc, /sys and /dev come from a scaffold lower below
 *   every layer (three empty directories), so mounting creates nothing in
 *   the upperdir; only a write to them (a package's chmod) copies them up;
 * - `files` is a second, non-recursive view of the overlay without the
 *   stage mounts: what the installer, the files step and removals write
 *   there lands in the layer, also under /proc or /dev, hidden by the
 *   mounts while scripts run just as on a booted system;
 * - release() unmounts everything and removes the other mount points it
 *   had to create (resolv.conf, or /proc when a layer removed it), and the
 *   directories the kernel copied up to hold them.
 */
import { mkdir, readdir, rm, rmdir, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import type { AlpineArch } from '../config/types.js';
import { SandboxError } from './errors.js';
import { detachTrees, mountAll, type MountOp } from './mount-tool.js';
import { HOST_ROOT } from './chroot.js';
import { lstatOrUndefined } from '../fs/stat.js';

export interface StageRootOptions {
  /** Lower layers, top first; may be empty (a first stage). */
  lowers: readonly string[];
  upper: string;
  work: string;
  merged: string;
  /** Where the view without stage mounts goes; default: beside merged ("<merged>-files"). */
  files?: string;
  /** Bind the host's /etc/resolv.conf while the stage runs. */
  network: boolean;
  /** The rootfs arch; emulation itself is set up by ensureEmulation. */
  arch: AlpineArch;
}

export interface StageRoot {
  /** The merged root to chroot into (same as options.merged). */
  root: string;
  /**
   * The same overlay without /proc, /sys, /dev and resolv.conf mounted on
   * it: write the image's files here (the installer, the files step), so
   * that a package's /dev/pts lands in the layer rather than in the
   * stage's tmpfs. Scripts run in `root`.
   */
  files: string;
  /** Unmount everything and remove what was created for the mounts; idempotent. */
  release(): Promise<void>;
}

/** Host device nodes bound into the stage's /dev. */
const DEVICE_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;
/** Mount points present in every stage root without being in any layer (see the top). */
const SCAFFOLD_DIRS = ['proc', 'sys', 'dev'] as const;
/** The kernel limits mount options to a page; stay well below it. */
const MAX_OPTIONS = 3000;

interface Ancestor {
  inUpperBefore: boolean;
  stat: Stats;
}

export async function mountStageRoot(options: StageRootOptions): Promise<StageRoot> {
  const { upper, work, merged } = options;
  const files = options.files ?? `${merged}-files`;
  for (const p of [...options.lowers, upper, work, merged]) checkOverlayPath(p);
  await mkdir(upper, { recursive: true });
  await mkdir(work, { recursive: true });
  await mkdir(merged, { recursive: true });
  await mkdir(files, { recursive: true });

  /** The trees mounted so far (the overlay and its second view); everything else is mounted below the first. */
  const mounted: string[] = [];
  /** Paths (relative to the root) created as mount points, in creation order. */
  const created: string[] = [];
  const ancestors = new Map<string, Ancestor>();
  let scaffold: string | undefined;
  let released = false;

  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    let firstError: unknown;
    try {
      // The stage's processes have ended: both trees go at once, submounts included.
      await detachTrees(mounted.reverse());
    } catch (e) {
      firstError = e;
    }
    if (firstError === undefined) await removeCreated(upper, created, ancestors);
    if (scaffold !== undefined) await rm(scaffold, { recursive: true, force: true });
    if (firstError === undefined) await rmdir(files).catch(() => undefined);
    if (firstError !== undefined) throw firstError;
  };

  try {
    // Also the lower overlayfs needs for a first stage, whose root starts empty but for these.
    scaffold = `${merged}-scaffold`;
    await rm(scaffold, { recursive: true, force: true });
    await mkdir(scaffold);
    for (const dir of SCAFFOLD_DIRS) await mkdir(join(scaffold, dir), { mode: 0o755 });
    // Non-recursive: the second view has none of the mounts below.
    await mountAll([overlayMount([...options.lowers, scaffold], upper, work, merged), { args: ['--bind', merged, files], what: `the overlay at ${files}` }]);
    mounted.push(merged, files);

    const point = (rel: string, kind: 'dir' | 'file'): Promise<string> => prepareMountPoint(merged, upper, rel, kind, created, ancestors);
    const proc = await point('proc', 'dir');
    const sys = await point('sys', 'dir');
    const dev = await point('dev', 'dir');
    const resolv = options.network && (await isFile('/etc/resolv.conf')) ? await prepareResolvConf(merged, upper, created, ancestors) : undefined;
    await mountAll([
      { args: ['-t', 'proc', '-o', 'nosuid,nodev,noexec', 'proc', proc], what: '/proc in the stage root' },
      // sysfs cannot be mounted fresh without a network namespace: bind it.
      { args: ['--rbind', '-o', 'ro', '/sys', sys], what: '/sys in the stage root' },
      { args: ['-t', 'tmpfs', '-o', 'mode=755,nosuid,noexec,size=1m', 'tmpfs', dev], what: '/dev in the stage root' },
    ]);
    await mountAll([
      ...(await populateDev(dev)),
      ...(resolv === undefined ? [] : [{ args: ['--bind', '-o', 'ro', '/etc/resolv.conf', resolv], what: '/etc/resolv.conf in the stage root' }]),
    ]);
  } catch (e) {
    await release().catch(() => undefined);
    throw e;
  }
  return { root: merged, files, release };
}

function checkOverlayPath(p: string): void {
  if (!isAbsolute(p)) throw new SandboxError('EMOUNT', `stage root path ${p} is not absolute`);
  // overlayfs separates lowers with ':' and options with ','.
  if (/[,:\n\\]/.test(p)) throw new SandboxError('EMOUNT', `stage root path ${p} contains ',', ':', '\\' or a newline, which overlayfs options cannot hold; use a cache directory without them`);
}

/** The overlay mount; with many layers, lowers are named relative to the folder of the first (the cache's snapshots). */
function overlayMount(lowers: readonly string[], upper: string, work: string, merged: string): MountOp {
  let opts = `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work},userxattr`;
  const what = `the overlay of ${lowers.length} layer(s) at ${merged}`;
  if (opts.length <= MAX_OPTIONS) return { args: ['-t', 'overlay', '-o', opts, 'overlay', merged], what };
  // Paths elsewhere (scaffold, a shell's scratch) stay absolute.
  const cwd = dirname(lowers[0]!);
  const name = (p: string): string => {
    const rel = relative(cwd, p);
    return rel === '' ? '.' : rel.startsWith('..') ? p : rel;
  };
  opts = `lowerdir=${lowers.map(name).join(':')},upperdir=${name(upper)},workdir=${name(work)},userxattr`;
  if (opts.length > MAX_OPTIONS) throw new SandboxError('EMOUNT', `too many layers (${lowers.length}) for one overlay mount; merge some stages`);
  return { args: ['-t', 'overlay', '-o', opts, 'overlay', merged], what, cwd };
}

/** The host's harmless nodes, a private devpts and /dev/shm in the tmpfs /dev: the folders and files made here, the mounts returned. */
async function populateDev(dev: string): Promise<MountOp[]> {
  const ops: MountOp[] = [];
  for (const node of DEVICE_NODES) {
    const target = join(dev, node);
    await writeFile(target, '', { mode: 0o644 });
    ops.push({ args: ['--bind', `/dev/${node}`, target], what: `/dev/${node} in the stage root` });
  }
  await mkdir(join(dev, 'pts'), { mode: 0o755 });
  ops.push({ args: ['-t', 'devpts', '-o', 'newinstance,ptmxmode=0666,mode=0620', 'devpts', join(dev, 'pts')], what: '/dev/pts in the stage root' });
  await symlink('pts/ptmx', join(dev, 'ptmx'));
  await mkdir(join(dev, 'shm'), { mode: 0o1777 });
  ops.push({ args: ['-t', 'tmpfs', '-o', 'mode=1777,nosuid,nodev', 'shm', join(dev, 'shm')], what: '/dev/shm in the stage root' });
  await symlink('/proc/self/fd', join(dev, 'fd'));
  await symlink('/proc/self/fd/0', join(dev, 'stdin'));
  await symlink('/proc/self/fd/1', join(dev, 'stdout'));
  await symlink('/proc/self/fd/2', join(dev, 'stderr'));
  // Where each script's pivot_root parks the host's root: made once here rather than by a mkdir per script.
  await mkdir(join(dev, basename(HOST_ROOT)), { mode: 0o700 });
  return ops;
}

/**
 * Make sure `rel` exists in the merged root as a directory or file to mount
 * on, creating what is missing (and remembering it). Symlinks are refused:
 * mount(8) would follow them on the host side.
 */
async function prepareMountPoint(
  root: string,
  upper: string,
  rel: string,
  kind: 'dir' | 'file',
  created: string[],
  ancestors: Map<string, Ancestor>,
): Promise<string> {
  const parts = rel.split('/');
  for (let i = 0; i < parts.length; i++) {
    const sub = parts.slice(0, i + 1).join('/');
    const last = i === parts.length - 1;
    const path = join(root, sub);
    const st = await lstatOrUndefined(path);
    if (st === undefined) {
      if (last && kind === 'file') await writeFile(path, '', { mode: 0o644 });
      else await mkdir(path, { mode: 0o755 });
      created.push(sub);
      continue;
    }
    if (st.isSymbolicLink()) throw new SandboxError('EMOUNT', `/${sub} is a symlink in the stage root; eib mounts ${kind === 'dir' ? 'a filesystem' : 'a file'} on /${rel} and cannot follow it`);
    const wantDir = !last || kind === 'dir';
    if (wantDir ? !st.isDirectory() : !st.isFile()) throw new SandboxError('EMOUNT', `/${sub} in the stage root is not a ${wantDir ? 'directory' : 'regular file'}; eib needs to mount on /${rel}`);
    if (!last && !ancestors.has(sub)) {
      // Creating below it copies this directory up into the upperdir.
      ancestors.set(sub, { inUpperBefore: (await lstatOrUndefined(join(upper, sub))) !== undefined, stat: st });
    }
  }
  return join(root, rel);
}

/** /etc/resolv.conf as a mount point, or undefined when the rootfs makes it a symlink. */
async function prepareResolvConf(root: string, upper: string, created: string[], ancestors: Map<string, Ancestor>): Promise<string | undefined> {
  const st = await lstatOrUndefined(join(root, 'etc', 'resolv.conf'));
  if (st?.isSymbolicLink()) {
    process.stderr.write('warning: /etc/resolv.conf is a symlink in the stage root; the host resolver configuration is not bound in\n');
    return undefined;
  }
  return prepareMountPoint(root, upper, 'etc/resolv.conf', 'file', created, ancestors);
}

/** After unmounting: remove created mount points, then the copied-up parents left empty and unchanged. */
async function removeCreated(upper: string, created: readonly string[], ancestors: Map<string, Ancestor>): Promise<void> {
  for (const rel of [...created].reverse()) {
    const path = join(upper, rel);
    const st = await lstatOrUndefined(path);
    if (st === undefined) continue;
    if (st.isDirectory()) {
      if ((await readdir(path)).length === 0) await rmdir(path);
    } else if (st.isFile() && st.size === 0) {
      await unlink(path);
    }
  }
  const deepestFirst = [...ancestors.entries()].sort(([a], [b]) => b.split('/').length - a.split('/').length);
  for (const [rel, before] of deepestFirst) {
    if (before.inUpperBefore) continue;
    const path = join(upper, rel);
    const st = await lstatOrUndefined(path);
    if (st === undefined || !st.isDirectory()) continue;
    const unchanged = st.mode === before.stat.mode && st.uid === before.stat.uid && st.gid === before.stat.gid;
    if (unchanged && (await readdir(path)).length === 0) await rmdir(path);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
