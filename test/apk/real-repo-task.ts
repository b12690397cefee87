/**
 * Runs inside the sandbox namespace (via runInNamespace): mounts a fresh
 * stage root, installs the shared Alpine repository's packages with
 * installPackages (scripts and triggers in the chroot, under qemu for
 * aarch64), then asks the real apk-tools in that root what it thinks.
 */
import { createReadStream, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readApkIndex } from '../../src/apk/index-file.js';
import { installPackages } from '../../src/apk/install.js';
import { loadKeys } from '../../src/apk/keys.js';
import type { ScriptRunner } from '../../src/apk/scripts.js';
import { runInChroot } from '../../src/sandbox/chroot.js';
import { ensureEmulation } from '../../src/sandbox/emulation.js';
import { mountStageRoot } from '../../src/sandbox/mounts.js';
import { namespaceTask } from '../../src/sandbox/task.js';

export interface RealRepoPayload {
  work: string;
  repository: string;
  keyFile: string;
  order: string[];
}

export interface RealRepoReport {
  emulation: string;
  installed: string[];
  warnings: string[];
  binLs: string | null;
  passwdKlogd: boolean;
  shadow: { uid: number; gid: number; mode: number };
  audit: { code: number; out: string };
  info: { code: number; out: string };
  del: { code: number; out: string };
  infoAfterDel: { code: number; out: string };
}

async function installRealRepo(payload: RealRepoPayload): Promise<RealRepoReport> {
  const { method } = await ensureEmulation('aarch64');
  const keys = loadKeys([payload.keyFile]);
  const index = await readApkIndex(createReadStream(join(payload.repository, 'aarch64', 'APKINDEX.tar.gz')), {
    what: 'test repository',
    repository: payload.repository,
    keys,
  });
  const packages = payload.order.map((name) => {
    const pkg = index.packages.find((p) => p.name === name);
    if (!pkg) throw new Error(`${name} is not in the index`);
    return pkg;
  });
  const stage = await mountStageRoot({
    lowers: [],
    upper: join(payload.work, 'upper'),
    work: join(payload.work, 'work'),
    merged: join(payload.work, 'merged'),
    network: false,
    arch: 'aarch64',
  });
  const root = stage.root;
  const runScript: ScriptRunner = async (request) => {
    const r = await runInChroot(request.root, [request.script, ...request.args], { env: request.env, stdio: 'pipe' });
    return { code: r.code, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  };
  const apk = async (args: string[]): Promise<{ code: number; out: string }> => {
    const r = await runInChroot(root, ['/sbin/apk', ...args], { stdio: 'pipe' });
    return { code: r.code, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  };
  try {
    const result = await installPackages({
      root,
      packages,
      openPackage: async (p) => join(payload.repository, 'aarch64', `${p.name}-${p.version}.apk`),
      keys,
      world: ['alpine-baselayout', 'busybox', 'apk-tools', 'alpine-keys', 'musl-utils'],
      repositories: [payload.repository],
      arch: 'aarch64',
      runScript,
      scriptsFatal: true,
    });
    const shadow = statSync(join(root, 'etc/shadow'));
    const lsPath = join(root, 'bin/ls');
    const report: RealRepoReport = {
      emulation: method,
      installed: result.installed.map((p) => p.name),
      warnings: result.warnings,
      binLs: lstatSync(lsPath, { throwIfNoEntry: false })?.isSymbolicLink() ? readlinkSync(lsPath) : null,
      passwdKlogd: /^klogd:/m.test(readFileSync(join(root, 'etc/passwd'), 'utf8')),
      shadow: { uid: shadow.uid, gid: shadow.gid, mode: shadow.mode & 0o7777 },
      audit: await apk(['audit', '--system']),
      info: await apk(['info']),
      del: { code: -1, out: '' },
      infoAfterDel: { code: -1, out: '' },
    };
    report.del = await apk(['del', '--no-network', 'musl-utils']);
    report.infoAfterDel = await apk(['info']);
    return report;
  } finally {
    await stage.release();
  }
}

export const installRealRepoTask = namespaceTask(import.meta.url, 'installRealRepoTask', installRealRepo);
