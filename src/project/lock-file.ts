/**
 * eib.lock.json: the resolved packages of every stage and arch, in install
 * order, and the digest of each signed index they were resolved against.
 * When it exists, builds install exactly what it pins; a pin that neither
 * the repositories nor the package archive hold fails with a message to
 * refresh the lock.
 */
import { isAbsolute, join, relative } from 'node:path';
import type { AlpineArch } from '../config/types.js';
import type { PackageInfo } from '../apk/types.js';
import { EibError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { readIfExists } from '../fs/stat.js';

export const LOCK_FILE = 'eib.lock.json';

export interface LockedPackage {
  name: string;
  version: string;
  arch: string;
  repository: string;
  checksum: string;
}

export interface LockFile {
  lockVersion: 1;
  /** arch → stage name → packages that stage installs, in install order. */
  arches: Partial<Record<AlpineArch, Record<string, LockedPackage[]>>>;
  /**
   * arch → repository (as in `repository` of a pin) → sha256:<hex> of the
   * signed APKINDEX.tar.gz the pins were resolved against. Absent in locks
   * written before eib recorded it.
   */
  indexes?: Partial<Record<AlpineArch, Record<string, string>>>;
}

export function lockPath(configDir: string): string {
  return join(configDir, LOCK_FILE);
}

/** A repository as the lock names it: local ones relative to the config's folder, so the lock is portable. */
export function lockedRepository(repository: string, configDir: string): string {
  return isAbsolute(repository) ? relative(configDir, repository) || '.' : repository;
}

/** A lock entry. */
export function lockedPackage(p: PackageInfo, configDir: string): LockedPackage {
  return { name: p.name, version: p.version, arch: p.arch, repository: lockedRepository(p.repository, configDir), checksum: p.checksum };
}

export async function readLock(configDir: string): Promise<LockFile | undefined> {
  const path = lockPath(configDir);
  const text = (await readIfExists(path))?.toString('utf8');
  if (text === undefined) return undefined;
  let lock: LockFile;
  try {
    lock = JSON.parse(text) as LockFile;
  } catch (e) {
    throw new EibError('ELOCK', `${path}: not valid JSON (${(e as Error).message}); run eib lock --update to rewrite it`, { exitCode: 2 });
  }
  if (lock.lockVersion !== 1 || typeof lock.arches !== 'object' || lock.arches === null) {
    throw new EibError('ELOCK', `${path}: unknown lock format; run eib lock --update to rewrite it`, { exitCode: 2 });
  }
  return lock;
}

export async function writeLock(configDir: string, lock: LockFile): Promise<string> {
  const path = lockPath(configDir);
  await writeFileAtomic(path, `${JSON.stringify(lock, null, 2)}\n`);
  return path;
}

/**
 * The index entries a lock pins for one stage, or an error naming what is
 * gone. A pin the repositories no longer offer is asked of `fromArchive`
 * (the package archive) before giving up.
 */
export async function pinnedPackages(
  locked: readonly LockedPackage[],
  available: readonly PackageInfo[],
  stage: string,
  fromArchive?: (pin: LockedPackage) => Promise<PackageInfo | undefined>,
): Promise<PackageInfo[]> {
  const out: PackageInfo[] = [];
  for (const pin of locked) {
    const found = available.find((p) => p.name === pin.name && p.version === pin.version && p.checksum === pin.checksum) ?? (await fromArchive?.(pin));
    if (!found) {
      const archive = fromArchive ? ' and the package archive does not hold' : '';
      throw new EibError('ELOCKSTALE', `${LOCK_FILE}: stage ${stage} pins ${pin.name}-${pin.version} (${pin.arch}), which the repositories no longer provide${archive}; run eib lock --update`);
    }
    out.push(found);
  }
  return out;
}
