/**
 * Merge a stack of layers into one uncompressed tar of the resulting root
 * filesystem (image-spec layer.md "Applying changesets"), streaming, with no
 * unpacking to disk:
 *
 * 1. Scan every layer's headers once and decide, from the top down, which
 *    entries survive: whiteouts and opaque markers hide lower entries, a
 *    later entry replaces an earlier one at the same path (a directory
 *    keeping the later attributes), and a non-directory hides whatever a
 *    lower layer had beneath its path.
 * 2. Plan hardlinks so each still points at an entry that is in the
 *    output; when its target was hidden or replaced, the first surviving
 *    link becomes a regular file with the target's content, read by
 *    reopening the target's layer.
 * 3. Stream the surviving entries bottom-up.
 *
 * Memory grows with the number of entries, not with the data. The scan of
 * step 1 depends only on a layer's bytes, so a caller may remember it by
 * the layer's digest (`scans`, see flatten-scans.ts) and spare the next
 * flatten of that layer one decompression.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { LayerError } from './errors.js';
import { ancestors, normalizeEntryPath } from './entry-path.js';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type EntryType, type TarHeader } from './tar-header.js';
import { readTar } from './tar-reader.js';
import { classifyWhiteout } from './whiteout.js';

/** Opens one layer's blob (gzip or plain tar) from its start; called more than once. */
export type LayerOpener = () => Readable;

export interface FlattenOptions {
  /** How errors name each layer (e.g. its digest or stage); "layer N" otherwise. */
  names?: readonly string[];
  /** Scans of the layers remembered from an earlier flatten; a layer not remembered is scanned and offered to it. */
  scans?: ScanMemory;
}

/** Step 1's result for layer number `layer` of the stack, kept between runs. */
export interface ScanMemory {
  get(layer: number): Promise<readonly ScannedEntry[] | undefined>;
  set(layer: number, entries: readonly ScannedEntry[]): Promise<void>;
}

export interface ScannedEntry {
  index: number;
  path: string;
  type: EntryType;
  /** Normalized target of a hardlink. */
  target: string;
}

interface ScannedLayer {
  entries: ScannedEntry[];
  /** Last entry index of each ordinary path in this layer. */
  last: Map<string, number>;
}

type Plan = { kind: 'keep'; linkname?: string } | { kind: 'carrier'; layer: number; index: number };

const MAX_LINK_CHAIN = 64;

export function flatten(layers: readonly LayerOpener[], options: FlattenOptions = {}): Readable {
  return Readable.from(flattenTar(layers, options), { objectMode: false });
}

/** The merged tar as an async sequence of chunks. */
export async function* flattenTar(layers: readonly LayerOpener[], options: FlattenOptions = {}): AsyncGenerator<Buffer> {
  const name = (i: number): string => options.names?.[i] ?? `layer ${i + 1} of ${layers.length}`;
  const scanned: ScannedLayer[] = [];
  for (let i = 0; i < layers.length; i++) {
    const remembered = await options.scans?.get(i);
    if (remembered !== undefined) {
      scanned.push(scannedLayer(remembered));
      continue;
    }
    const layer = await scanLayer(layers[i]!, name(i));
    await options.scans?.set(i, layer.entries);
    scanned.push(layer);
  }
  refuseSymlinkParents(scanned, name);
  const visible = decideVisibility(scanned);
  const plans = planHardlinks(scanned, visible, name);

  for (let i = 0; i < layers.length; i++) {
    const plan = plans[i]!;
    for await (const entry of readTar(uncompressed(layers[i]!()))) {
      const p = plan.get(entry.index);
      if (p === undefined) continue;
      const path = normalizeEntryPath(entry.header.path, name(i));
      if (p.kind === 'carrier') {
        yield* carrierEntry(layers[p.layer]!, p.index, path, name(p.layer));
        continue;
      }
      const header: TarHeader = { ...entry.header, path: path === '' ? '.' : path };
      if (p.linkname !== undefined) header.linkname = p.linkname;
      yield encodeHeader(header);
      if (header.type === 'file' && header.size > 0) {
        yield* entry.body();
        yield paddingFor(header.size);
      }
    }
  }
  yield END_OF_ARCHIVE;
}

