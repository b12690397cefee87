/**
 * A validated file (EibFile) turned into the Config every module works
 * from: defaults filled in, paths absolute, key directories expanded,
 * scripts split into files and inline shell. URLs stay as written.
 */
import { basename, dirname } from 'node:path';
import { normalizeDisk } from './disk.js';
import type { EibFile, ScriptEntry, StageEntry } from './file-types.js';
import { defaultCacheDir, expandPath, homeDir, isHttpUrl, pathKind } from './paths.js';
import { scriptFromString } from './scripts.js';
import { bytesFromSize } from './bytes.js';
import { keyFiles } from './semantic.js';
import { ALPINE_KEYS_DIR, releaseRepositories } from './alpine-release.js';
import type { BootConfig, CacheConfig, Config, ConfigLocation, FileCopy, Outputs, RegistryConfig, Script, Stage } from './types.js';
import { formatRepositoryEntry, parseRepositoryEntry } from './repository-entry.js';
import type { DataPath } from './yaml-source.js';
import { effectiveEpoch } from './epoch.js';

export const DEFAULT_OCI_DIR = 'out/oci';
export const DEFAULT_TAG = 'latest';
export const DEFAULT_BOOT_MEMORY = 512;
export const DEFAULT_BOOT_TIMEOUT = 120;

/** Where a key is in the file; without a source (tests), the file's name at line 0. */
export type Locate = (path: DataPath) => ConfigLocation;

export async function normalize(file: EibFile, configFile: string, env: NodeJS.ProcessEnv, locate: Locate = () => ({ file: basename(configFile), line: 0, column: 0 })): Promise<Config> {
  const dir = dirname(configFile);
  const home = homeDir(env);
  const abs = (p: string): string => expandPath(p, dir, home);

  async function scripts(entry: ScriptEntry | undefined): Promise<Script[]> {
    if (entry === undefined) return [];
    if (Array.isArray(entry)) return entry.map((f) => ({ file: abs(f) }));
    return [await scriptFromString(entry, dir, home)];
  }

  async function stage(s: StageEntry): Promise<Stage> {
    const files = (s.files ?? []).map((f): FileCopy => ({
      src: expandPath(f.src, dir, home, { keepTrailingSlash: true }),
      dest: f.dest,
      ...(f.owner !== undefined ? { owner: f.owner } : {}),
      ...(f.mode !== undefined ? { mode: f.mode } : {}),
    }));
    return {
      name: s.name,
      packages: s.packages ?? [],
      files,
      hostRun: await scripts(s['host-run']),
      run: await scripts(s.run),
      remove: s.remove ?? [],
      env: s.env ?? {},
      network: s.network ?? false,
    };
  }

  const keys: string[] = [];
  const release = file.alpine.release;
  // A release trusts Alpine's own keys, shipped with eib; configured keys add to them.
  for (const key of release === undefined ? (file.alpine.keys ?? []) : [ALPINE_KEYS_DIR, ...(file.alpine.keys ?? [])]) {
    const path = abs(key);
    for (const k of (await pathKind(path)) === 'directory' ? await keyFiles(path) : [path]) {
      if (!keys.includes(k)) keys.push(k);
    }
  }

  const outputs: Outputs = {
    oci: abs(file.outputs?.oci ?? DEFAULT_OCI_DIR),
    tag: file.outputs?.tag ?? DEFAULT_TAG,
    ...(file.outputs?.rootfs !== undefined ? { rootfs: abs(file.outputs.rootfs) } : {}),
    ...(file.outputs?.ext4 !== undefined ? { ext4: abs(file.outputs.ext4) } : {}),
    ...(file.outputs?.squashfs !== undefined ? { squashfs: abs(file.outputs.squashfs) } : {}),
    ...(file.outputs?.erofs !== undefined ? { erofs: abs(file.outputs.erofs) } : {}),
    ...(file.outputs?.['max-size'] !== undefined ? { maxSize: bytesFromSize(file.outputs['max-size'])! } : {}),
    ...(file.outputs?.initramfs !== undefined ? { initramfs: abs(file.outputs.initramfs) } : {}),
    ...(file.outputs?.disk !== undefined ? { disk: normalizeDisk(file.outputs.disk, (p, keepTrailingSlash) => expandPath(p, dir, home, { keepTrailingSlash: keepTrailingSlash ?? false }), locate) } : {}),
  };
  const boot: BootConfig = {
    ...(file.boot?.kernel !== undefined ? { kernel: abs(file.boot.kernel) } : {}),
    append: file.boot?.append ?? '',
    memory: file.boot?.memory ?? DEFAULT_BOOT_MEMORY,
    timeout: file.boot?.timeout ?? DEFAULT_BOOT_TIMEOUT,
    test: await scripts(file.boot?.test),
    network: file.boot?.network ?? false,
  };
  const cache: CacheConfig = {
    dir: file.cache?.dir !== undefined ? abs(file.cache.dir) : defaultCacheDir(env),
    ...(file.cache?.registry !== undefined ? { registry: file.cache.registry } : {}),
  };
  const registry: RegistryConfig | undefined =
    file.registry === undefined
      ? undefined
      : {
          ref: file.registry.ref,
          insecure: file.registry.insecure ?? false,
          ...(file.registry.ca !== undefined ? { ca: abs(file.registry.ca) } : {}),
        };

  const epoch = effectiveEpoch(file.epoch, env);
  const stages: Stage[] = [];
  for (const s of file.stages) stages.push(await stage(s));

  const repositories = [
    ...(release === undefined ? [] : releaseRepositories(release, file.alpine.mirror)),
    ...(file.alpine.repositories ?? []).map((r) => {
      const entry = parseRepositoryEntry(r);
      return formatRepositoryEntry({ ...entry, location: isHttpUrl(entry.location) ? entry.location : abs(entry.location) });
    }),
  ];

  return {
    file: configFile,
    dir,
    name: file.name,
    arch: Array.isArray(file.arch) ? file.arch : [file.arch],
    alpine: {
      repositories,
      keys,
      allowUntrusted: file.alpine['allow-untrusted'] ?? false,
      scriptsFatal: file.alpine['scripts-fatal'] ?? false,
      // Local repositories are paths of this host: by default the image lists only the URL ones.
      imageRepositories: file.alpine['image-repositories'] ?? repositories.filter((r) => isHttpUrl(parseRepositoryEntry(r).location)),
    },
    stages,
    outputs,
    cache,
    ...(registry !== undefined ? { registry } : {}),
    boot,
    ...(epoch !== undefined ? { epoch } : {}),
  };
}
