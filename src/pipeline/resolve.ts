/**
 * Package resolution for a build: each stage's world is the union of its
 * own packages and every earlier stage's, solved against the configured
 * repositories; a stage installs what its world needs beyond what the
 * earlier stages installed.
 */
import type { KeyObject } from 'node:crypto';
import type { AlpineArch, Config } from '../config/types.js';
import type { PackageInfo } from '../apk/types.js';
import { loadKeys } from '../apk/keys.js';
import { openRepository, type Repository } from '../apk/repository.js';
import { sharedGet } from '../remote/shared-get.js';
import { solve } from '../apk/solver.js';
import { EibError, wrapError } from '../errors.js';
import { LOCK_FILE, pinnedPackages, type LockedPackage } from '../project/lock-file.js';

export interface StagePackages {
  /** The apk world after this stage. */
  world: string[];
  /** Packages this stage installs, in install order. */
  install: PackageInfo[];
}

export interface Resolution {
  keys: Map<string, KeyObject>;
  repositories: Repository[];
  stages: StagePackages[];
}

export interface ResolveOptions {
  offline?: boolean;
  warn?: (message: string) => void;
  /** Packages pinned per stage for this arch (from eib.lock.json), installed instead of solving. */
  locked?: Readonly<Record<string, readonly LockedPackage[]>>;
  /** Where pins the repositories no longer offer are looked up (the package archive). */
  fromArchive?: (pin: LockedPackage) => Promise<PackageInfo | undefined>;
}

function packageId(p: PackageInfo): string {
  return `${p.name}-${p.version}`;
}

export async function resolveStages(config: Config, arch: AlpineArch, options: ResolveOptions = {}): Promise<Resolution> {
  const needsPackages = config.stages.some((s) => s.packages.length > 0);
  // A fully locked build can go on without a repository it cannot reach: its pins come from the archive.
  const allPinned = options.fromArchive !== undefined && config.stages.every((s) => s.packages.length === 0 || options.locked?.[s.name] !== undefined);
  const keys = loadKeys([...config.alpine.keys]);
  const repositories: Repository[] = [];
  if (needsPackages) {
    for (const url of config.alpine.repositories) {
      try {
        repositories.push(
          await openRepository({
            url,
            arch,
            keys,
            cacheDir: config.cache.dir,
            allowUntrusted: config.alpine.allowUntrusted,
            http: sharedGet,
            ...(options.offline === undefined ? {} : { offline: options.offline }),
            ...(options.warn === undefined ? {} : { onWarning: options.warn }),
          }),
        );
      } catch (e) {
        const unreachable = e instanceof EibError && (e.code === 'EFETCH' || e.code === 'EREPO');
        if (!(allPinned && unreachable)) throw wrapError(`loading repository ${url} (${arch})`, e);
        options.warn?.(`repository ${url} (${arch}) cannot be loaded (${e.message}); installing the pins of ${LOCK_FILE} from the package archive`);
      }
    }
  }
  const stages: StagePackages[] = [];
  const world: string[] = [];
  const installed = new Map<string, PackageInfo>();
  for (const stage of config.stages) {
    for (const p of stage.packages) if (!world.includes(p)) world.push(p);
    let install: PackageInfo[] = [];
    if (stage.packages.length > 0) {
      const locked = options.locked?.[stage.name];
      if (locked) {
        install = await pinnedPackages(locked, repositories.flatMap((r) => r.packages), stage.name, options.fromArchive);
      } else {
        if (options.locked) options.warn?.(`stage ${stage.name} is not pinned in eib.lock.json; run eib lock --update to pin it`);
        let all: PackageInfo[];
        try {
          all = solve({ world: [...world], repositories, installed: [...installed.values()], arch });
        } catch (e) {
          throw wrapError(`stage ${stage.name}: resolving packages`, e);
        }
        install = all.filter((p) => installed.get(p.name) === undefined || packageId(installed.get(p.name)!) !== packageId(p));
      }
      for (const p of install) installed.set(p.name, p);
    }
    stages.push({ world: [...world], install });
  }
  return { keys, repositories, stages };
}
