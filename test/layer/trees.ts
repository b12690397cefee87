/**
 * Test trees with every file type eib layers must carry, and a description
 * of a tree (or a tar) as sorted lines, so two of them compare as text.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type Stats, chmodSync, chownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';

const MTIME = new Date('2021-06-01T00:00:00Z');

/** A tree as root: regular files, odd modes, setuid, symlink, hardlink, fifo, devices, xattrs, owners. */
export function makeRichTree(root: string): void {
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'dev'));
  mkdirSync(join(root, 'tmp'));
  mkdirSync(join(root, 'var/empty'), { recursive: true });
  writeFileSync(join(root, 'etc/hostname'), 'device\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:::::\n');
  chownSync(join(root, 'etc/shadow'), 0, 42);
  chmodSync(join(root, 'etc/shadow'), 0o640);
  writeFileSync(join(root, 'bin/busybox'), Buffer.alloc(70_000, 'x'));
  chmodSync(join(root, 'bin/busybox'), 0o4755);
  linkSync(join(root, 'bin/busybox'), join(root, 'bin/su'));
  symlinkSync('busybox', join(root, 'bin/sh'));
  writeFileSync(join(root, 'bin/ping'), 'ping');
  chmodSync(join(root, 'bin/ping'), 0o755);
  // cap_net_raw+ep, as setcap writes it (vfs_cap_data revision 2).
  execFileSync('setfattr', ['-n', 'security.capability', '-v', '0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=', join(root, 'bin/ping')]);
  execFileSync('setfattr', ['-n', 'user.comment', '-v', 'kept', join(root, 'etc/hostname')]);
  execFileSync('setfattr', ['-n', 'user.overlay.origin', '-v', 'dropped', join(root, 'etc/hostname')]);
  chmodSync(join(root, 'tmp'), 0o1777);
  chmodSync(join(root, 'var/empty'), 0o2711);
  chownSync(join(root, 'var/empty'), 1000, 1000);
  execFileSync('mkfifo', [join(root, 'dev/initctl')]);
  execFileSync('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']);
  execFileSync('mknod', ['-m', '660', join(root, 'dev/sda1'), 'b', '8', '1']);
  const deep = join(root, 'usr', ...Array.from({ length: 8 }, (_, i) => `a-fairly-long-directory-name-${i}`));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'file-beyond-the-ustar-limits'), 'deep');
  writeFileSync(join(root, 'etc', 'caf\u00e9'), 'utf-8 name');
  for (const p of walk(root)) utimesSync(join(root, p), MTIME, MTIME);
  utimesSync(root, MTIME, MTIME);
}

function walk(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(root, p));
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) out.push(...walk(root, p));
    out.push(p);
  }
  return out;
}

const TYPE_OF = (st: Stats): string =>
  st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isSocket() ? 's' : 'f';

export interface DescribeOptions {
  owners?: boolean;
  content?: boolean;
  mtimes?: boolean;
}

/** One line per entry: "path type mode [uid:gid] [sha256|target|rdev] [mtime]". */
export function describeTree(root: string, opts: DescribeOptions = {}): string[] {
  const lines: string[] = [];
  const inodes = new Map<string, string>();
  const visit = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, p));
      const type = TYPE_OF(st);
      const parts = [p, type, (st.mode & 0o7777).toString(8)];
      if (opts.owners) parts.push(`${st.uid}:${st.gid}`);
      if (opts.content) {
        if (type === 'f') parts.push(createHash('sha256').update(readFileSync(join(root, p))).digest('hex').slice(0, 16));
        if (type === 'l') parts.push(`-> ${readlinkSync(join(root, p))}`);
        if (type === 'c' || type === 'b') parts.push(`${Math.floor(st.rdev / 256)},${st.rdev % 256}`);
        if (type === 'f' && st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          if (!inodes.has(key)) inodes.set(key, p);
          parts.push(`link-group=${inodes.get(key)}`);
        }
      }
      if (opts.mtimes && type !== 'l' && type !== 'd') parts.push(String(Math.floor(st.mtimeMs / 1000)));
      lines.push(parts.join(' '));
      if (type === 'd') visit(p);
    }
  };
  visit('');
  return lines.sort();
}

export interface ListedEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname: string | null;
  size: number;
  mtime: number;
  pax: Record<string, string> | null;
  sha256: string;
}

/** Entries of an uncompressed tar, read with tar-stream (a reader independent of eib's). */
export async function listTar(source: Readable): Promise<ListedEntry[]> {
  const extract = tarStream.extract();
  source.on('error', (e) => extract.destroy(e));
  source.pipe(extract);
  const out: ListedEntry[] = [];
  for await (const entry of extract) {
    const h = entry.header;
    const hash = createHash('sha256');
    for await (const chunk of entry) hash.update(chunk as Buffer);
    out.push({
      name: h.name.replace(/\/$/, ''),
      type: h.type ?? 'file',
      mode: h.mode ?? 0,
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      linkname: h.linkname ?? null,
      size: h.size ?? 0,
      mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
      pax: (h as { pax?: Record<string, string> | null }).pax ?? null,
      sha256: hash.digest('hex'),
    });
  }
  return out;
}

export const FIND_TYPE: Record<string, string> = { file: 'f', directory: 'd', symlink: 'l', fifo: 'p', 'character-device': 'c', 'block-device': 'b', link: 'h' };
