/**
 * `eib lock`: resolve every stage of every arch and write eib.lock.json,
 * with the digest of each signed index the pins were resolved against.
 * Without --update an existing lock is kept where it still resolves.
 * `eib lock --check` resolves afresh without writing and reports what a
 * `--update` would change.
 */
import type { AlpineArch, Config } from '../config/types.js';
import { EibError } from '../errors.js';
import { LOCK_FILE, lockedPackage, lockedRepository, readLock, writeLock, type LockFile, type LockedPackage } from '../project/lock-file.js';
import { resolveStages, type Resolution } from './resolve.js';

export interface LockResult {
  path: string;
  lock: LockFile;
}

interface LockOptions {
  offline?: boolean;
  warn?: (m: string) => void;
}

/** The lock entries of one arch's resolution: stage → pins, and repository → index digest. */
function lockedArch(config: Config, resolution: Resolution): { stages: Record<string, LockedPackage[]>; indexes: Record<string, string> } {
  const stages: Record<string, LockedPackage[]> = {};
  for (const [i, stage] of config.stages.entries()) {
    if (stage.packages.length > 0) stages[stage.name] = resolution.stages[i]!.install.map((p) => lockedPackage(p, config.dir));
  }
  const indexes: Record<string, string> = {};
  for (const repo of resolution.repositories) if (repo.indexDigest) indexes[lockedRepository(repo.url, config.dir)] = repo.indexDigest;
  return { stages, indexes };
}

export async function lockPackages(config: Config, options: LockOptions & { update: boolean }): Promise<LockResult> {
  const existing = options.update ? undefined : await readLock(config.dir);
  const lock: LockFile = { lockVersion: 1, arches: {}, indexes: {} };
  for (const arch of config.arch) {
    const locked = existing?.arches[arch];
    const resolution = await resolveStages(config, arch, {
      ...(options.offline === undefined ? {} : { offline: options.offline }),
      ...(locked ? { locked } : {}),
      ...(options.warn ? { warn: options.warn } : {}),
    });
    const { stages, indexes } = lockedArch(config, resolution);
    lock.arches[arch] = stages;
    lock.indexes![arch] = indexes;
  }
  return { path: await writeLock(config.dir, lock), lock };
}

export interface MovedIndex {
  arch: AlpineArch;
  repository: string;
  /** Digest the lock recorded; null for a lock written before digests were recorded. */
  locked: string | null;
  current: string;
}

export interface ChangedPin {
  arch: AlpineArch;
  stage: string;
  name: string;
  /** null: the lock does not pin it (a new dependency). */
  locked: string | null;
  /** null: a fresh resolution no longer installs it. */
  current: string | null;
}

export interface LockCheck {
  /** True when a fresh resolution installs exactly what the lock pins. */
  current: boolean;
  indexes: MovedIndex[];
  packages: ChangedPin[];
}

/** Compare eib.lock.json with a fresh resolution against the repositories as they are now. */
export async function checkLock(config: Config, options: LockOptions = {}): Promise<LockCheck> {
  const lock = await readLock(config.dir);
  if (!lock) throw new EibError('ELOCK', `${config.dir}/${LOCK_FILE} does not exist; run eib lock to write it`, { exitCode: 2 });
  const indexes: MovedIndex[] = [];
  const packages: ChangedPin[] = [];
  for (const arch of config.arch) {
    const resolution = await resolveStages(config, arch, {
      ...(options.offline === undefined ? {} : { offline: options.offline }),
      ...(options.warn ? { warn: options.warn } : {}),
    });
    const fresh = lockedArch(config, resolution);
    for (const [repository, current] of Object.entries(fresh.indexes)) {
      const locked = lock.indexes?.[arch]?.[repository] ?? null;
      if (locked !== current) indexes.push({ arch, repository, locked, current });
    }
    const pinned = lock.arches[arch] ?? {};
    for (const stage of new Set([...Object.keys(fresh.stages), ...Object.keys(pinned)])) {
      const now = new Map((fresh.stages[stage] ?? []).map((p) => [p.name, p]));
      const then = new Map((pinned[stage] ?? []).map((p) => [p.name, p]));
      for (const name of new Set([...then.keys(), ...now.keys()])) {
        const a = then.get(name);
        const b = now.get(name);
        if (a && b && a.version === b.version && a.checksum === b.checksum) continue;
        packages.push({ arch, stage, name, locked: a?.version ?? null, current: b?.version ?? null });
      }
    }
  }
  return { current: packages.length === 0, indexes, packages };
}
