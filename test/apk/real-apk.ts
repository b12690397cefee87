/**
 * The real apk-tools 2.14 as an oracle: the x86_64 Alpine minirootfs is
 * unpacked once per test process into a directory owned by the test user,
 * and its /sbin/apk runs natively inside `unshare --user --map-root-user`
 * + chroot, so no privilege is needed. Tests skip when the tarball is absent.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SHARED_ALPINE, asUser, userTempDir } from '../helpers/user.js';

export const MINIROOTFS = join(SHARED_ALPINE, 'minirootfs', 'alpine-minirootfs-3.20.3-x86_64.tar.gz');

export interface ApkRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RealApk {
  /** Host path of the unpacked rootfs. */
  root: string;
  /** Run /sbin/apk inside the rootfs with these arguments. */
  apk(args: string[]): ApkRun;
  /** Run a shell script inside the rootfs (busybox sh). */
  sh(script: string): ApkRun;
  /** Copy a host file to `inside` (an absolute path in the rootfs). */
  put(hostPath: string, inside: string): void;
  /** Write text to `inside`. */
  write(inside: string, text: string): void;
}

let cached: RealApk | null | undefined;

/** The oracle, or undefined when the minirootfs is not on this machine. */
export function realApk(): RealApk | undefined {
  if (cached !== undefined) return cached ?? undefined;
  if (!existsSync(MINIROOTFS)) {
    cached = null;
    return undefined;
  }
  const root = userTempDir('eib-real-apk-');
  // Everything in the rootfs is written as the test user, who is root inside.
  const asTestUser = (argv: string[], input?: string): void => {
    const cmd = [...asUser(), ...argv];
    execFileSync(cmd[0]!, cmd.slice(1), input === undefined ? {} : { input });
  };
  asTestUser(['tar', 'xzf', MINIROOTFS, '-C', root]);
  const inRoot = (inside: string): string => join(root, inside);
  const run = (argv: string[]): ApkRun => {
    const prefix = asUser();
    const cmd = [...prefix, 'unshare', '--user', '--map-root-user', 'chroot', root, ...argv];
    const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const api: RealApk = {
    root,
    apk: (args) => run(['/sbin/apk', ...args]),
    sh: (script) => run(['/bin/sh', '-c', script]),
    put(hostPath, inside) {
      asTestUser(['mkdir', '-p', dirname(inRoot(inside))]);
      asTestUser(['cp', '-f', hostPath, inRoot(inside)]);
    },
    write(inside, text) {
      asTestUser(['mkdir', '-p', dirname(inRoot(inside))]);
      asTestUser(['sh', '-c', 'cat > "$1"', 'sh', inRoot(inside)], text);
    },
  };
  cached = api;
  return api;
}

export interface SimulateOptions {
  /** Repository paths as seen inside the rootfs (each holds <arch>/APKINDEX.tar.gz). */
  repositories: string[];
  /** Host paths of trusted public keys. */
  keys: string[];
  arch: string;
  world: string[];
  /** A name for the fresh target root inside the rootfs. */
  target: string;
}

/** `apk add --simulate` into an empty root: the packages apk would install, in its order. */
export function simulateAdd(apk: RealApk, o: SimulateOptions): { name: string; version: string }[] {
  const t = `/targets/${o.target}`;
  apk.write(`${t}/lib/apk/db/installed`, '');
  apk.write(`${t}/etc/apk/world`, '');
  for (const k of o.keys) apk.put(k, `${t}/etc/apk/keys/${basename(k)}`);
  const args = ['--root', t, '--arch', o.arch, '--no-cache', '--no-network'];
  for (const r of o.repositories) args.push('-X', r);
  const r = apk.apk([...args, 'add', '--simulate', ...o.world]);
  if (r.code !== 0) throw new Error(`apk add --simulate ${o.world.join(' ')} failed (${r.code}):\n${r.stdout}${r.stderr}`);
  const out: { name: string; version: string }[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\(\d+\/\d+\) Installing (\S+) \((\S+)\)$/.exec(line);
    if (m) out.push({ name: m[1]!, version: m[2]! });
  }
  return out;
}
