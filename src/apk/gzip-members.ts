/**
 * Splits a stream of concatenated gzip members (an apk v2 package is three:
 * signature, control, data) as it flows, handing each member's inflated
 * bytes to a consumer and each member's raw compressed bytes to a hasher.
 * apk's checksums are over the raw member bytes (header through trailer),
 * so the split must be exact: the gzip header is parsed here and the
 * deflate body is fed to an InflateRaw whose `bytesWritten` tells where the
 * body ended inside the last chunk.
 */
import { PassThrough, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { EibError } from '../errors.js';

export type GzipErrorCode = 'ETRUNCATED' | 'EBADGZIP' | 'ETOOLARGE';

export class GzipMemberError extends EibError<GzipErrorCode> {}

export interface GzipMemberHooks {
  /** Receives the inflated bytes of member `index`; must consume the stream to its end. */
  onMember(index: number, inflated: Readable): Promise<void>;
  /** Receives the raw compressed bytes of member `index`, in order (header and trailer included). */
  onRaw(index: number, chunk: Buffer): void;
  /** Most inflated bytes member `index` may produce (decompression-bomb bound). */
  maxInflated(index: number): number;
  /** Most members the stream may hold. */
  maxMembers: number;
}

export interface GzipMemberInfo {
  compressedSize: number;
  inflatedSize: number;
}

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;
const MAX_HEADER = 64 * 1024;

/** Length of the gzip header at the start of `buf`, or undefined when more bytes are needed. */
function gzipHeaderLength(buf: Buffer): number | undefined {
  if (buf.length < 10) return undefined;
  if (buf[0] !== 0x1f || buf[1] !== 0x8b || buf[2] !== 8) {
    throw new GzipMemberError('EBADGZIP', 'not a gzip member (bad magic or method)');
  }
  const flags = buf[3] ?? 0;
  let at = 10;
  if (flags & FEXTRA) {
    if (buf.length < at + 2) return undefined;
    at += 2 + buf.readUInt16LE(at);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (flags & flag) {
      const nul = buf.indexOf(0, at);
      if (nul < 0) return undefined;
      at = nul + 1;
    }
  }
  if (flags & FHCRC) at += 2;
  return buf.length >= at ? at : undefined;
}

/**
 * Reads `source` to its end as consecutive gzip members. Resolves with the
 * sizes of each member once every consumer finished; rejects (and destroys
 * the pipeline) on truncation, corruption, or a member inflating past its bound.
 */
export async function splitGzipMembers(source: AsyncIterable<Buffer>, hooks: GzipMemberHooks): Promise<GzipMemberInfo[]> {
  const iterator = source[Symbol.asyncIterator]();
  let pending: Buffer = Buffer.alloc(0);
  let exhausted = false;
  const members: GzipMemberInfo[] = [];

  async function more(): Promise<boolean> {
    if (exhausted) return false;
    const next = await iterator.next();
    if (next.done) {
      exhausted = true;
      return false;
    }
    pending = pending.length === 0 ? next.value : Buffer.concat([pending, next.value]);
    return true;
  }

  while (true) {
    if (pending.length === 0 && !(await more())) break;
    const index = members.length;
    if (index >= hooks.maxMembers) throw new GzipMemberError('EBADGZIP', `more than ${hooks.maxMembers} gzip members`);

    let headerLength: number | undefined;
    while ((headerLength = gzipHeaderLength(pending)) === undefined) {
      if (pending.length > MAX_HEADER) throw new GzipMemberError('EBADGZIP', `gzip member ${index} header is too long`);
      if (!(await more())) throw new GzipMemberError('ETRUNCATED', `gzip member ${index} is truncated in its header`);
    }
    hooks.onRaw(index, pending.subarray(0, headerLength));
    let compressedSize = headerLength;
    pending = pending.subarray(headerLength);

    const limit = hooks.maxInflated(index);
    const inflater = zlib.createInflateRaw();
    const counted = new PassThrough();
    let inflatedSize = 0;
    let crc = 0;
    inflater.on('data', (chunk: Buffer) => {
      inflatedSize += chunk.length;
      crc = zlib.crc32(chunk, crc);
      if (inflatedSize > limit) {
        const error = new GzipMemberError('ETOOLARGE', `gzip member ${index} inflates past ${limit} bytes (decompression bomb?)`);
        inflater.destroy(error);
        counted.destroy(error);
        return;
      }
      if (!counted.write(chunk)) inflater.pause();
    });
    counted.on('drain', () => inflater.resume());
    inflater.on('end', () => counted.end());
    let failure: unknown;
    inflater.on('error', (e) => {
      failure ??= e;
      counted.destroy(e);
    });
    const consumer = hooks.onMember(index, counted).catch((e: unknown) => {
      failure ??= e;
      inflater.destroy();
      throw e;
    });
    consumer.catch(() => undefined);

    const writeToInflater = (chunk: Buffer): Promise<void> =>
      new Promise((resolve, reject) => {
        const onClose = (): void => reject(failure ?? new GzipMemberError('EBADGZIP', `gzip member ${index} stopped`));
        inflater.once('close', onClose);
        inflater.write(chunk, (e) => {
          inflater.off('close', onClose);
          if (e) reject(failure ?? e);
          else resolve();
        });
      });

    let fed = 0;
    let ended = false;
    while (!ended) {
      if (pending.length === 0 && !(await more())) {
        // The source ended inside the deflate body: let zlib say so.
        inflater.end();
        await consumer.catch(() => undefined);
        throw new GzipMemberError('ETRUNCATED', `gzip member ${index} is truncated`, { cause: failure });
      }
      const chunk = pending;
      await writeToInflater(chunk);
      fed += chunk.length;
      const unconsumed = fed - inflater.bytesWritten;
      if (unconsumed > 0) {
        ended = true;
        const used = chunk.length - unconsumed;
        hooks.onRaw(index, chunk.subarray(0, used));
        compressedSize += used;
        pending = chunk.subarray(used);
      } else {
        hooks.onRaw(index, chunk);
        compressedSize += chunk.length;
        pending = Buffer.alloc(0);
      }
    }
    inflater.end();
    await consumer;
    if (failure) throw failure;

    while (pending.length < 8) {
      if (!(await more())) throw new GzipMemberError('ETRUNCATED', `gzip member ${index} is truncated in its trailer`);
    }
    const trailer = pending.subarray(0, 8);
    if (trailer.readUInt32LE(0) !== crc >>> 0 || trailer.readUInt32LE(4) !== inflatedSize % 2 ** 32) {
      throw new GzipMemberError('EBADGZIP', `gzip member ${index} fails its CRC or length check`);
    }
    hooks.onRaw(index, trailer);
    compressedSize += 8;
    pending = pending.subarray(8);
    members.push({ compressedSize, inflatedSize });
  }
  return members;
}
