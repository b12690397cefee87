/**
 * What takes the room in an image: the flattened rootfs read from its
 * layers (no unpacking), its total (regular file bytes, each hardlinked
 * file once: what `du --apparent-size` counts for the files), each
 * installed package's share (its files as present in the rootfs, from the
 * apk database there) and the largest paths. Also the `outputs.max-size`
 * check of a build. Works on layer openers, wherever the blobs live.
 */
import { DB_PATHS, parseInstalled } from '../apk/database.js';
import type { AlpineArch, Config } from '../config/types.js';
import { EibError } from '../errors.js';
import { flattenTar, type LayerOpener } from '../layer/flatten.js';
import { readTree, type Tree } from '../layer/tree.js';
import { formatBytes } from '../fs/byte-size.js';

export interface SizeEntry {
  /** Package name, or a path with a leading "/" (directories end in "/"). */
  name: string;
  bytes: number;
  version?: string;
}

export interface ImageSize {
  arch: AlpineArch;
  stage: string;
  /** Bytes of regular files in the flattened rootfs (hardlinks counted once). */
  total: number;
  files: number;
  /** Installed packages, largest first. */
  packages: SizeEntry[];
  /** Files and directories (cumulative), largest first. */
  paths: SizeEntry[];
}

/** Sizes from a flattened rootfs tree. */
export function treeSize(tree: Tree, top: number): Omit<ImageSize, 'arch' | 'stage'> {
  let total = 0;
  let files = 0;
  const dirs = new Map<string, number>();
  const fileSizes: SizeEntry[] = [];
  for (const [path, e] of tree.entries) {
    if (e.type !== 'file') continue;
    total += e.size;
    files++;
    fileSizes.push({ name: `/${path}`, bytes: e.size });
    for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
      const dir = path.slice(0, i);
      dirs.set(dir, (dirs.get(dir) ?? 0) + e.size);
    }
  }
  const db = tree.kept.get(DB_PATHS.installed);
  const packages: SizeEntry[] = [];
  for (const pkg of db ? parseInstalled(db.toString('utf8')) : []) {
    let bytes = 0;
    for (const dir of pkg.dirs) {
      for (const f of dir.files) {
        const e = tree.entries.get(dir.name === '' ? f.name : `${dir.name}/${f.name}`);
        if (e?.type === 'file') bytes += e.size;
      }
    }
    packages.push({ name: pkg.name, version: pkg.version, bytes });
  }
  const paths = [...fileSizes, ...[...dirs].map(([dir, bytes]) => ({ name: `/${dir}/`, bytes }))];
  const bySize = (a: SizeEntry, b: SizeEntry): number => b.bytes - a.bytes || a.name.localeCompare(b.name);
  return { total, files, packages: packages.sort(bySize).slice(0, top), paths: paths.sort(bySize).slice(0, top) };
}

/** The size of the rootfs the layers make, bottom first. */
export async function rootfsSize(layers: readonly LayerOpener[], options: { names?: readonly string[]; top?: number } = {}): Promise<Omit<ImageSize, 'arch' | 'stage'>> {
  const tree = await readTree(flattenTar(layers, options.names ? { names: options.names } : {}), { keep: [DB_PATHS.installed], name: 'the flattened rootfs' });
  return treeSize(tree, options.top ?? 10);
}

/** `outputs.max-size`: an error naming the limit, the size and the largest packages when the rootfs of `arch` exceeds it. */
export function checkMaxSize(config: Config, arch: AlpineArch, size: Omit<ImageSize, 'arch' | 'stage'>): void {
  const max = config.outputs.maxSize;
  if (max === undefined || size.total <= max) return;
  const largest = size.packages
    .slice(0, 3)
    .map((p) => `${p.name} ${formatBytes(p.bytes)}`)
    .join(', ');
  throw new EibError(
    'EMAXSIZE',
    `the ${arch} rootfs is ${formatBytes(size.total)} (${size.total} bytes), more than outputs.max-size ${formatBytes(max)} (${max} bytes) of ${config.file}${largest ? `; largest packages: ${largest}` : ''}; see eib size, or raise outputs.max-size`,
  );
}
