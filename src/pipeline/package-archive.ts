/**
 * The package archive as a build uses it: a pin of eib.lock.json that the
 * repositories no longer offer is taken from the local archive (the cache's
 * apk/packages/), else pulled from the shared cache's registry, and checked
 * like a repository package before it is used. Packages a build installed
 * are archived to the registry after the stage that installed them.
 */
import type { KeyObject } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { archivedPackageInfo, archivedPackagePath, findArchivedPackage, type PackagePin } from '../apk/archive.js';
import type { PackageInfo } from '../apk/types.js';
import { wrapError } from '../errors.js';
import type { SharedCache } from '../remote/shared-cache.js';

export interface PackageArchiveOptions {
  cacheDir: string;
  keys: ReadonlyMap<string, KeyObject>;
  allowUntrusted: boolean;
  shared?: SharedCache | undefined;
}

export class PackageArchive {
  private readonly options: PackageArchiveOptions;

  constructor(options: PackageArchiveOptions) {
    this.options = options;
  }

  /**
   * The verified index entry of the archived `pin`, or undefined when
   * neither the local archive nor the registry holds it. An archived file
   * that is not the pinned, trusted package is an error (and not kept when
   * it came from the registry).
   */
  async pinned(pin: PackagePin): Promise<PackageInfo | undefined> {
    const { cacheDir, shared } = this.options;
    let path = await findArchivedPackage(cacheDir, pin);
    const pulled = path === undefined;
    if (path === undefined && shared) {
      const dest = archivedPackagePath(cacheDir, pin);
      if (await shared.fetchPackage(pin, dest)) path = dest;
    }
    if (path === undefined) return undefined;
    try {
      return await archivedPackageInfo(path, pin, this.options);
    } catch (e) {
      if (pulled) await rm(path, { force: true });
      throw wrapError(`archived package ${pin.name}-${pin.version} (${path})`, e);
    }
  }

  /** Archive in the registry what a built stage installed (its .apk files are in the local archive). */
  async keep(installed: readonly PackageInfo[]): Promise<void> {
    const { cacheDir, shared } = this.options;
    if (!shared) return;
    for (const pkg of installed) {
      const path = await findArchivedPackage(cacheDir, pkg);
      if (path) await shared.publishPackage(pkg, path);
    }
  }
}
