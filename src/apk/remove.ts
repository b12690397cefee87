/**
 * Removing what an installed package put in a root, as apk-tools does when
 * it purges a package or upgrades it to a version that no longer ships some
 * files (src/database.c apk_db_purge_pkg, apk_db_migrate_files): its files
 * go, except configuration files in protected paths that were changed in
 * the root; then its directories that no other package owns and that are
 * empty. In an overlay root, what goes becomes a whiteout in the stage's
 * layer.
 */
import { rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { lstatOrUndefined } from '../fs/stat.js';
import type { InstalledPackage } from './database.js';
import { checksumOnDisk, type ProtectedPaths } from './protected-paths.js';

export interface RemoveOptions {
  root: string;
  protectedPaths: ProtectedPaths;
  /** Directories (relative, no leading slash) that packages staying in the root still own. */
  ownedElsewhere: ReadonlySet<string>;
  /** Files to delete, by relative path, with the checksum the database recorded. */
  files: ReadonlyMap<string, string | undefined>;
  /** Directories of the package, candidates for removal. */
  dirs: readonly string[];
}

export interface RemoveResult {
  /** Rooted names of the directories whose content changed (for triggers). */
  touched: string[];
  /** Changed configuration files left in place. */
  kept: string[];
}

const parentOf = (path: string): string => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');

export async function removePackageFiles(o: RemoveOptions): Promise<RemoveResult> {
  const touched = new Set<string>();
  const kept: string[] = [];
  for (const [path, recorded] of o.files) {
    const dir = parentOf(path);
    if (o.protectedPaths.isProtected(dir) && recorded !== undefined) {
      const current = await checksumOnDisk(o.root, path);
      if (current !== undefined && current !== recorded) {
        kept.push(path);
        continue;
      }
    }
    try {
      await unlink(join(o.root, path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    touched.add(`/${dir}`);
  }
  // Deepest first, so a parent sees its children gone.
  const dirs = [...o.dirs].filter((d) => d !== '' && !o.ownedElsewhere.has(d)).sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1));
  for (const dir of dirs) {
    const st = await lstatOrUndefined(join(o.root, dir));
    if (!st?.isDirectory()) continue;
    try {
      await rmdir(join(o.root, dir));
      touched.add(`/${parentOf(dir)}`);
    } catch (e) {
      // Not empty: files of no package, or of a package that did not declare the directory.
      if (!['ENOTEMPTY', 'EEXIST', 'EBUSY'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    }
  }
  return { touched: [...touched], kept };
}

/** Every file path a package's record lists, with its recorded checksum. */
export function recordedFiles(record: InstalledPackage): Map<string, string | undefined> {
  const files = new Map<string, string | undefined>();
  for (const dir of record.dirs) for (const f of dir.files) files.set(dir.name ? `${dir.name}/${f.name}` : f.name, f.checksum);
  return files;
}
