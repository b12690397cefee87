/**
 * `eib diff`: what changed between two images. Packages first (added,
 * removed, upgraded: from the apk database each image ends with), then
 * files (added, removed, changed: type, mode, owner, size, content, link
 * target). When both images have the same stages, files are compared stage
 * by stage: what each stage's layer adds, changes or deletes (a deletion is
 * the layer's whiteout). Otherwise the flattened root filesystems are
 * compared as a whole. Files that belong to a changed package, and apk's
 * own database, are left out of the file list: the package line says it.
 */
import { Readable } from 'node:stream';
import { DB_PATHS, parseInstalled, type InstalledPackage } from '../apk/database.js';
import type { AlpineArch, Config } from '../config/types.js';
import { flattenTar, uncompressed } from '../layer/flatten.js';
import { readTree, type Tree, type TreeEntry } from '../layer/tree.js';
import { classifyWhiteout } from '../layer/whiteout.js';
import { openImage, type OpenedImage } from './image-ref.js';
import { EibError } from '../errors.js';
import { previousTag } from '../store/built-image.js';
import { OciLayout } from '../store/layout.js';

export type FileAspect = 'type' | 'mode' | 'owner' | 'size' | 'content' | 'target';

export interface FileChange {
  /** Absolute path in the rootfs. */
  path: string;
  change: 'added' | 'removed' | 'changed';
  /** For a change: what differs. */
  aspects?: FileAspect[];
  from?: FileState;
  to?: FileState;
}

export interface FileState {
  /** file, dir, symlink, link, char, block, fifo; whiteout for a deletion a stage makes. */
  type: string;
  mode: string;
  owner: string;
  size: number;
  sha256?: string;
  target?: string;
}

export interface PackageChange {
  name: string;
  from: string | null;
  to: string | null;
}

export interface ImageDiff {
  a: string;
  b: string;
  arch: AlpineArch;
  packages: { added: PackageChange[]; removed: PackageChange[]; upgraded: PackageChange[] };
  /** Per stage when both images share their stages; else one group named "rootfs". */
  byStage: boolean;
  files: { stage: string; changes: FileChange[] }[];
  /** Files left out because a changed package owns them (or they are apk's database). */
  packageFiles: number;
}

const WHITEOUT = 'whiteout';

function state(e: TreeEntry): FileState {
  return {
    type: e.type,
    mode: (e.mode & 0o7777).toString(8).padStart(4, '0'),
    owner: `${e.uid}:${e.gid}`,
    size: e.size,
    ...(e.sha256 ? { sha256: e.sha256 } : {}),
    ...(e.type === 'symlink' || e.type === 'link' ? { target: e.linkname } : {}),
  };
}

/** A layer's entries with whiteouts as entries of the path they delete. */
function layerEntries(tree: Tree): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  for (const [path, e] of tree.entries) {
    const w = classifyWhiteout(path);
    if (w.kind === 'whiteout') out.set(w.target, { type: WHITEOUT as TreeEntry['type'], mode: 0, uid: 0, gid: 0, size: 0, linkname: '' });
    else if (w.kind === 'opaque') out.set(w.dir, { ...(out.get(w.dir) ?? e), linkname: 'opaque' });
    else if (w.kind === 'none') out.set(path, e);
  }
  return out;
}

function compare(a: Map<string, TreeEntry>, b: Map<string, TreeEntry>, skip: (path: string) => boolean): { changes: FileChange[]; skipped: number } {
  const changes: FileChange[] = [];
  let skipped = 0;
  for (const path of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (path === '') continue;
    const x = a.get(path);
    const y = b.get(path);
    let change: FileChange | undefined;
    if (!x) change = { path: `/${path}`, change: 'added', to: state(y!) };
    else if (!y) change = { path: `/${path}`, change: 'removed', from: state(x) };
    else {
      const aspects: FileAspect[] = [];
      if (x.type !== y.type) aspects.push('type');
      if ((x.mode & 0o7777) !== (y.mode & 0o7777)) aspects.push('mode');
      if (x.uid !== y.uid || x.gid !== y.gid) aspects.push('owner');
      if (x.size !== y.size) aspects.push('size');
      if (x.sha256 !== y.sha256) aspects.push('content');
      if (x.linkname !== y.linkname) aspects.push('target');
      if (aspects.length > 0) change = { path: `/${path}`, change: 'changed', aspects, from: state(x), to: state(y) };
    }
    if (!change) continue;
    if (skip(path)) skipped++;
    else changes.push(change);
  }
  return { changes, skipped };
}

