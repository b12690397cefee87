/**
 * A tar stream (the flattened rootfs) → a cpio archive in the "newc"
 * format (070701), the format the Linux kernel unpacks as an initramfs.
 * Streaming: one tar entry in, one cpio entry out, bodies passed through.
 *
 * Owners, modes, mtimes, symlinks, device nodes and fifos come from the
 * tar. Hardlinks share an inode number and a link count, with the data on
 * the first entry: the kernel links later names to it (init/initramfs.c
 * maybe_link), and GNU cpio links the empty later entries at the end.
 * Every directory comes once, before its contents, with its final
 * attributes. Link counts and directories must be known before the first
 * entry, so the caller passes them in (scanTar reads the headers of the
 * same stream once). newc has no room for extended attributes: they are counted in
 * `droppedXattrs`, so callers can say what the archive cannot hold.
 */
import type { TarHeader } from '../layer/tar-header.js';
import { readTar } from '../layer/tar-reader.js';
import { ExportError } from './errors.js';

const MAGIC = '070701';
const TRAILER = 'TRAILER!!!';

const TYPE_BITS: Record<TarHeader['type'], number> = {
  file: 0o100000,
  link: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
};

export interface CpioStats {
  entries: number;
  /** Entries whose extended attributes (file capabilities, user.*) newc cannot carry. */
  droppedXattrs: number;
}

/** What the archive needs to know before its first entry: see scanTar. */
export interface TarScan {
  /** Path → number of names of each hardlinked file (only files with more than one). */
  links: Map<string, number>;
  /** Each directory's final header: written once, before anything inside it. */
  dirs: Map<string, TarHeader>;
}

/**
 * Reads the headers of a tar stream once. A flattened image lists a
 * directory where its last layer changed it, after what earlier layers put
 * inside it; tar extractors create missing parents, the kernel's
 * initramfs unpacker does not. `visit` sees every header on the way.
 */
export async function scanTar(tar: AsyncIterable<Buffer>, visit?: (header: TarHeader) => void): Promise<TarScan> {
  const links = new Map<string, number>();
  const dirs = new Map<string, TarHeader>();
  for await (const entry of readTar(tar)) {
    const h = entry.header;
    visit?.(h);
    if (h.type === 'dir') dirs.set(cpioName(h.path), h);
    if (h.type !== 'link') continue;
    const target = cpioName(h.linkname);
    links.set(target, (links.get(target) ?? 1) + 1);
  }
  return { links, dirs };
}

export interface CpioOptions {
  /** From scanTar over the same stream. */
  scan: TarScan;
  /** Filled in as the archive is written. */
  stats?: CpioStats;
  /** Also hand the bytes of the regular file `name` (a cpio name) to `sink`, e.g. to pick out a kernel while writing. */
  tap?: { name: string; sink(chunk: Buffer): void };
}

