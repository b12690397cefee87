/**
 * Read one file of an image's merged root filesystem straight from its
 * layers, top layer first, without unpacking or flattening: a layer that
 * has the file decides; a whiteout, an opaque parent or a non-directory
 * parent in a layer hides it from the layers below (image-spec layer.md);
 * a symlinked parent redirects the lookup, and a hardlink is read from its
 * target in the same layer. Layers below the deciding one are never read,
 * and a layer whose verdict on the path is remembered (by its digest, see
 * layer-verdicts.ts) is not read at all.
 */
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ancestors, normalizeEntryPath } from '../layer/entry-path.js';
import { readTar } from '../layer/tar-reader.js';
import { classifyWhiteout } from '../layer/whiteout.js';
import type { Digest } from '../oci/types.js';
import { SbomError } from './errors.js';

export interface ImageLayer {
  /** How messages name the layer (its stage, or its digest). */
  name: string;
  mediaType: string;
  /** The layer blob's digest, when known: what a verdict is remembered by. */
  digest?: Digest;
  open(): Readable;
}

/** Verdicts of layers on paths, remembered by layer digest (the key of a hardlink's target lookup is `path` + NUL + target). */
export interface LayerVerdictCache {
  get(layer: Digest, path: string): Promise<LayerVerdict | undefined>;
  set(layer: Digest, path: string, verdict: LayerVerdict): Promise<void>;
}

export type ImageFileLookup =
  /** Found in layer `layer` (index into the stack, bottom 0). */
  | { kind: 'found'; content: Buffer; layer: number }
  /** Layer `layer` removed it (whiteout, opaque directory, or a parent replaced by a non-directory). */
  | { kind: 'removed'; layer: number }
  | { kind: 'absent' };

const MAX_SYMLINKS = 40;
/** The file is read into memory: a bound against a malformed layer claiming a huge one. */
const MAX_FILE_BYTES = 256 << 20;

export type LayerVerdict =
  | { kind: 'file'; content: Buffer }
  | { kind: 'removed' }
  | { kind: 'redirect'; path: string }
  | { kind: 'hardlink'; target: string }
  | { kind: 'none' };

function tarStream(layer: ImageLayer): Readable {
  const source = layer.open();
  if (layer.mediaType.endsWith('+gzip') || layer.mediaType.endsWith('.gzip')) {
    const gunzip = createGunzip();
    source.on('error', (e) => gunzip.destroy(e));
    gunzip.on('close', () => source.destroy());
    return source.pipe(gunzip);
  }
  if (layer.mediaType.endsWith('.tar')) return source;
  source.destroy();
  throw new SbomError('ELAYERTYPE', `${layer.name}: layers of type ${layer.mediaType} cannot be read; eib reads tar and tar+gzip layers`);
}

async function collect(body: AsyncGenerator<Buffer>, size: number, where: string): Promise<Buffer> {
  if (size > MAX_FILE_BYTES) throw new SbomError('EIMAGEFILE', `${where} is ${size} bytes, more than eib reads into memory (${MAX_FILE_BYTES})`);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** inspectLayer, answered from `cache` when the layer's verdict on the path is remembered. */
async function layerVerdict(layer: ImageLayer, cache: LayerVerdictCache | undefined, path: string, hardlinkTarget?: string): Promise<LayerVerdict> {
  if (cache === undefined || layer.digest === undefined) return inspectLayer(layer, path, hardlinkTarget);
  const key = hardlinkTarget === undefined ? path : `${path}\0${hardlinkTarget}`;
  const remembered = await cache.get(layer.digest, key);
  if (remembered !== undefined) return remembered;
  const verdict = await inspectLayer(layer, path, hardlinkTarget);
  await cache.set(layer.digest, key, verdict);
  return verdict;
}

/** What one layer says about `path`; with `hardlinkTarget`, the content of that entry of the layer instead. */
async function inspectLayer(layer: ImageLayer, path: string, hardlinkTarget?: string): Promise<LayerVerdict> {
  const parents = ancestors(path).filter((a) => a !== '');
  let verdict: LayerVerdict = { kind: 'none' };
  let hidden = false;
  let redirect: string | undefined;
  for await (const entry of readTar(tarStream(layer))) {
    const p = normalizeEntryPath(entry.header.path, layer.name);
    if (hardlinkTarget !== undefined) {
      if (p === hardlinkTarget && entry.header.type === 'file') verdict = { kind: 'file', content: await collect(entry.body(), entry.header.size, `${layer.name}: ${p}`) };
      continue;
    }
    if (p === path) {
      const { type } = entry.header;
      if (type === 'file') verdict = { kind: 'file', content: await collect(entry.body(), entry.header.size, `${layer.name}: ${p}`) };
      else if (type === 'link') verdict = { kind: 'hardlink', target: normalizeEntryPath(entry.header.linkname, layer.name) };
      else if (type === 'symlink') verdict = { kind: 'redirect', path: resolveLink(path, entry.header.linkname) };
      else verdict = { kind: 'removed' };
      continue;
    }
    const wh = classifyWhiteout(p);
    if (wh.kind === 'whiteout' && (wh.target === path || parents.includes(wh.target))) hidden = true;
    else if (wh.kind === 'opaque' && (wh.dir === '' || parents.includes(wh.dir))) hidden = true;
    else if (wh.kind === 'none' && parents.includes(p) && entry.header.type !== 'dir') {
      if (entry.header.type === 'symlink') redirect = resolveLink(path, entry.header.linkname, p);
      else hidden = true;
    }
  }
  if (hardlinkTarget !== undefined) return verdict;
  // The layer's own entry wins over its whiteouts, which only apply to the layers below.
  if (verdict.kind !== 'none') return verdict;
  if (redirect !== undefined) return { kind: 'redirect', path: redirect };
  return hidden ? { kind: 'removed' } : verdict;
}

/** Where `path` leads when `link` (path itself, or its ancestor `at`) is a symlink to `target`. */
function resolveLink(path: string, target: string, at: string = path): string {
  const rest = path.slice(at.length);
  const base = target.startsWith('/') ? target : posix.join(posix.dirname(`/${at}`), target);
  return posix.normalize(`/${base}${rest}`).replace(/^\/+/, '');
}

/** Look `path` (relative to the root, no leading slash) up in `layers` (bottom first), from layer `top` down. */
export async function readImageFile(layers: readonly ImageLayer[], path: string, top = layers.length - 1, cache?: LayerVerdictCache): Promise<ImageFileLookup> {
  let wanted = normalizeEntryPath(path, 'lookup');
  let hops = 0;
  for (let i = top; i >= 0; i--) {
    const layer = layers[i]!;
    const verdict = await layerVerdict(layer, cache, wanted);
    if (verdict.kind === 'none') continue;
    if (verdict.kind === 'file') return { kind: 'found', content: verdict.content, layer: i };
    if (verdict.kind === 'removed') return { kind: 'removed', layer: i };
    if (verdict.kind === 'hardlink') {
      const target = await layerVerdict(layer, cache, wanted, verdict.target);
      if (target.kind !== 'file') throw new SbomError('EIMAGEFILE', `${layer.name}: ${wanted} is a hardlink to ${verdict.target}, which that layer does not hold; the layer is malformed, rebuild it`);
      return { kind: 'found', content: target.content, layer: i };
    }
    if (++hops > MAX_SYMLINKS) throw new SbomError('EIMAGEFILE', `${path}: too many levels of symbolic links in the image`);
    // A symlink is followed in the merged tree: start again from the top.
    wanted = normalizeEntryPath(verdict.path, 'lookup');
    i = top + 1;
  }
  return { kind: 'absent' };
}
