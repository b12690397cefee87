/**
 * What the shared-cache tests do inside the namespace (through
 * shared-cache-driver.ts, as the unprivileged test user): make a real stage
 * upperdir on overlayfs and write its layer, re-write a snapshot's layer,
 * and describe the tree an overlay of snapshots shows.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeLayer } from '../../src/layer/write.js';
import type { Descriptor, Digest } from '../../src/oci/types.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { createHash } from 'node:crypto';
import { namespaceTask } from '../../src/sandbox/task.js';

const MTIME = new Date('2022-03-04T05:06:07Z');
const BASE_MTIME = new Date('2020-01-01T00:00:00Z');

export interface LayerResult {
  layer: Descriptor | null;
  diffId: Digest | null;
  entries: number;
}

function mountOverlay(options: string, target: string): void {
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `userxattr,${options}`, target], { stdio: 'pipe' });
}

/** Every path under `root` (deepest last), as latin1 strings, symlinks not followed. */
function allPaths(root: string): string[] {
  const out: string[] = [];
  const visit = (rel: Buffer): void => {
    const abs = rel.length === 0 ? Buffer.from(root) : Buffer.concat([Buffer.from(`${root}/`), rel]);
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      const child = rel.length === 0 ? name : Buffer.concat([rel, Buffer.from('/'), name]);
      out.push(child.toString('latin1'));
      if (lstatSync(Buffer.concat([Buffer.from(`${root}/`), child])).isDirectory()) visit(child);
    }
  };
  visit(Buffer.alloc(0));
  return out;
}

/**
 * A lower tree (`base`) and a stage on top of it, made through a real
 * overlay mount: copy-ups, a whiteout, an opaque directory, and every kind
 * of entry a namespace can make. The upperdir becomes `snapshot`; its
 * layer goes to the blob store at `storeDir`.
 */
async function makeStage(payload: { work: string; base: string; snapshot: string; storeDir: string; empty?: boolean }): Promise<LayerResult> {
  const { base } = payload;
  const upper = join(payload.work, 'upper');
  const workdir = join(payload.work, 'work');
  const merged = join(payload.work, 'merged');
  for (const d of [upper, workdir, merged]) mkdirSync(d, { recursive: true });
  mkdirSync(join(base, 'etc'), { recursive: true });
  mkdirSync(join(base, 'usr/share/doc/a'), { recursive: true });
  mkdirSync(join(base, 'var/lib'), { recursive: true });
  writeFileSync(join(base, 'etc/hostname'), 'base\n');
  writeFileSync(join(base, 'etc/old.conf'), 'removed by the stage\n');
  writeFileSync(join(base, 'usr/share/doc/a/README'), 'hidden by the opaque dir\n');
  writeFileSync(join(base, 'var/lib/kept'), 'kept\n');
  for (const p of allPaths(base)) utimesSync(join(base, p), BASE_MTIME, BASE_MTIME);

  mountOverlay(`lowerdir=${base},upperdir=${upper},workdir=${workdir}`, merged);
  try {
    if (!payload.empty) {
      const m = (p: string): string => join(merged, p);
      writeFileSync(m('etc/hostname'), 'device\n');
      execFileSync('setfattr', ['-n', 'user.comment', '-v', 'kept', m('etc/hostname')]);
      rmSync(m('etc/old.conf'));
      rmSync(m('usr/share/doc'), { recursive: true });
      mkdirSync(m('usr/share/doc'));
      writeFileSync(m('usr/share/doc/NEW'), 'only this\n');
      mkdirSync(m('bin'));
      writeFileSync(m('bin/busybox'), Buffer.alloc(300_000, 'b'));
      chmodSync(m('bin/busybox'), 0o4755);
      linkSync(m('bin/busybox'), m('bin/su'));
      symlinkSync('busybox', m('bin/sh'));
      writeFileSync(m('bin/ping'), 'ping');
      chmodSync(m('bin/ping'), 0o755);
      execFileSync('setfattr', ['-n', 'security.capability', '-v', '0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=', m('bin/ping')]);
      writeFileSync(m('etc/shadow'), 'root:*:19000:0:::::\n');
      chownSync(m('etc/shadow'), 0, 42);
      chmodSync(m('etc/shadow'), 0o640);
      mkdirSync(m('var/empty'));
      chownSync(m('var/empty'), 1000, 1000);
      chmodSync(m('var/empty'), 0o2711);
      mkdirSync(m('tmp'));
      chmodSync(m('tmp'), 0o1777);
      mkdirSync(m('dev'));
      execFileSync('mkfifo', ['-m', '600', m('dev/initctl')]);
      writeFileSync(m('etc/caf\u00e9'), 'utf-8 name');
      // A name that is not UTF-8 (one latin1 byte), written through a Buffer path.
      writeFileSync(Buffer.concat([Buffer.from(m('etc/bin')), Buffer.from([0xff])]), 'raw byte name');
      execFileSync('setfattr', ['-n', 'user.odd name', '-v', '0x00ff', m('etc/caf\u00e9')]);
      const deep = m(join('usr/lib', ...Array.from({ length: 6 }, (_, i) => `a-long-directory-name-number-${i}`)));
      mkdirSync(deep, { recursive: true });
      writeFileSync(join(deep, 'beyond-the-ustar-name-field'), 'deep');
      for (const p of allPaths(merged)) {
        const abs = Buffer.concat([Buffer.from(`${merged}/`), Buffer.from(p, 'latin1')]);
        lutimesSync(abs, MTIME, MTIME);
      }
    }
  } finally {
    execFileSync('umount', [merged]);
  }
  const written = await writeLayer(new BlobStore(payload.storeDir), { dir: upper, kind: 'upperdir', lowers: [base] });
  mkdirSync(join(payload.snapshot, '..'), { recursive: true });
  renameSync(upper, payload.snapshot);
  rmSync(payload.work, { recursive: true, force: true });
  const empty = written.entries === 0;
  return { layer: empty ? null : written.descriptor, diffId: empty ? null : written.diffId, entries: written.entries };
}

