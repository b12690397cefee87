/**
 * The rootfs as an initramfs: the flattened layer stack as a cpio newc
 * archive, gzip-compressed (or plain for .cpio), streamed into the output
 * and hashed as it is written. The layers are read twice: once for the
 * headers (hardlink counts, which newc needs on the first name of a file,
 * and each directory's final attributes: the kernel needs a directory
 * before its contents), once for the archive. Nothing is unpacked, so owners and device nodes
 * survive without privileges. The same image gives the same bytes.
 */
import { createWriteStream } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { flatten, type LayerOpener } from '../layer/flatten.js';
import type { TarHeader } from '../layer/tar-header.js';
import type { Digest } from '../oci/types.js';
import { HashCounter } from '../store/hash-stream.js';
import { scanTar, tarToCpio, type CpioOptions, type CpioStats, type TarScan } from './cpio.js';

export interface InitramfsSource {
  layers: readonly LayerOpener[];
  /** How errors name each layer. */
  names?: readonly string[];
}

export interface WrittenInitramfs extends CpioStats {
  bytes: number;
  digest: Digest;
}

function flattened(source: InitramfsSource): Readable {
  return flatten(source.layers, source.names === undefined ? {} : { names: source.names });
}

/** First pass: hardlink counts and directories of the flattened image; `visit` sees every header. */
export function scanImage(source: InitramfsSource, visit?: (header: TarHeader) => void): Promise<TarScan> {
  return scanTar(flattened(source), visit);
}

/** Second pass: write the archive to `sink` (gzip unless told otherwise); returns what went into it. */
export async function streamInitramfs(source: InitramfsSource, sink: Writable, options: Omit<CpioOptions, 'stats'> & { gzip: boolean }): Promise<WrittenInitramfs> {
  const stats: CpioStats = { entries: 0, droppedXattrs: 0 };
  const cpio = Readable.from(tarToCpio(flattened(source), { ...options, stats }), { objectMode: false });
  const counter = new HashCounter();
  if (options.gzip) await pipeline(cpio, createGzip({ level: 6 }), counter, sink);
  else await pipeline(cpio, counter, sink);
  return { ...stats, bytes: counter.size, digest: counter.digest };
}

/** `eib export x.cpio.gz` and outputs.initramfs: the archive into a new file. */
export async function writeInitramfs(source: InitramfsSource, file: string, options: { gzip: boolean }): Promise<WrittenInitramfs> {
  const scan = await scanImage(source);
  return streamInitramfs(source, createWriteStream(file, { flags: 'wx', mode: 0o644 }), { scan, gzip: options.gzip });
}
