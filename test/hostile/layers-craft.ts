/**
 * Hostile layers and images crafted byte by byte with eib's own tar header
 * encoder (so nothing normalizes the paths on the way), for the hostile
 * layer tests: raw tars, gzip'd layer blobs, and images in an OCI layout
 * shaped like an eib build (the dev.eib.stages annotation and a cache key
 * per layer, as readBuiltImage and `eib export` expect).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { STAGES_ANNOTATION } from '../../src/store/built-image.js';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarHeader } from '../../src/layer/tar-header.js';
import { buildImageConfig, stageLayers, type StageRecord } from '../../src/oci/image.js';
import { digestOf } from '../../src/oci/digest.js';
import { Annotation, MediaType, type Descriptor, type Digest } from '../../src/oci/types.js';
import { OciLayout } from '../../src/store/layout.js';

/** One tar entry; a regular file unless `type` says otherwise. */
export type Entry = Partial<TarHeader> & { path: string; body?: string };

/** Enough `..` to climb from any test folder to `/`. */
export const DEEP = '../../../../../../../../../../../..';

/** A raw tar of `entries`, headers exactly as given. */
export function rawTar(entries: readonly Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const type = e.type ?? 'file';
    const h: TarHeader = {
      mode: type === 'dir' ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      mtime: 1_600_000_000,
      linkname: '',
      devmajor: 0,
      devminor: 0,
      xattrs: new Map(),
      ...e,
      type,
      size: type === 'file' ? body.length : 0,
    };
    parts.push(encodeHeader(h));
    if (h.size > 0) parts.push(body, paddingFor(body.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

export interface CraftedLayer {
  /** The gzip'd blob. */
  blob: Buffer;
  descriptor: Descriptor;
  diffId: Digest;
}

export function craftLayer(entries: readonly Entry[]): CraftedLayer {
  const raw = rawTar(entries);
  const blob = gzipSync(raw);
  return { blob, descriptor: { mediaType: MediaType.LayerGzip, digest: digestOf(blob), size: blob.length }, diffId: digestOf(raw) };
}

export interface CraftedStage {
  name: string;
  entries: readonly Entry[];
}

/** A 64-hex cache key standing in for a real one. */
export function fakeKey(label: string): string {
  return createHash('sha256').update(label).digest('hex');
}

/** Write an eib-shaped aarch64 image of `stages` (one layer each) into the layout `dir`, tagged `tag`. */
export async function writeCraftedImage(dir: string, tag: string, stages: readonly CraftedStage[]): Promise<Digest> {
  const layout = await OciLayout.create(dir);
  const records: StageRecord[] = [];
  for (const stage of stages) {
    const layer = craftLayer(stage.entries);
    await layout.blobs.putBytes(layer.blob, { digest: layer.descriptor.digest, size: layer.descriptor.size });
    const key = fakeKey(`${tag} ${stage.name}`);
    records.push({
      name: stage.name,
      createdBy: `eib stage ${stage.name}: crafted`,
      created: '2024-01-01T00:00:00Z',
      layer: { descriptor: { ...layer.descriptor, annotations: { [Annotation.CacheKey]: key } }, diffId: layer.diffId },
    });
  }
  const listed = stages.map((s) => ({ name: s.name, key: fakeKey(`${tag} ${s.name}`) }));
  const written = await layout.writeImage({
    config: buildImageConfig({ arch: 'aarch64', stages: records }),
    layers: stageLayers(records),
    annotations: { [STAGES_ANNOTATION]: JSON.stringify(listed) },
    tag,
  });
  return written.manifest.digest;
}
