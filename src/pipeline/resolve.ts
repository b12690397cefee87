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
import { planChanges, type Change } from '../apk/solver.js';
import { addToWorld } from '../apk/dependency.js';
import { EibError, wrapError } from '../errors.js';
import { LOCK_FILE, pinnedPackages, type LockedPackage } from '../project/lock-file.js';
import { parseRepositoryEntry } from '../config/repository-entry.js';

export interface StagePackages {
  /** The apk world after this stage. */
  world: string[];
  /** Packages this stage installs, upgrades, downgrades or replaces, in install order. */
  install: PackageInfo[];
  /** Names of installed packages this stage removes (apk purges them before installing). */
  remove: string[];
  /** Repository tag of each package this stage installs from a tagged repository, by name. */
  tags: Record<string, string>;
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

export async function resolveStages(config: Config, arch: AlpineArch, options: ResolveOptions = {}): Promise<Resolution> {
  const needsPackages = config.stages.some((s) => s.packages.length > 0);
  // A fully locked build can go on without a repository it cannot reach: its pins come from the archive.
  const allPinned = options.fromArchive !== undefined && config.stages.every((s) => s.packages.length === 0 || options.locked?.[s.name] !== undefined);
  const keys = loadKeys([...config.alpine.keys]);
  const repositories: Repository[] = [];
  if (needsPackages) {
    for (const line of config.alpine.repositories) {
      const { location: url, tag } = parseRepositoryEntry(line);
      try {
        repositories.push(
          await openRepository({
            url,
            arch,
            keys,
            cacheDir: config.cache.dir,
            allowUntrusted: config.alpine.allowUntrusted,
            http: sharedGet,
            ...(tag === undefined ? {} : { tag }),
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
  let world: string[] = [];
  /** What the root holds after the stages so far, in database order, and the tag each was pinned to. */
  let installed: PackageInfo[] = [];
  const installedTags = new Map<string, string>();
  for (const stage of config.stages) {
    world = addToWorld(world, stage.packages);
    let install: PackageInfo[] = [];
    let remove: string[] = [];
    const tags: Record<string, string> = {};
    if (stage.packages.length > 0) {
      const locked = options.locked?.[stage.name];
      let changes: Change[];
      try {
        if (locked) {
          install = await pinnedPackages(locked, repositories.flatMap((r) => r.packages), stage.name, options.fromArchive);
          // What the pins replace, and their tags: apk's answer when only the pinned and installed packages exist.
          const keep = new Set([...install, ...installed]);
          const pools = repositories.map((r) => ({ ...r, packages: r.packages.filter((p) => keep.has(p)) }));
          const elsewhere = [...keep].filter((p) => !pools.some((r) => r.packages.includes(p)));
          pools.push({ url: LOCK_FILE, arch, description: LOCK_FILE, packages: elsewhere });
          changes = planChanges({ world, repositories: pools, installed, installedTags, arch });
        } else {
          if (options.locked) options.warn?.(`stage ${stage.name} is not pinned in eib.lock.json; run eib lock --update to pin it`);
          changes = planChanges({ world, repositories, installed, installedTags, arch });
          install = changes.flatMap((c) => (c.new && c.new !== c.old ? [c.new] : []));
        }
      } catch (e) {
        throw wrapError(`stage ${stage.name}: resolving packages`, e);
      }
      remove = changes.flatMap((c) => (c.old && !c.new ? [c.old.name] : []));
      for (const c of changes) {
        if (!c.new) continue;
        installedTags.set(c.new.name, c.tag);
        if (c.tag !== '' && install.includes(c.new)) tags[c.new.name] = c.tag;
      }
      for (const name of remove) installedTags.delete(name);
      // The next stage's apk reads the database as apk writes it: sorted by name.
      const replaced = new Set([...remove, ...install.map((p) => p.name)]);
      installed = [...installed.filter((p) => !replaced.has(p.name)), ...install].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    stages.push({ world: [...world], install, remove, tags });
  }
  return { keys, repositories, stages };
}
