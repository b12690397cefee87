/**
 * The local package archive: every .apk a build installs stays in
 * <cacheDir>/apk/packages/, named by its identity and its C: checksum, so a
 * locked build can install a pin that the repositories have since deleted.
 * An archived package is trusted exactly as a repository package is: its
 * control member must hash to the checksum the lock recorded from the signed
 * index and carry a valid signature by a trusted key; its index entry is
 * read from that verified control member (.PKGINFO), never from elsewhere.
 */
import type { KeyObject } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readApk } from './package-file.js';
import type { PackageInfo } from './types.js';

/** What a lock pins: enough to name an archived package and check it. */
export interface PackagePin {
  name: string;
  version: string;
  checksum: string;
}

/** Marks index entries that came from the archive rather than a repository. */
export const ARCHIVE_REPOSITORY = 'eib-package-archive';

/** Hex of a C: checksum ("Q1" + base64 sha1, "Q2" + base64 sha256). */
export function checksumHex(checksum: string): string {
  return checksum.length > 2 ? Buffer.from(checksum.slice(2), 'base64').toString('hex') : 'nochecksum';
}

/** Where the cache keeps (or would keep) the .apk of `pkg`. */
export function archivedPackagePath(cacheDir: string, pkg: PackagePin): string {
  return join(cacheDir, 'apk', 'packages', `${pkg.name}-${pkg.version}.${checksumHex(pkg.checksum)}.apk`);
}

/** The archived file of `pin`, if the local archive holds one. */
export async function findArchivedPackage(cacheDir: string, pin: PackagePin): Promise<string | undefined> {
  const path = archivedPackagePath(cacheDir, pin);
  return (await stat(path).then((s) => s.isFile(), () => false)) ? path : undefined;
}

/**
 * The index entry of the archived package at `path`, after checking that it
 * is the package `pin` names (checksum, name, version) and signed by one of
 * `keys`. Throws the package errors a repository package would get.
 */
export async function archivedPackageInfo(path: string, pin: PackagePin, options: { keys: ReadonlyMap<string, KeyObject>; allowUntrusted: boolean }): Promise<PackageInfo> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    const expected: PackageInfo = { ...emptyInfo(pin), size };
    const { control } = await readApk(file, { expected, keys: options.keys, allowUntrusted: options.allowUntrusted, controlOnly: true });
    const one = (key: string): string | undefined => control.pkginfo.get(key)?.[0];
    const many = (key: string): string[] => control.pkginfo.get(key) ?? [];
    const info: PackageInfo = {
      ...expected,
      arch: one('arch') ?? '',
      installedSize: Number(one('size') ?? 0) || 0,
      description: one('pkgdesc') ?? '',
      url: one('url') ?? '',
      license: one('license') ?? '',
      depends: many('depend'),
      provides: many('provides'),
      installIf: many('install_if'),
      replaces: many('replaces'),
    };
    const origin = one('origin');
    const maintainer = one('maintainer');
    const commit = one('commit');
    const buildTime = Number(one('builddate'));
    const priority = Number(one('provider_priority'));
    if (origin) info.origin = origin;
    if (maintainer) info.maintainer = maintainer;
    if (commit) info.commit = commit;
    if (Number.isSafeInteger(buildTime) && one('builddate') !== undefined) info.buildTime = buildTime;
    if (Number.isSafeInteger(priority) && priority > 0) info.providerPriority = priority;
    return info;
  } finally {
    await file.close();
  }
}

function emptyInfo(pin: PackagePin): PackageInfo {
  return {
    name: pin.name,
    version: pin.version,
    arch: '',
    size: 0,
    installedSize: 0,
    description: '',
    url: '',
    license: '',
    depends: [],
    provides: [],
    installIf: [],
    replaces: [],
    checksum: pin.checksum,
    repository: ARCHIVE_REPOSITORY,
  };
}
