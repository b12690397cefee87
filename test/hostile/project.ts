/**
 * A project folder for whole-CLI hostile tests: eib.yaml, a signed aarch64
 * repository built by apk-builder (trusted key in keys/), owned by the
 * unprivileged test user; canary files in the project, in the test user's
 * home and in /tmp that a hostile input would try to reach; and readers
 * of the cache a user would look at.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildRepository, generateSigningKey, type BuildPackage, type SigningKey } from '../helpers/apk-builder.js';
import type { PackageInfo } from '../../src/apk/types.js';
import { testUser, userTempDir } from '../helpers/user.js';

export const ARCH = 'aarch64';
export const BUSYBOX_ARM64 = '/var/cache/eib-test/busybox-arm64/bin/busybox';

export interface Canaries {
  /** Files a hostile input would aim at, with the content each must keep. */
  files: Map<string, string>;
  /** Paths that must not come into existence. */
  absent: string[];
}

export interface Project {
  dir: string;
  cache: string;
  key: SigningKey;
  canaries: Canaries;
  /** The unique tag of this project's canaries and escape targets. */
  id: string;
}

/** `stages` is the YAML text of the stages list (indented by two spaces). */
export function projectYaml(stages: string, extra = ''): string {
  return `name: hostile
arch: ${ARCH}
alpine:
  repositories: [./repo]
  keys: [./keys]
stages:
${stages}outputs:
  oci: out/oci
  tag: latest
${extra}`;
}

export function chownToUser(path: string): void {
  const user = testUser();
  if (!user.self) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, path]);
}

/** A fresh project owned by the test user, with canaries planted. */
export function makeProject(stages: string, key: SigningKey = generateSigningKey('eib-hostile.rsa.pub')): Project {
  const dir = userTempDir('eib-hostile-');
  const id = randomBytes(4).toString('hex');
  mkdirSync(join(dir, 'keys'));
  writeFileSync(join(dir, 'keys', key.name), key.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'eib.yaml'), projectYaml(stages));
  const user = testUser();
  const files = new Map<string, string>([
    [join(dir, 'canary'), `project canary ${id}\n`],
    [join(user.home, `eib-canary-${id}`), `home canary ${id}\n`],
    [`/tmp/eib-canary-${id}`, `tmp canary ${id}\n`],
  ]);
  for (const [path, content] of files) {
    writeFileSync(path, content);
    // Writable by the test user: only eib's confinement protects them.
    if (!user.self) chownSync(path, user.uid, user.gid);
  }
  const absent = [join(dir, `escaped-${id}`), join(user.home, `escaped-${id}`), `/tmp/escaped-${id}`];
  chownToUser(dir);
  return { dir, cache: join(dir, '.cache', 'eib'), key, canaries: { files, absent }, id };
}

/** (Re)writes the project's signed repository. */
export async function writeRepo(project: Project, packages: BuildPackage[]): Promise<PackageInfo[]> {
  const repo = join(project.dir, 'repo');
  rmSync(repo, { recursive: true, force: true });
  const entries = await buildRepository(repo, ARCH, packages, project.key);
  chownToUser(repo);
  return entries;
}

/** Assertion-ready description of what differs from the planted canaries ([] when nothing). */
export function canaryDamage(project: Project): string[] {
  const damage: string[] = [];
  for (const [path, content] of project.canaries.files) {
    if (!existsSync(path)) damage.push(`${path} was removed`);
    else if (readFileSync(path, 'utf8') !== content) damage.push(`${path} was changed`);
  }
  for (const path of project.canaries.absent) if (existsSync(path)) damage.push(`${path} was created`);
  return damage;
}

export function removeCanaries(project: Project): void {
  for (const path of [...project.canaries.files.keys(), ...project.canaries.absent]) rmSync(path, { force: true });
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** What a build left in the cache, by area. */
export function cacheContents(cache: string): { checkpoints: string[]; snapshots: string[]; blobs: string[]; tmp: string[] } {
  return {
    checkpoints: entries(join(cache, 'checkpoints')),
    snapshots: entries(join(cache, 'snapshots')),
    blobs: entries(join(cache, 'blobs', 'sha256')),
    tmp: entries(join(cache, 'tmp')),
  };
}

/** Every path below `dir` with its type, for before/after comparisons. */
export function listTree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of entries(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    out.push(`${prefix}${name}${st.isDirectory() ? '/' : st.isSymbolicLink() ? '@' : ''}`);
    if (st.isDirectory()) out.push(...listTree(path, `${prefix}${name}/`));
  }
  return out;
}
