/**
 * The tar entry model shared by the layer writer and flatten, and its PAX
 * (POSIX.1-2001 ustar + extended header) encoding. tar-stream cannot carry
 * binary PAX values, and security.capability is binary, so the few hundred
 * bytes of header encoding live here, byte-for-byte deterministic.
 *
 * Paths and link targets are "binary strings" (latin1: one char per byte),
 * so names that are not UTF-8 survive unchanged.
 */

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  /** Relative path, no leading "./" or trailing "/" (latin1 binary string). */
  path: string;
  type: EntryType;
  /** Permission bits including setuid, setgid and sticky (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Body size; 0 for everything but regular files. */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Target of a hardlink (a path in the archive) or symlink (latin1). */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes, emitted as SCHILY.xattr.<name>. */
  xattrs: Map<string, Buffer>;
}

export const BLOCK = 512;
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

const TYPEFLAG: Record<EntryType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

/** Largest value of an octal field of `width` bytes (width-1 digits + NUL). */
function maxOctal(width: number): number {
  return 8 ** (width - 1) - 1;
}

export function paddingFor(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rest);
}

/** The header blocks of one entry (a PAX extended header first when needed). */
export function encodeHeader(h: TarHeader): Buffer {
  const name = Buffer.from(h.type === 'dir' ? `${h.path}/` : h.path, 'latin1');
  const link = Buffer.from(h.linkname, 'latin1');
  const split = splitUstarName(name);
  const pax: [string, Buffer][] = [];
  if (!split) pax.push(['path', name]);
  if (link.length > 100) pax.push(['linkpath', link]);
  if (h.size > maxOctal(12)) pax.push(['size', Buffer.from(String(h.size))]);
  if (h.uid > maxOctal(8)) pax.push(['uid', Buffer.from(String(h.uid))]);
  if (h.gid > maxOctal(8)) pax.push(['gid', Buffer.from(String(h.gid))]);
  if (h.mtime > maxOctal(12)) pax.push(['mtime', Buffer.from(String(h.mtime))]);
  for (const [key, value] of [...h.xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    pax.push([`SCHILY.xattr.${key}`, value]);
  }
  const ustar = ustarBlock({
    name: split?.name ?? name.subarray(0, 100),
    prefix: split?.prefix ?? Buffer.alloc(0),
    mode: h.mode & 0o7777,
    uid: Math.min(h.uid, maxOctal(8)),
    gid: Math.min(h.gid, maxOctal(8)),
    size: Math.min(h.size, maxOctal(12)),
    mtime: Math.max(0, Math.min(h.mtime, maxOctal(12))),
    typeflag: TYPEFLAG[h.type],
    linkname: link.subarray(0, 100),
    devmajor: h.devmajor,
    devminor: h.devminor,
  });
  if (pax.length === 0) return ustar;
  const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
  const paxHeader = ustarBlock({
    name: Buffer.from('././@PaxHeader'),
    prefix: Buffer.alloc(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
    typeflag: 'x',
    linkname: Buffer.alloc(0),
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, body, paddingFor(body.length), ustar]);
}

/** "<len> <key>=<value>\n", where len counts the whole record, itself included. */
/** Keys are byte strings (xattr names may not be UTF-8), so they are encoded as latin1. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(` ${key}=`, 'latin1') + value.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`, 'latin1'), value, Buffer.from('\n')]);
}

function splitUstarName(name: Buffer): { name: Buffer; prefix: Buffer } | null {
  if (name.length <= 100) return { name, prefix: Buffer.alloc(0) };
  // Split at a "/" so that the prefix fits in 155 bytes and the rest in 100.
  for (let i = Math.min(name.length - 1, 155); i > 0; i--) {
    if (name[i] === 0x2f && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
    }
  }
  return null;
}

interface UstarFields {
  name: Buffer;
  prefix: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
  devmajor: number;
  devminor: number;
}

function ustarBlock(f: UstarFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  f.name.copy(b, 0);
  octal(b, 100, 8, f.mode);
  octal(b, 108, 8, f.uid);
  octal(b, 116, 8, f.gid);
  octal(b, 124, 12, f.size);
  octal(b, 136, 12, f.mtime);
  b.write(f.typeflag, 156, 'latin1');
  f.linkname.copy(b, 157);
  b.write('ustar\x0000', 257, 'latin1');
  octal(b, 329, 8, f.devmajor);
  octal(b, 337, 8, f.devminor);
  f.prefix.copy(b, 345);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

function octal(b: Buffer, offset: number, width: number, value: number): void {
  b.write(`${Math.trunc(value).toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1');
}
