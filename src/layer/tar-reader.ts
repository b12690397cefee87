/**
 * A streaming tar reader (ustar, PAX extended headers, GNU long names) that
 * yields entries whose bodies are read lazily from the source. PAX values,
 * SCHILY.xattr.* included, are kept as raw bytes; paths are latin1 binary
 * strings. An entry's body not consumed by the caller is skipped.
 */
import type { Readable } from 'node:stream';
import { LayerError } from './errors.js';
import { BLOCK, type EntryType, type TarHeader } from './tar-header.js';

export interface TarEntry {
  header: TarHeader;
  /** Position of the entry in the archive (0-based, extension headers not counted). */
  index: number;
  /** The body's bytes; iterate at most once, before asking for the next entry. */
  body(): AsyncGenerator<Buffer>;
}

const TYPES: Record<string, EntryType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' };

/** Reads exact byte counts from an async iterable of chunks, without concatenating large data. */
class ByteSource {
  private pending: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  private done = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    return true;
  }

  /** Exactly n bytes, or null at a clean end of input before any byte. */
  async exact(n: number): Promise<Buffer | null> {
    while (this.pending.length < n) {
      if (!(await this.fill())) {
        if (this.pending.length === 0) return null;
        throw new LayerError('ELAYERFORMAT', `tar stream ends in the middle of a block (${this.pending.length} of ${n} bytes)`);
      }
    }
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return out;
  }

  /** Up to n bytes as they arrive; an error if the input ends first. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.pending.length === 0 && !(await this.fill())) {
        throw new LayerError('ELAYERFORMAT', `tar stream ends inside an entry body (${left} bytes missing)`);
      }
      const piece = this.pending.subarray(0, Math.min(left, this.pending.length));
      this.pending = this.pending.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) void _;
  }

  async cancel(): Promise<void> {
    await this.it.return?.();
  }
}

export async function* readTar(source: Readable | AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const input = new ByteSource(source as AsyncIterable<Buffer>);
  let pax = new Map<string, Buffer>();
  let globalPax = new Map<string, Buffer>();
  let longName: Buffer | null = null;
  let longLink: Buffer | null = null;
  let index = 0;
  try {
    while (true) {
      const block = await input.exact(BLOCK);
      if (block === null || isZero(block)) return;
      verifyChecksum(block);
      const flag = String.fromCharCode(block[156] ?? 0);
      const size = number(block, 124, 12);
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        const data = await collect(input, size, padded);
        if (flag === 'x') pax = parsePax(data);
        else if (flag === 'g') globalPax = new Map([...globalPax, ...parsePax(data)]);
        else if (flag === 'L') longName = cString(data);
        else longLink = cString(data);
        continue;
      }
      const type = TYPES[flag];
      if (type === undefined) {
        throw new LayerError('ELAYERFORMAT', `unsupported tar entry type "${flag}" (${JSON.stringify(cString(block.subarray(0, 100)).toString('latin1'))})`);
      }
      const records = new Map([...globalPax, ...pax]);
      const header = decodeHeader(block, type, records, longName, longLink);
      pax = new Map();
      longName = null;
      longLink = null;
      if (type !== 'file') header.size = 0;
      let remaining = header.size;
      let started = false;
      const body = async function* (): AsyncGenerator<Buffer> {
        if (started) throw new Error('tar entry body read twice');
        started = true;
        for await (const piece of input.take(remaining)) {
          remaining -= piece.length;
          yield piece;
        }
      };
      yield { header, index: index++, body };
      await input.skip(remaining + ((BLOCK - (header.size % BLOCK)) % BLOCK));
    }
  } finally {
    await input.cancel();
  }
}

async function collect(input: ByteSource, size: number, padded: number): Promise<Buffer> {
  if (size > 16 * 1024 * 1024) throw new LayerError('ELAYERFORMAT', `tar extension header of ${size} bytes is too large`);
  const data = padded === 0 ? Buffer.alloc(0) : await input.exact(padded);
  if (data === null) throw new LayerError('ELAYERFORMAT', 'tar stream ends after an extension header');
  return Buffer.from(data.subarray(0, size));
}

function decodeHeader(block: Buffer, type: EntryType, pax: Map<string, Buffer>, longName: Buffer | null, longLink: Buffer | null): TarHeader {
  let name = cString(block.subarray(0, 100));
  const magic = block.subarray(257, 263).toString('latin1');
  if (magic === 'ustar\0' && block[345] !== 0) name = Buffer.concat([cString(block.subarray(345, 500)), Buffer.from('/'), name]);
  const path = pax.get('path') ?? longName ?? name;
  const linkname = pax.get('linkpath') ?? longLink ?? cString(block.subarray(157, 257));
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax) {
    if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), value);
  }
  const paxNumber = (key: string, fallback: number): number => {
    const v = pax.get(key);
    return v === undefined ? fallback : Math.floor(Number(v.toString('latin1')));
  };
  return {
    path: path.toString('latin1'),
    type,
    mode: number(block, 100, 8) & 0o7777,
    uid: paxNumber('uid', number(block, 108, 8)),
    gid: paxNumber('gid', number(block, 116, 8)),
    size: paxNumber('size', number(block, 124, 12)),
    mtime: paxNumber('mtime', number(block, 136, 12)),
    linkname: linkname.toString('latin1'),
    devmajor: number(block, 329, 8),
    devminor: number(block, 337, 8),
    xattrs,
  };
}

/** PAX records "<len> <key>=<value>\n"; values stay bytes. */
function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const len = Number(data.subarray(pos, space).toString('latin1'));
    if (space < 0 || !Number.isInteger(len) || len <= 0 || pos + len > data.length) {
      if (data.subarray(pos).every((b) => b === 0)) break;
      throw new LayerError('ELAYERFORMAT', 'malformed PAX extended header record');
    }
    const record = data.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) out.set(record.subarray(0, eq).toString('latin1'), Buffer.from(record.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

function cString(b: Buffer): Buffer {
  const nul = b.indexOf(0);
  return nul < 0 ? b : b.subarray(0, nul);
}

function number(b: Buffer, offset: number, width: number): number {
  const field = b.subarray(offset, offset + width);
  if ((field[0] ?? 0) & 0x80) {
    // GNU base-256 for values that do not fit in octal.
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + (field[i] ?? 0);
    return v;
  }
  const text = field.toString('latin1').replace(/^[ \0]+/, '').replace(/[ \0].*$/s, '');
  return text === '' ? 0 : parseInt(text, 8);
}

function isZero(b: Buffer): boolean {
  for (const byte of b) if (byte !== 0) return false;
  return true;
}

function verifyChecksum(block: Buffer): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  if (sum !== number(block, 148, 8)) throw new LayerError('ELAYERFORMAT', 'tar header checksum mismatch: the layer is corrupt or not an uncompressed tar');
}