/**
 * Output chunk of layer decompression: zlib's default 16 KiB cut a 200 MB
 * layer into 12 800 chunks, each a trip through the stream and tar-reader
 * machinery, which cost more than inflating them.
 */
export const GUNZIP_CHUNK = 256 * 1024;

/** A layer's tar, gunzipped when it starts with the gzip magic. */
export function uncompressed(source: Readable): AsyncIterable<Buffer> {
  return (async function* () {
    try {
      const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const first = await it.next();
      if (first.done) return;
      const all = (async function* () {
        yield first.value;
        for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      })();
      if (first.value[0] === 0x1f && first.value[1] === 0x8b) {
        const input = Readable.from(all);
        const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK });
        input.on('error', (e) => gunzip.destroy(e));
        gunzip.on('close', () => input.destroy());
        yield* input.pipe(gunzip) as AsyncIterable<Buffer>;
      } else {
        yield* all;
      }
    } finally {
      source.destroy();
    }
  })();
}

function scannedLayer(entries: readonly ScannedEntry[]): ScannedLayer {
  const layer: ScannedLayer = { entries: [...entries], last: new Map() };
  for (const e of entries) if (classifyWhiteout(e.path).kind === 'none') layer.last.set(e.path, e.index);
  return layer;
}

async function scanLayer(open: LayerOpener, where: string): Promise<ScannedLayer> {
  const layer: ScannedLayer = { entries: [], last: new Map() };
  for await (const entry of readTar(uncompressed(open()))) {
    const path = normalizeEntryPath(entry.header.path, where);
    const target = entry.header.type === 'link' ? normalizeEntryPath(entry.header.linkname, `${where}, hardlink ${path}`) : '';
    layer.entries.push({ index: entry.index, path, type: entry.header.type, target });
    if (classifyWhiteout(path).kind === 'none') layer.last.set(path, entry.index);
  }
  return layer;
}

/**
 * Refuse an entry whose parent, when its layer is applied, is a symlink (of
 * a lower layer or earlier in its own): whoever extracts the merged tar
 * would write through that link, possibly outside the root. A layer made
 * from an upperdir never holds such a path (it has the resolved one), so
 * this one is malformed or malicious. Memory: the symlink paths only.
 */
function refuseSymlinkParents(layers: readonly ScannedLayer[], name: (i: number) => string): void {
  const symlinks = new Set<string>();
  /** Forget the symlinks at `path` (when `self`) and below it. */
  const forget = (path: string, self: boolean): void => {
    const prefix = path === '' ? '' : `${path}/`;
    for (const s of symlinks) if ((self && s === path) || s.startsWith(prefix)) symlinks.delete(s);
  };
  for (let i = 0; i < layers.length; i++) {
    const entries = layers[i]!.entries;
    // A layer's whiteouts act on the layers below it, before its own entries land.
    for (const e of entries) {
      const wh = classifyWhiteout(e.path);
      if (wh.kind === 'whiteout') forget(wh.target, true);
      else if (wh.kind === 'opaque') forget(wh.dir, false);
    }
    for (const e of entries) {
      if (classifyWhiteout(e.path).kind !== 'none') continue;
      for (const a of ancestors(e.path)) {
        if (!symlinks.has(a)) continue;
        throw new LayerError(
          'ELAYERPATH',
          `${name(i)}: entry ${shown(e.path)} goes through the symlink ${shown(a)}; a layer never holds paths under a symlink, so this one is malformed or malicious, rebuild it`,
        );
      }
      if (e.type === 'symlink') {
        forget(e.path, false);
        symlinks.add(e.path);
      } else if (e.type === 'dir') {
        symlinks.delete(e.path);
      } else {
        forget(e.path, true);
      }
    }
  }
}

/** A latin1 entry path as the user reads it, quoted. */
function shown(path: string): string {
  return JSON.stringify(Buffer.from(path, 'latin1').toString('utf8'));
}

