/**
 * `eib lock`: resolve every stage of every arch and write eib.lock.json.
 * Without --update an existing lock is kept where it still resolves.
 */
import type { Config } from '../config/types.js';
import { lockedPackage, readLock, writeLock, type LockFile } from '../project/lock-file.js';
import { resolveStages } from './resolve.js';

export interface LockResult {
  path: string;
  lock: LockFile;
}

export async function lockPackages(config: Config, options: { update: boolean; offline?: boolean; warn?: (m: string) => void }): Promise<LockResult> {
  const existing = options.update ? undefined : await readLock(config.dir);
  const lock: LockFile = { lockVersion: 1, arches: {} };
  for (const arch of config.arch) {
    const locked = existing?.arches[arch];
    const resolution = await resolveStages(config, arch, {
      ...(options.offline === undefined ? {} : { offline: options.offline }),
      ...(locked ? { locked } : {}),
      ...(options.warn ? { warn: options.warn } : {}),
    });
    const stages: Record<string, ReturnType<typeof lockedPackage>[]> = {};
    for (const [i, stage] of config.stages.entries()) {
      const install = resolution.stages[i]!.install;
      if (stage.packages.length > 0) stages[stage.name] = install.map((p) => lockedPackage(p, config.dir));
    }
    lock.arches[arch] = stages;
  }
  return { path: await writeLock(config.dir, lock), lock };
}
