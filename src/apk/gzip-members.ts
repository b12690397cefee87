/**
 * Splits a stream of concatenated gzip members (how apk v2 lays out signed
 * .apk and APKINDEX.tar.gz files) while it flows: for each member, its raw
 * compressed bytes go to `raw` (to be hashed: apk signs and hashes members,
 * not their content) and its decompressed bytes to `data`.
 *
 * Node's Gunzip joins members silently, so each member's header is parsed
 * here and its deflate body fed to its own InflateRaw; the inflater stops
 * consuming input at the end of the deflate stream, which is where the
 * 8-byte trailer and then the next member begin.
 */
import * as zlib from 'node:zlib';
import { EibError } from '../errors.js';

export class GzipError extends EibError<'EGZIP'> {
  constructor(message: string) {
    super('EGZIP', message);
  }
}

export interface GzipMemberSink {
  /** Raw bytes of member `index` (header, body and trailer), in order. */
  raw?(index: number, chunk: Buffer): void;
  /** Decompressed bytes of member `index`, in order; awaited before more input is read. */
  data(index: number, chunk: Buffer): void | Promise<void>;
  /** Member `index` ended and its trailer (CRC-32, size) checked. */
  end?(index: number): void | Promise<void>;
}

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

/** Length of the gzip header at the start of `b`, or undefined when `b` does not hold all of it yet. */
function headerLength(b: Buffer, what: string): number | undefined {
  if (b.length < 10) return undefined;
  if (b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 8) throw new GzipError(`${what}: not a gzip stream (bad magic)`);
  const flags = b[3]!;
  let n = 10;
  if (flags & FEXTRA) {
    if (b.length < n + 2) return undefined;
    n += 2 + b.readUInt16LE(n);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (flags & flag) {
      const z = b.indexOf(0, n);
      if (z < 0) return undefined;
      n = z + 1;
    }
  }
  if (flags & FHCRC) n += 2;
  return b.length >= n ? n : undefined;
}

type Crc32 = (data: Buffer, value?: number) => number;
const crc32: Crc32 | undefined = (zlib as unknown as { crc32?: Crc32 }).crc32;

/** One member's deflate body, inflated as it is fed. */
class MemberInflater {
  private readonly inflate = zlib.createInflateRaw();
  private delivery: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private readonly ended: Promise<void>;
  size = 0;
  crc = 0;

  constructor(index: number, sink: GzipMemberSink) {
    this.inflate.on('data', (chunk: Buffer) => {
      this.size += chunk.length;
      if (crc32) this.crc = crc32(chunk, this.crc);
      this.delivery = this.delivery.then(() => sink.data(index, chunk));
      this.delivery.catch(() => undefined);
    });
    this.ended = new Promise((resolve, reject) => {
      this.inflate.on('end', resolve);
      this.inflate.on('error', (e) => {
        this.failure = e;
        reject(e);
      });
    });
    this.ended.catch(() => undefined);
  }

  /** Feed `chunk`; returns how many of its bytes belong to the deflate body (less once it ended). */
  async feed(chunk: Buffer): Promise<number> {
    const before = this.inflate.bytesWritten;
    await new Promise<void>((resolve, reject) => {
      this.inflate.write(chunk, (e) => (e ? reject(e) : resolve()));
    });
    if (this.failure) throw this.failure;
    await this.delivery;
    return this.inflate.bytesWritten - before;
  }

  async finish(): Promise<void> {
    this.inflate.end();
    await this.ended;
    await this.delivery;
  }
}

/**
 * Read every member of `source`. Returns the number of members; throws
 * GzipError (naming `what`) on a corrupt or truncated stream.
 */
export async function splitGzipMembers(source: AsyncIterable<Uint8Array>, sink: GzipMemberSink, what: string): Promise<number> {
  let index = 0;
  let pending: Buffer = Buffer.alloc(0);
  let state = 'header' as 'header' | 'body' | 'trailer';
  // `state` changes inside step(); read it through a call so TypeScript does not narrow it.
  const current = (): typeof state => state;
  let inflater: MemberInflater | undefined;

  const step = async (): Promise<boolean> => {
    if (state === 'header') {
      if (pending.length === 0) return false;
      const n = headerLength(pending, what);
      if (n === undefined) return false;
      sink.raw?.(index, pending.subarray(0, n));
      pending = pending.subarray(n);
      inflater = new MemberInflater(index, sink);
      state = 'body';
      return true;
    }
    if (state === 'body') {
      if (pending.length === 0) return false;
      const chunk = pending;
      let used: number;
      try {
        used = await inflater!.feed(chunk);
      } catch (e) {
        throw new GzipError(`${what}: corrupt gzip data in member ${index + 1} (${(e as Error).message})`);
      }
      if (used > 0) sink.raw?.(index, chunk.subarray(0, used));
      pending = chunk.subarray(used);
      if (used < chunk.length) {
        await inflater!.finish();
        state = 'trailer';
      }
      return true;
    }
    if (pending.length < 8) return false;
    const trailer = pending.subarray(0, 8);
    const expectedCrc = trailer.readUInt32LE(0);
    const expectedSize = trailer.readUInt32LE(4);
    if (crc32 && expectedCrc !== inflater!.crc >>> 0) throw new GzipError(`${what}: CRC mismatch in gzip member ${index + 1}; the file is corrupt`);
    if (expectedSize !== inflater!.size % 2 ** 32) throw new GzipError(`${what}: size mismatch in gzip member ${index + 1}; the file is corrupt`);
    sink.raw?.(index, trailer);
    pending = pending.subarray(8);
    await sink.end?.(index);
    index++;
    state = 'header';
    inflater = undefined;
    return true;
  };

  for await (const input of source) {
    const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    pending = pending.length === 0 ? buf : Buffer.concat([pending, buf]);
    while (await step());
  }
  // The input is over: a body fed to its very end has finished exactly there.
  if (current() === 'body' && inflater) {
    throw new GzipError(`${what}: truncated gzip stream (member ${index + 1} has no end)`);
  }
  while (await step());
  if (current() !== 'header' || pending.length > 0) throw new GzipError(`${what}: truncated gzip stream (member ${index + 1} is incomplete)`);
  if (index === 0) throw new GzipError(`${what}: empty file, expected gzip data`);
  return index;
}