async function treeOf(stream: Readable | AsyncIterable<Buffer>, name: string): Promise<Tree> {
  return readTree(stream as AsyncIterable<Buffer>, { keep: [DB_PATHS.installed], name });
}

function packagesOf(db: Buffer | undefined): Map<string, InstalledPackage> {
  return new Map((db ? parseInstalled(db.toString('utf8')) : []).map((p) => [p.name, p]));
}

function packageFiles(pkg: InstalledPackage): string[] {
  return pkg.dirs.flatMap((d) => [d.name, ...d.files.map((f) => (d.name === '' ? f.name : `${d.name}/${f.name}`))]).filter((p) => p !== '');
}

/**
 * `eib diff [A] [B]`: B defaults to the last build (outputs.tag), A to the
 * build before it (its `.previous` tag).
 */
export async function diffCommand(config: Config, options: { a?: string; b?: string; arch: AlpineArch }): Promise<ImageDiff> {
  const b = options.b ?? config.outputs.tag;
  let a = options.a;
  if (a === undefined) {
    a = previousTag(config.outputs.tag);
    const layout = await OciLayout.open(config.outputs.oci).catch(() => undefined);
    if (!layout || !(await layout.tags()).includes(a)) {
      throw new EibError('ENOIMAGE', `${config.outputs.oci} holds no build before the last one (tag ${a}): build again after a change, or name two images: eib diff A B`, { exitCode: 2 });
    }
  }
  return diffImages(config, a, b, options.arch);
}

/** The diff for people: packages, then files per stage. */
export function diffText(d: ImageDiff): string {
  const lines: string[] = [];
  const { added, removed, upgraded } = d.packages;
  if (added.length + removed.length + upgraded.length > 0) {
    lines.push('packages:');
    for (const p of added) lines.push(`  + ${p.name} ${p.to}`);
    for (const p of removed) lines.push(`  - ${p.name} ${p.from}`);
    for (const p of upgraded) lines.push(`  ~ ${p.name} ${p.from} → ${p.to}`);
  }
  for (const group of d.files) {
    if (group.changes.length === 0) continue;
    lines.push(d.byStage ? `files (stage ${group.stage}):` : 'files:');
    for (const c of group.changes) lines.push(`  ${changeText(c)}`);
  }
  if (d.packageFiles > 0) lines.push(`(${d.packageFiles} file(s) of the changed packages and apk's database not listed)`);
  if (lines.length === 0) lines.push('no differences');
  return [`${d.a} → ${d.b} (${d.arch})`, ...lines].join('\n');
}

function changeText(c: FileChange): string {
  const describe = (s: FileState): string => (s.type === WHITEOUT ? 'deleted by the stage' : `${s.type} ${s.mode} ${s.owner}${s.type === 'file' ? ` ${s.size} B` : ''}${s.target ? ` → ${s.target}` : ''}`);
  if (c.change === 'added') return `+ ${c.path}  ${describe(c.to!)}`;
  if (c.change === 'removed') return `- ${c.path}  ${describe(c.from!)}`;
  const from = c.from!;
  const to = c.to!;
  const parts = c.aspects!.map((a) => {
    switch (a) {
      case 'type':
        return `type ${from.type} → ${to.type}`;
      case 'mode':
        return `mode ${from.mode} → ${to.mode}`;
      case 'owner':
        return `owner ${from.owner} → ${to.owner}`;
      case 'size':
        return `size ${from.size} → ${to.size}`;
      case 'target':
        return `target ${from.target ?? ''} → ${to.target ?? ''}`;
      case 'content':
        return 'content';
    }
  });
  return `~ ${c.path}  ${parts.join(', ')}`;
}

