/**
 * The manual way, as a user without eib does it rootless: the real
 * apk-tools of the Alpine minirootfs (natively, or under qemu registered
 * with flag F in the namespace's own binfmt_misc, as eib's sandbox does)
 * installs packages into a fresh root, or a script runs chrooted in that
 * root; then the root is archived the way a layer is:
 * `tar --sort=name | gzip -6 | sha256sum`.
 */
import { join } from 'node:path';
import type { AlpineArch } from '../src/config/types.js';
import { binfmtRegistration, isNativeArch, qemuBinaryName } from '../src/sandbox/arch.js';
import { findTool } from '../src/fs/tool.js';
import { SHARED_ALPINE } from '../test/helpers/user.js';
import { removeTree, runInNamespace, type RunResult } from './harness.js';
import { ensureMinirootfs } from './project.js';

// $1 mode, $2 minirootfs, $3 arch, $4 binfmt registration or '', then the mode's arguments.
const SCRIPT = `set -e
mode=$1 mr=$2 arch=$3 reg=$4; shift 4
if [ -n "$reg" ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  printf '%s\\n' "$reg" > /proc/sys/fs/binfmt_misc/register
fi
case $mode in
install)
  mkdir -p "$mr/repos" "$mr/target/etc/apk/keys"
  repos=$1 keys=$2; shift 2
  n=0; xs=
  for r in $repos; do n=$((n+1)); mkdir -p "$mr/repos/$n"; mount --bind "$r" "$mr/repos/$n"; xs="$xs -X /repos/$n"; done
  for k in $keys; do cp "$k" "$mr/target/etc/apk/keys/"; done
  chroot "$mr" /sbin/apk --root /target --initdb --arch "$arch" --no-cache --no-network -q $xs add "$@" ;;
script)
  chroot "$mr/target" /bin/sh -c "$1" ;;
esac
[ "$ARCHIVE" = no ] || tar --sort=name --numeric-owner -C "$mr/target" -c . | gzip -6 | sha256sum >/dev/null
`;

export const SHARED_REPO = join(SHARED_ALPINE, 'repo', 'v3.20', 'main');
export const SHARED_KEY = join(SHARED_ALPINE, 'keys', 'eib-test-0001.rsa.pub');
/** The 14-package set of the shared repository comes from these five. */
export const SHARED_WORLD = ['alpine-baselayout', 'busybox', 'apk-tools', 'alpine-keys', 'musl-utils'];

function registration(arch: AlpineArch): string {
  if (isNativeArch(arch)) return '';
  const qemu = findTool(qemuBinaryName(arch));
  if (qemu === undefined) throw new Error(`${qemuBinaryName(arch)} not found; run scripts/setup-host.sh`);
  return binfmtRegistration(arch, qemu);
}

export class ManualRoot {
  private constructor(
    /** The unpacked minirootfs whose /sbin/apk does the work; the root is its /target. */
    readonly apkRoot: string,
    readonly arch: AlpineArch,
  ) {}

  /** The minirootfs of `arch` unpacked under `dir`. */
  static async open(dir: string, arch: AlpineArch): Promise<ManualRoot> {
    const tarball = join(SHARED_ALPINE, 'minirootfs', `alpine-minirootfs-3.20.3-${arch}.tar.gz`);
    return new ManualRoot(await ensureMinirootfs(tarball, dir), arch);
  }

  get target(): string {
    return join(this.apkRoot, 'target');
  }

  /** apk add `world` into a fresh root from `repos` trusting `keys`, then archive it. */
  install(repos: string[], keys: string[], world: string[], archive = true): Promise<RunResult> {
    return this.run(['install', repos.join(' '), keys.join(' '), ...world], archive);
  }

  /** Run `script` chrooted in the root, then archive it. */
  runScript(script: string): Promise<RunResult> {
    return this.run(['script', script], true);
  }

  /** Remove the root (untimed, between runs). */
  reset(): Promise<void> {
    return removeTree(this.target);
  }

  private run(args: string[], archive: boolean): Promise<RunResult> {
    const [mode, ...rest] = args;
    return runInNamespace(`ARCHIVE=${archive ? 'yes' : 'no'}\n${SCRIPT}`, [mode ?? '', this.apkRoot, this.arch, registration(this.arch), ...rest]);
  }
}
