/**
 * A small native (x86_64) project over a signed test repository, for the
 * hermetic-build tests: busybox (Debian's static binary) and `hello`, whose
 * version a test can bump in the repository (old .apk deleted, index
 * re-signed) the way a mirror moves on.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PackageInfo } from '../../src/apk/types.js';
import { buildApk, generateSigningKey, writeApkIndex, type BuildPackage, type SigningKey } from '../helpers/apk-builder.js';
import { runEib, type RunResult } from '../helpers/cli.js';
import { testUser, userTempDir } from '../helpers/user.js';

export const ARCH = 'x86_64';

export interface HermeticProject {
  dir: string;
  repo: string;
  key: SigningKey;
  /** Index entries currently in the repository, by name. */
  packages: Map<string, PackageInfo>;
}

const BUSYBOX: BuildPackage = {
  name: 'busybox',
  version: '1.36.1-r0',
  files: [
    { path: 'bin/', mode: 0o755 },
    { path: 'bin/busybox', content: readFileSync('/bin/busybox'), mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', linkTarget: 'busybox' },
    { path: 'etc/', mode: 0o755 },
  ],
};

/** The `hello` package at `version`: /usr/share/hello/version holds the version, plus `extra` files. */
export function helloPackage(version: string, extra: BuildPackage['files'] = []): BuildPackage {
  return {
    name: 'hello',
    version,
    depends: ['busybox'],
    files: [{ path: 'usr/' }, { path: 'usr/share/' }, { path: 'usr/share/hello/' }, { path: 'usr/share/hello/version', content: `${version}\n` }, ...extra],
  };
}

export function yaml(repo: string, keys: string, options: { epoch?: number; registry?: string; run?: string; extra?: string } = {}): string {
  return [
    'name: hermetic',
    `arch: ${ARCH}`,
    ...(options.epoch === undefined ? [] : [`epoch: ${options.epoch}`]),
    'alpine:',
    `  repositories: [${repo}]`,
    `  keys: [${keys}]`,
    'stages:',
    '  - name: base',
    '    packages: [busybox, hello]',
    '  - name: configure',
    '    files:',
    '      - { src: overlay/, dest: /etc/ }',
    `    run: ${options.run ?? 'echo configured > /etc/state'}`,
    ...(options.extra ? [options.extra] : []),
    ...(options.registry ? ['cache:', `  registry: ${options.registry}`] : []),
    '',
  ].join('\n');
}

/** A fresh project owned by the test user, its repository holding busybox and hello-1.0-r0. */
export async function hermeticProject(options: Parameters<typeof yaml>[2] = {}): Promise<HermeticProject> {
  const dir = userTempDir('eib-hermetic-');
  const repo = join(dir, 'repo');
  const key = generateSigningKey('hermetic-test.rsa.pub');
  mkdirSync(join(dir, 'keys'), { recursive: true });
  writeFileSync(join(dir, 'keys', key.name), key.publicKey.export({ type: 'spki', format: 'pem' }));
  mkdirSync(join(dir, 'overlay'), { recursive: true });
  writeFileSync(join(dir, 'overlay', 'motd'), 'welcome\n');
  const project: HermeticProject = { dir, repo, key, packages: new Map() };
  await publish(project, [BUSYBOX, helloPackage('1.0-r0')]);
  writeFileSync(join(dir, 'eib.yaml'), yaml('./repo', './keys', options));
  chownToUser(dir);
  return project;
}

/** Put `packages` into the repository (replacing same-named ones, deleting their .apk) and re-sign the index. */
export async function publish(project: HermeticProject, packages: readonly BuildPackage[]): Promise<void> {
  const archDir = join(project.repo, ARCH);
  for (const pkg of packages) {
    const old = project.packages.get(pkg.name);
    if (old) rmSync(join(archDir, `${old.name}-${old.version}.apk`), { force: true });
    project.packages.set(pkg.name, { ...(await buildApk(archDir, { ...pkg, arch: ARCH }, project.key)), repository: project.repo });
  }
  await writeApkIndex(join(archDir, 'APKINDEX.tar.gz'), [...project.packages.values()], project.key);
  chownToUser(project.repo);
}

export function chownToUser(path: string): void {
  const user = testUser();
  if (!user.self) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, path]);
}

export function editYaml(project: HermeticProject, edit: (y: string) => string): void {
  const path = join(project.dir, 'eib.yaml');
  writeFileSync(path, edit(readFileSync(path, 'utf8')));
}

export function eib(project: HermeticProject, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runEib(args, { cwd: project.dir, env, timeoutMs: 300_000 });
}