/** writeLayer of a snapshot again: the same upperdir gives the same bytes. */
async function rewrite(payload: { snapshot: string; lowers: string[]; storeDir: string }): Promise<LayerResult> {
  const written = await writeLayer(new BlobStore(payload.storeDir), { dir: payload.snapshot, kind: 'upperdir', lowers: payload.lowers });
  return { layer: written.descriptor, diffId: written.diffId, entries: written.entries };
}

/** The tree an overlay of `lowers` (top first) shows: entries, owners, content, mtimes and xattrs. */
async function mergedView(payload: { lowers: string[]; mountpoint: string }): Promise<string[]> {
  mkdirSync(payload.mountpoint, { recursive: true });
  mountOverlay(`lowerdir=${payload.lowers.join(':')}`, payload.mountpoint);
  try {
    const lines = describe(payload.mountpoint);
    const xattrs = execFileSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: payload.mountpoint, encoding: 'latin1' });
    return [...lines, ...xattrs.split('\n').filter((l) => l !== '')];
  } finally {
    execFileSync('umount', [payload.mountpoint]);
  }
}

/** One line per entry (names as bytes, so non-UTF-8 names survive): "path type mode uid:gid detail mtime". */
function describe(root: string): string[] {
  const firstOfInode = new Map<string, string>();
  return allPaths(root)
    .sort()
    .map((p) => {
      const abs = Buffer.concat([Buffer.from(`${root}/`), Buffer.from(p, 'latin1')]);
      const st = lstatSync(abs);
      const shown = Buffer.from(p, 'latin1').toString('utf8');
      const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : 'f';
      let detail = '';
      if (type === 'f') {
        detail = createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16);
        if (st.nlink > 1) {
          const inode = `${st.dev}:${st.ino}`;
          if (!firstOfInode.has(inode)) firstOfInode.set(inode, shown);
          detail += ` link-group=${firstOfInode.get(inode)}`;
        }
      } else if (type === 'l') detail = `-> ${readlinkSync(abs, 'utf8')}`;
      else if (type === 'c' || type === 'b') detail = String(st.rdev);
      return `${shown} ${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${detail} ${Math.floor(st.mtimeMs / 1000)}`;
    });
}

/** Owner, mode and type of paths in a snapshot as the namespace sees them (whiteouts, opaque marks). */
async function inspect(payload: { root: string; paths: string[] }): Promise<{ path: string; type: string; rdev: number; uid: number; gid: number; mode: number; opaque: string }[]> {
  return payload.paths.map((path) => {
    const abs = join(payload.root, path);
    const st = lstatSync(abs);
    let opaque: string;
    try {
      opaque = execFileSync('getfattr', ['--only-values', '-n', 'user.overlay.opaque', abs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      opaque = ''; // no such attribute
    }
    const type = st.isCharacterDevice() ? 'c' : st.isDirectory() ? 'd' : st.isFIFO() ? 'p' : st.isSymbolicLink() ? 'l' : 'f';
    return { path, type, rdev: st.rdev, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, opaque };
  });
}

export const makeStageTask = namespaceTask(import.meta.url, 'makeStageTask', makeStage);
export const rewriteTask = namespaceTask(import.meta.url, 'rewriteTask', rewrite);
export const mergedViewTask = namespaceTask(import.meta.url, 'mergedViewTask', mergedView);
export const inspectTask = namespaceTask(import.meta.url, 'inspectTask', inspect);
