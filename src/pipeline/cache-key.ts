/**
 * Cache keys of stages. A stage's key covers everything that can change its
 * layer: the parent's key, the stage definition, the content of every host
 * file it reads, the packages it installs, the arch, the epoch and eib's
 * layer format. Paths enter the key relative to the config's folder so the
 * same project checked out elsewhere gets the same keys. Next to the key
 * come its inputs in a readable form (per host file digests included), which
 * the checkpoint record keeps so a later build can say what changed.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { relative } from 'node:path';
import type { AlpineArch, Script, Stage } from '../config/types.js';
import type { StageInputs } from '../store/checkpoints.js';

export type { StageInputs } from '../store/checkpoints.js';

/** Bump when the bytes eib writes into a layer change for the same input (2: gzip level 1, see layer/write.ts). */
export const LAYER_FORMAT_VERSION = 2;

export interface ResolvedPackageRef {
  name: string;
  version: string;
  checksum: string;
}

export interface StageKey {
  key: string;
  inputs: StageInputs;
}

export interface StageKeyInput {
  parent: string | null;
  stage: Stage;
  configDir: string;
  /** Packages this stage installs, in install order. */
  packages: readonly ResolvedPackageRef[];
  arch: AlpineArch;
  epoch?: number;
  /** /etc/apk/repositories of the image, written by stages that install packages. */
  imageRepositories?: readonly string[];
}

/** Called with each regular file (and symlink) of a hashed tree and the sha256 hex of its content (or target). */
export type OnHostFile = (path: string, sha256: string) => void;

function feedFile(hash: Hash, path: string | Buffer, own: Hash | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    createReadStream(path)
      .on('data', (chunk) => {
        hash.update(chunk);
        own?.update(chunk);
      })
      .on('error', reject)
      .on('end', resolve);
  });
}

/**
 * Hash a host file or directory tree: names, types, modes, contents, link
 * targets. Names are read as bytes (a name need not be UTF-8); for UTF-8
 * names the hash is that of the name as text.
 */
export async function hashHostPath(path: string | Buffer, hash: Hash = createHash('sha256'), onFile?: OnHostFile): Promise<Hash> {
  const st = await lstat(path);
  const mode = (st.mode & 0o7777).toString(8);
  if (st.isSymbolicLink()) {
    const target = await readlink(path, { encoding: 'buffer' });
    hash.update(`l ${mode} `).update(target).update('\0');
    onFile?.(path.toString(), createHash('sha256').update(`${mode} -> `).update(target).digest('hex'));
  } else if (st.isDirectory()) {
    hash.update(`d ${mode}\0`);
    const names = (await readdir(path, { encoding: 'buffer' })).sort(Buffer.compare);
    for (const name of names) {
      hash.update('n ').update(name).update('\0');
      await hashHostPath(Buffer.concat([Buffer.from(path), Buffer.from('/'), name]), hash, onFile);
    }
    hash.update('e\0');
  } else if (st.isFile()) {
    hash.update(`f ${mode} ${st.size}\0`);
    const own = onFile ? createHash('sha256').update(`${mode}\0`) : undefined;
    await feedFile(hash, path, own);
    if (own) onFile?.(path.toString(), own.digest('hex'));
  } else {
    hash.update(`o ${mode} ${st.rdev}\0`);
  }
  return hash;
}

async function scriptKey(script: Script, configDir: string, onFile: OnHostFile): Promise<{ inline: string } | { file: string; sha256: string }> {
  if ('inline' in script) return { inline: script.inline };
  return { file: relative(configDir, script.file), sha256: (await hashHostPath(script.file, undefined, onFile)).digest('hex') };
}

/** Without the content digests: what the user wrote. */
function written<T extends object>(entry: T): Omit<T, 'sha256'> {
  const { sha256: _, ...rest } = entry as T & { sha256?: string };
  return rest;
}

/** The key of a stage, as 64 hex digits, and the inputs it was computed from. */
export async function stageCacheKey(input: StageKeyInput): Promise<StageKey> {
  const { stage, configDir } = input;
  const hostFiles: Record<string, string> = {};
  const onFile: OnHostFile = (path, sha256) => {
    hostFiles[relative(configDir, path)] = sha256;
  };
  const files = [];
  for (const f of stage.files) {
    files.push({
      src: relative(configDir, f.src) + (f.src.endsWith('/') ? '/' : ''),
      dest: f.dest,
      owner: f.owner ?? null,
      mode: f.mode ?? null,
      sha256: (await hashHostPath(f.src, undefined, onFile)).digest('hex'),
    });
  }
  const hostRun = [];
  for (const s of stage.hostRun) hostRun.push(await scriptKey(s, configDir, onFile));
  const run = [];
  for (const s of stage.run) run.push(await scriptKey(s, configDir, onFile));
  const definition = {
    format: LAYER_FORMAT_VERSION,
    parent: input.parent,
    arch: input.arch,
    epoch: input.epoch ?? null,
    name: stage.name,
    packages: [...stage.packages],
    resolved: input.packages.map((p): [string, string, string] => [p.name, p.version, p.checksum]),
    files,
    hostRun,
    run,
    remove: [...stage.remove],
    env: Object.keys(stage.env)
      .sort()
      .map((k) => [k, stage.env[k]]),
    network: stage.network,
    // Only a stage that installs packages writes /etc/apk/repositories.
    ...(input.packages.length > 0 ? { imageRepositories: [...(input.imageRepositories ?? [])] } : {}),
  };
  const key = createHash('sha256').update(JSON.stringify(definition)).digest('hex');
  const inputs: StageInputs = {
    format: definition.format,
    parent: definition.parent,
    arch: definition.arch,
    epoch: definition.epoch,
    definition: {
      packages: definition.packages,
      files: files.map(written),
      'host-run': hostRun.map(written),
      run: run.map(written),
      remove: definition.remove,
      env: definition.env,
      network: definition.network,
      ...(definition.imageRepositories ? { 'image-repositories': definition.imageRepositories } : {}),
    },
    hostFiles,
    packages: definition.resolved,
  };
  return { key, inputs };
}