/** For each layer, the indexes of the entries that appear in the merged tree. */
function decideVisibility(layers: readonly ScannedLayer[]): Set<number>[] {
  const visible = layers.map(() => new Set<number>());
  // What the layers above hide from the ones below.
  const replaced = new Set<string>(); // the path itself
  const removed = new Set<string>(); // the path and everything under it
  const opaque = new Set<string>(); // everything under the path
  const hidden = (path: string): boolean => {
    if (replaced.has(path) || removed.has(path)) return true;
    for (const a of ancestors(path)) if (removed.has(a) || opaque.has(a)) return true;
    return false;
  };
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i]!;
    const effects: { replaced: string[]; removed: string[]; opaque: string[] } = { replaced: [], removed: [], opaque: [] };
    for (const e of layer.entries) {
      const wh = classifyWhiteout(e.path);
      if (wh.kind === 'opaque') effects.opaque.push(wh.dir);
      else if (wh.kind === 'whiteout') effects.removed.push(wh.target);
      if (wh.kind !== 'none') continue;
      // A directory replaces a lower entry's attributes; anything else replaces its whole subtree.
      (e.type === 'dir' ? effects.replaced : effects.removed).push(e.path);
      if (layer.last.get(e.path) === e.index && !hidden(e.path)) visible[i]!.add(e.index);
    }
    // Whiteouts and replacements act on lower layers only, never on their own.
    for (const p of effects.replaced) replaced.add(p);
    for (const p of effects.removed) removed.add(p);
    for (const p of effects.opaque) opaque.add(p);
  }
  return visible;
}

/** Per layer, entry index → how to emit it; entries absent from the map are dropped. */
function planHardlinks(layers: readonly ScannedLayer[], visible: readonly Set<number>[], name: (i: number) => string): Map<number, Plan>[] {
  const plans = layers.map(() => new Map<number, Plan>());
  const carriers = new Map<string, string>(); // "layer:index" of a hidden target → path of the file now carrying it
  for (let i = 0; i < layers.length; i++) {
    for (const e of layers[i]!.entries) {
      if (!visible[i]!.has(e.index)) continue;
      if (e.type !== 'link') {
        plans[i]!.set(e.index, { kind: 'keep' });
        continue;
      }
      const t = resolveLink(layers, i, e, name);
      if (visible[t.layer]!.has(t.index)) {
        plans[i]!.set(e.index, { kind: 'keep', linkname: t.path });
        continue;
      }
      const key = `${t.layer}:${t.index}`;
      const carrier = carriers.get(key);
      if (carrier === undefined) {
        carriers.set(key, e.path);
        plans[i]!.set(e.index, { kind: 'carrier', layer: t.layer, index: t.index });
      } else {
        plans[i]!.set(e.index, { kind: 'keep', linkname: carrier });
      }
    }
  }
  return plans;
}

/** The regular-file entry a hardlink refers to, as the tree stood when its layer was applied. */
function resolveLink(layers: readonly ScannedLayer[], layer: number, link: ScannedEntry, name: (i: number) => string): { layer: number; index: number; path: string } {
  let target = link.target;
  let before = link.index;
  let k = layer;
  for (let hops = 0; hops < MAX_LINK_CHAIN && k >= 0; ) {
    const idx = layers[k]!.last.get(target);
    if (idx === undefined || idx >= before) {
      k--;
      before = Infinity;
      continue;
    }
    // Entry indexes are positions in the scanned list.
    const entry = layers[k]!.entries[idx]!;
    if (entry.type === 'file') return { layer: k, index: idx, path: target };
    if (entry.type !== 'link') break;
    target = entry.target;
    before = idx;
    hops++;
  }
  throw new LayerError('ELAYERLINK', `${name(layer)}: hardlink ${JSON.stringify(link.path)} points to ${JSON.stringify(link.target)}, which is not a regular file in this or a lower layer; the layer is malformed`);
}

/** A hardlink whose target no longer exists, emitted as a regular file with the target's attributes and data. */
async function* carrierEntry(open: LayerOpener, index: number, path: string, where: string): AsyncGenerator<Buffer> {
  for await (const entry of readTar(uncompressed(open()))) {
    if (entry.index !== index) continue;
    const header: TarHeader = { ...entry.header, path };
    yield encodeHeader(header);
    if (header.size > 0) {
      yield* entry.body();
      yield paddingFor(header.size);
    }
    return;
  }
  throw new LayerError('ELAYERREAD', `${where} changed between reads: entry ${index} is gone`);
}
