/**
 * The rootfs as a tar: the flattened layer stack streamed straight into the
 * output file (gzip-compressed for .tar.gz), hashed as it is written.
 * Nothing is unpacked; memory does not grow with the image. Flattening is
 * deterministic, and Node's gzip header carries no timestamp, so the same
 * image always gives the same bytes.
 */
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { flatten, type LayerOpener, type ScanMemory } from '../layer/flatten.js';
import type { Digest } from '../oci/types.js';
import { HashCounter } from '../store/hash-stream.js';

export interface WrittenTar {
  bytes: number;
  digest: Digest;
}

export async function writeRootfsTar(layers: readonly LayerOpener[], file: string, options: { gzip: boolean; names?: readonly string[]; scans?: ScanMemory }): Promise<WrittenTar> {
  const tar: Readable = flatten(layers, { ...(options.names === undefined ? {} : { names: options.names }), ...(options.scans === undefined ? {} : { scans: options.scans }) });
  const counter = new HashCounter();
  const sink = createWriteStream(file, { flags: 'wx', mode: 0o644 });
  if (options.gzip) await pipeline(tar, createGzip({ level: 6 }), counter, sink);
  else await pipeline(tar, counter, sink);
  return { bytes: counter.size, digest: counter.digest };
}