/** Compare image `a` with image `b` (as named on the command line) for `arch`. */
export async function diffImages(config: Config, a: string, b: string, arch: AlpineArch): Promise<ImageDiff> {
  const left = await openImage(a, config, arch);
  try {
    const right = await openImage(b, config, arch);
    try {
      return await diffOpened(left, right, arch);
    } finally {
      right.close();
    }
  } finally {
    left.close();
  }
}

async function diffOpened(left: OpenedImage, right: OpenedImage, arch: AlpineArch): Promise<ImageDiff> {
  const sameStages = left.stages !== undefined && right.stages !== undefined && JSON.stringify(left.stages.map((s) => s.name)) === JSON.stringify(right.stages.map((s) => s.name));
  const groups: { stage: string; a: Map<string, TreeEntry>; b: Map<string, TreeEntry> }[] = [];
  let dbA: Buffer | undefined;
  let dbB: Buffer | undefined;
  if (sameStages) {
    const layerTree = async (img: OpenedImage, layer: OpenedImage['layers'][number] | null): Promise<Tree> =>
      layer ? treeOf(uncompressed(await img.open(layer)), `${img.label} layer ${layer.digest}`) : { entries: new Map(), kept: new Map() };
    for (const [i, stage] of left.stages!.entries()) {
      const ta = await layerTree(left, stage.layer);
      const tb = await layerTree(right, right.stages![i]!.layer);
      // The database of the highest layer that writes it is the image's.
      dbA = ta.kept.get(DB_PATHS.installed) ?? dbA;
      dbB = tb.kept.get(DB_PATHS.installed) ?? dbB;
      groups.push({ stage: stage.name, a: layerEntries(ta), b: layerEntries(tb) });
    }
  } else {
    const flat = async (img: OpenedImage): Promise<Tree> => {
      // flatten reopens layers (a scan, then the content): each open fetches the blob again.
      const fetch = async function* (layer: OpenedImage['layers'][number]): AsyncGenerator<Buffer> {
        yield* (await img.open(layer)) as AsyncIterable<Buffer>;
      };
      const openers = img.layers.map((l) => () => Readable.from(fetch(l)));
      return treeOf(flattenTar(openers), img.label);
    };
    const ta = await flat(left);
    const tb = await flat(right);
    dbA = ta.kept.get(DB_PATHS.installed);
    dbB = tb.kept.get(DB_PATHS.installed);
    groups.push({ stage: 'rootfs', a: ta.entries, b: tb.entries });
  }

  const before = packagesOf(dbA);
  const after = packagesOf(dbB);
  const packages: ImageDiff['packages'] = { added: [], removed: [], upgraded: [] };
  const owned = new Set<string>();
  for (const name of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const x = before.get(name);
    const y = after.get(name);
    if (x && y && x.version === y.version && x.checksum === y.checksum) continue;
    for (const p of [...(x ? packageFiles(x) : []), ...(y ? packageFiles(y) : [])]) owned.add(p);
    const change = { name, from: x?.version ?? null, to: y?.version ?? null };
    if (!x) packages.added.push(change);
    else if (!y) packages.removed.push(change);
    else packages.upgraded.push(change);
  }
  const skip = (path: string): boolean => owned.has(path) || path.startsWith('lib/apk/db/');
  let skipped = 0;
  const files = groups.map((g) => {
    const r = compare(g.a, g.b, skip);
    skipped += r.skipped;
    return { stage: g.stage, changes: r.changes };
  });
  return { a: left.label, b: right.label, arch, packages, byStage: sameStages, files, packageFiles: skipped };
}