/** The cpio archive of `tar`, in chunks. */
export async function* tarToCpio(tar: AsyncIterable<Buffer>, options: CpioOptions): AsyncGenerator<Buffer> {
  const { tap } = options;
  const { links, dirs } = options.scan;
  const stats = options.stats ?? { entries: 0, droppedXattrs: 0 };
  let nextIno = 1;
  /** Inode numbers of the files other names link to. */
  const inodes = new Map<string, number>();
  const written = new Set<string>();
  /** A directory with its final attributes, the first time it is needed. */
  const directory = (name: string, h: TarHeader | undefined): Buffer | undefined => {
    if (written.has(name)) return undefined;
    written.add(name);
    stats.entries++;
    const d = dirs.get(name) ?? h;
    if (d !== undefined && d.xattrs.size > 0) stats.droppedXattrs++;
    return header(name, { ino: nextIno++, mode: TYPE_BITS.dir | (d?.mode ?? 0o755), uid: d?.uid ?? 0, gid: d?.gid ?? 0, nlink: 2, mtime: d?.mtime ?? 0, size: 0, rdevmajor: 0, rdevminor: 0 });
  };
  if (dirs.has('.')) yield directory('.', undefined)!;
  for await (const entry of readTar(tar)) {
    const h = entry.header;
    const name = cpioName(h.path);
    if (name !== '.') {
      const parts = name.split('/');
      for (let i = 1; i < parts.length; i++) {
        const parent = directory(parts.slice(0, i).join('/'), undefined);
        if (parent !== undefined) yield parent;
      }
    }
    if (h.type === 'dir') {
      const dir = directory(name, h);
      if (dir !== undefined) yield dir;
      continue;
    }
    if (h.xattrs.size > 0) stats.droppedXattrs++;
    stats.entries++;
    let ino: number;
    let nlink = 1;
    let size = 0;
    if (h.type === 'link') {
      const target = cpioName(h.linkname);
      const shared = inodes.get(target);
      if (shared === undefined) throw new ExportError('ECPIO', `hardlink ${name} points at ${target}, which is not earlier in the archive`);
      ino = shared;
      nlink = links.get(target) ?? 2;
    } else {
      ino = nextIno++;
      const count = links.get(name);
      if (h.type === 'file' && count !== undefined) {
        inodes.set(name, ino);
        nlink = count;
      }
      if (h.type === 'file') size = h.size;
    }
    if (h.type === 'symlink') {
      const target = Buffer.from(h.linkname, 'latin1');
      yield header(name, { ino, mode: TYPE_BITS.symlink | h.mode, uid: h.uid, gid: h.gid, nlink, mtime: h.mtime, size: target.length, rdevmajor: 0, rdevminor: 0 });
      yield target;
      yield pad(target.length);
      continue;
    }
    const isDevice = h.type === 'char' || h.type === 'block';
    yield header(name, {
      ino,
      mode: TYPE_BITS[h.type] | h.mode,
      uid: h.uid,
      gid: h.gid,
      nlink,
      mtime: h.mtime,
      size,
      rdevmajor: isDevice ? h.devmajor : 0,
      rdevminor: isDevice ? h.devminor : 0,
    });
    if (size > 0) {
      let written = 0;
      const sink = tap !== undefined && tap.name === name ? tap.sink : undefined;
      for await (const chunk of entry.body()) {
        written += chunk.length;
        sink?.(chunk);
        yield chunk;
      }
      if (written !== size) throw new ExportError('ECPIO', `${name}: the tar entry ended after ${written} of ${size} bytes`);
      yield pad(size);
    }
  }
  yield newcTrailer();
}

/** Tar paths as cpio names: relative, the root as ".". */
export function cpioName(tarPath: string): string {
  const p = tarPath.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  return p === '' ? '.' : p;
}

export interface Fields {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  size: number;
  rdevmajor: number;
  rdevminor: number;
}

function hex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new ExportError('ECPIO', `value ${n} does not fit a cpio newc field (32 bits); an initramfs cannot hold this image`);
  return n.toString(16).padStart(8, '0');
}

/** One whole entry (header, name, data, padding), for archives made from scratch rather than from a tar. */
export function newcEntry(name: string, f: Omit<Fields, 'ino' | 'nlink' | 'size'> & { ino: number; data?: Buffer }): Buffer {
  const data = f.data ?? Buffer.alloc(0);
  return Buffer.concat([header(name, { ...f, nlink: (f.mode & 0o170000) === TYPE_BITS.dir ? 2 : 1, size: data.length }), data, pad(data.length)]);
}

/** The entry that ends an archive. */
export function newcTrailer(): Buffer {
  return header(TRAILER, { ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, size: 0, rdevmajor: 0, rdevminor: 0 });
}

/** File type bits of cpio modes (S_IFREG, S_IFDIR, …), by tar entry type. */
export const CPIO_TYPE = TYPE_BITS;

/** The 110-byte header, the NUL-terminated name and the padding to 4 bytes. */
function header(name: string, f: Fields): Buffer {
  const nameBytes = Buffer.from(name, 'latin1');
  const fields = [f.ino, f.mode, f.uid, f.gid, f.nlink, f.mtime, f.size, 0, 0, f.rdevmajor, f.rdevminor, nameBytes.length + 1, 0];
  const head = Buffer.from(MAGIC + fields.map(hex).join(''), 'latin1');
  const total = head.length + nameBytes.length + 1;
  return Buffer.concat([head, nameBytes, Buffer.alloc(1), pad(total)]);
}

function pad(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}
