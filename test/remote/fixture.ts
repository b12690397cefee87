/**
 * Small OCI images for the registry tests, built here: each layer a real
 * gzip'd tar (made with tar-stream) holding a file of given size, pseudo-
 * random so that gzip cannot shrink it much; written through src/store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { OciLayout } from '../../src/store/layout.js';
import { MediaType, type Descriptor, type ImageConfig } from '../../src/oci/types.js';

async function tarOf(files: { name: string; content: Buffer }[]): Promise<Buffer> {
  const p = pack();
  for (const f of files) p.entry({ name: f.name, size: f.content.length, mode: 0o644, mtime: new Date(0) }, f.content);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

export interface FixtureImage {
  dir: string;
  tag: string;
  manifest: Descriptor;
  layers: Descriptor[];
  config: Descriptor;
}

/** An image with one layer per size in `layerSizes` (bytes of file content). */
export async function buildImage(dir: string, options: { tag?: string; layerSizes?: number[] } = {}): Promise<FixtureImage> {
  const tag = options.tag ?? 'latest';
  const layout = await OciLayout.create(dir);
  const layers: Descriptor[] = [];
  const diffIds: `sha256:${string}`[] = [];
  for (const [i, size] of (options.layerSizes ?? [1000, 20_000, 3000]).entries()) {
    const tar = await tarOf([{ name: `layer${i}/data.bin`, content: randomBytes(size) }]);
    const gz = gzipSync(tar);
    const ref = await layout.blobs.put(Readable.from([gz]));
    layers.push({ mediaType: MediaType.LayerGzip, digest: ref.digest, size: ref.size });
    diffIds.push(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
  }
  const config: ImageConfig = {
    architecture: 'arm64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created_by: `test layer ${i}` })),
  };
  const written = await layout.writeImage({ config, layers, tag });
  return { dir, tag, manifest: written.manifest, layers, config: written.config };
}
