/**
 * Cache keys of stages. A stage's key covers everything that can change its
 * layer: the parent's key, the stage definition, the content of every host
 * file it reads, the packages it installs, the arch, the epoch and eib's
 * layer format. Paths enter the key relative to the config's folder so the
 * same project checked out elsewhere gets the same keys.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { AlpineArch, Script, Stage } from '../config/types.js';

/** Bump when the bytes eib writes into a layer change for the same input. */
export const LAYER_FORMAT_VERSION = 1;

export interface ResolvedPackageRef {
  name: string;
  version: string;
  checksum: string;
}

export interface StageKeyInput {
  parent: string | null;
  stage: Stage;
  configDir: string;
  /** Packages this stage installs, in install order. */
  packages: readonly ResolvedPackageRef[];
  arch: AlpineArch;
  epoch?: number;
}

function feedFile(hash: Hash, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', resolve);
  });
}

/** Hash a host file or directory tree: names, types, modes, contents, link targets. */
export async function hashHostPath(path: string, hash: Hash = createHash('sha256')): Promise<Hash> {
  const st = await lstat(path);
  const mode = (st.mode & 0o7777).toString(8);
  if (st.isSymbolicLink()) {
    hash.update(`l ${mode} ${await readlink(path)}\0`);
  } else if (st.isDirectory()) {
    hash.update(`d ${mode}\0`);
    const names = (await readdir(path)).sort();
    for (const name of names) {
      hash.update(`n ${name}\0`);
      await hashHostPath(join(path, name), hash);
    }
    hash.update('e\0');
  } else if (st.isFile()) {
    hash.update(`f ${mode} ${st.size}\0`);
    await feedFile(hash, path);
  } else {
    hash.update(`o ${mode} ${st.rdev}\0`);
  }
  return hash;
}

async function scriptKey(script: Script, configDir: string): Promise<unknown> {
  if ('inline' in script) return { inline: script.inline };
  return { file: relative(configDir, script.file), sha256: (await hashHostPath(script.file)).digest('hex') };
}

/** The key of a stage, as 64 hex digits. */
export async function stageCacheKey(input: StageKeyInput): Promise<string> {
  const { stage, configDir } = input;
  const files = [];
  for (const f of stage.files) {
    files.push({
      src: relative(configDir, f.src) + (f.src.endsWith('/') ? '/' : ''),
      dest: f.dest,
      owner: f.owner ?? null,
      mode: f.mode ?? null,
      sha256: (await hashHostPath(f.src)).digest('hex'),
    });
  }
  const hostRun = [];
  for (const s of stage.hostRun) hostRun.push(await scriptKey(s, configDir));
  const run = [];
  for (const s of stage.run) run.push(await scriptKey(s, configDir));
  const definition = {
    format: LAYER_FORMAT_VERSION,
    parent: input.parent,
    arch: input.arch,
    epoch: input.epoch ?? null,
    name: stage.name,
    packages: [...stage.packages],
    resolved: input.packages.map((p) => [p.name, p.version, p.checksum]),
    files,
    hostRun,
    run,
    remove: [...stage.remove],
    env: Object.keys(stage.env)
      .sort()
      .map((k) => [k, stage.env[k]]),
    network: stage.network,
  };
  return createHash('sha256').update(JSON.stringify(definition)).digest('hex');
}
