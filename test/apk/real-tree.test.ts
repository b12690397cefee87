/**
 * The image's tree against the real apk-tools: the demo's package set
 * installed by eib (one stage, exported as a rootfs tar) and by apk-tools
 * 2.14 of the Alpine minirootfs (`apk add --initdb` into an empty root,
 * rootless in `unshare --map-auto`, under qemu registered in the
 * namespace's own binfmt_misc for aarch64), compared path by path: type,
 * mode, owner and link target. Only the files listed in EXPECTED_DIFFERENCES
 * may differ, each for the reason given there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AlpineArch } from '../../src/config/types.js';
import { binfmtRegistration, isNativeArch, qemuBinaryName } from '../../src/sandbox/arch.js';
import { findTool } from '../../src/fs/tool.js';
import { runEib } from '../helpers/cli.js';
import { SHARED_ALPINE, asUser, testUser, userTempDir } from '../helpers/user.js';
import { tarListing } from '../export/fixture.js';

const REPO = join(SHARED_ALPINE, 'repo', 'v3.20', 'main');
const KEY = join(SHARED_ALPINE, 'keys', 'eib-test-0001.rsa.pub');
/** The demo's base stage (fixtures/demo/eib.yaml). */
const WORLD = ['alpine-baselayout', 'busybox', 'apk-tools', 'alpine-keys', 'musl-utils'];

/**
 * Paths whose entry may differ from apk-tools', and why. Everything else
 * must be identical, and every path must be in both trees.
 */
const EXPECTED_DIFFERENCES: ReadonlyMap<string, string> = new Map([
  ['/proc', 'apk-tools --initdb creates /proc as 0555 before installing, and keeps that mode when alpine-baselayout lists it as 0755; eib gives it the package\'s mode, as it does every directory'],
  ['/lib/apk/exec', 'apk-tools creates it 0700 when it first runs a script, and keeps that mode when the apk-tools package lists it as 0755; eib gives it the package\'s mode'],
  ['/dev/null', 'apk-tools runs the scripts here without /dev, so a redirect to /dev/null leaves a regular file (and its --initdb mknod needs privileges); eib\'s scripts run with /dev mounted'],
  ['/etc/apk/repositories', 'eib records the repositories the image was built from; apk-tools is run here with -X only'],
  ['/etc/apk/keys/eib-test-0001.rsa.pub', 'copied into the apk-tools root by this test (cp keeps the source\'s 0444); eib writes trusted keys as 0644'],
]);

const minirootfs = (arch: AlpineArch): string => join(SHARED_ALPINE, 'minirootfs', `alpine-minirootfs-3.20.3-${arch}.tar.gz`);

// $1 work dir, $2 minirootfs, $3 arch, $4 binfmt registration or '', $5 repository, $6 key, $7 output tar, then the world.
const REAL_APK = `set -e
work=$1 tarball=$2 arch=$3 reg=$4 repo=$5 key=$6 out=$7; shift 7
if [ -n "$reg" ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  printf '%s\\n' "$reg" > /proc/sys/fs/binfmt_misc/register
fi
mkdir -p "$work/apk" && tar xzf "$tarball" -C "$work/apk"
mkdir -p "$work/apk/repo" "$work/apk/target/etc/apk/keys"
mount --bind "$repo" "$work/apk/repo"
cp "$key" "$work/apk/target/etc/apk/keys/"
chroot "$work/apk" /sbin/apk --root /target --initdb --arch "$arch" --no-cache --no-network -q -X /repo add "$@"
tar --numeric-owner -C "$work/apk/target" -cf "$out" .
`;

function realApkTree(arch: AlpineArch, dir: string): string {
  let reg = '';
  if (!isNativeArch(arch)) {
    const qemu = findTool(qemuBinaryName(arch));
    assert.ok(qemu, `${qemuBinaryName(arch)} is installed`);
    reg = binfmtRegistration(arch, qemu);
  }
  const out = join(dir, 'real-apk.tar');
  const argv = [...asUser(), 'unshare', '--user', '--map-auto', '--map-root-user', '--mount', '--pid', '--fork', 'sh', '-c', REAL_APK, 'sh', dir, minirootfs(arch), arch, reg, REPO, KEY, out, ...WORLD];
  execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

async function eibTree(arch: AlpineArch, dir: string): Promise<string> {
  const yaml = ['name: tree', `arch: ${arch}`, 'alpine:', `  repositories: [${REPO}]`, `  keys: [${KEY}]`, 'stages:', '  - name: base', `    packages: [${WORLD.join(', ')}]`, 'epoch: 1700000000', ''].join('\n');
  writeFileSync(join(dir, 'eib.yaml'), yaml);
  const user = testUser();
  if (!user.self) chownSync(join(dir, 'eib.yaml'), user.uid, user.gid);
  const build = await runEib(['build', '-q'], { cwd: dir, timeoutMs: 600_000 });
  assert.equal(build.code, 0, build.stderr);
  const exported = await runEib(['export', 'eib.tar', '-q'], { cwd: dir });
  assert.equal(exported.code, 0, exported.stderr);
  return join(dir, 'eib.tar');
}

/** GNU tar names entries "./x" when archiving "."; as "/x", without the root itself. */
function rooted(listing: Map<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, entry] of listing) {
    const p = path.replace(/^\/\.(?=\/|$)/, '');
    if (p !== '' && p !== '/') out.set(p, entry);
  }
  return out;
}

for (const arch of ['x86_64', 'aarch64'] as const) {
  const skip = (!existsSync(join(REPO, arch, 'APKINDEX.tar.gz')) || !existsSync(minirootfs(arch))) && 'shared/alpine repository or minirootfs not present';
  test(`on ${arch}, eib installs the demo's packages as the same tree as the real apk-tools`, { skip, timeout: 600_000 }, async () => {
    const dir = userTempDir(`eib-tree-${arch}-`);
    const ours = rooted(tarListing(await eibTree(arch, dir)));
    const theirs = rooted(tarListing(realApkTree(arch, dir)));
    const differences: string[] = [];
    for (const path of new Set([...ours.keys(), ...theirs.keys()])) {
      const a = ours.get(path);
      const b = theirs.get(path);
      if (a === b || EXPECTED_DIFFERENCES.has(path)) continue;
      differences.push(`${path}: eib ${a ?? 'absent'}, apk-tools ${b ?? 'absent'}`);
    }
    assert.deepEqual(differences.sort(), [], 'the trees differ');
    for (const dir of ['/proc', '/sys', '/dev', '/dev/pts', '/dev/shm', '/tmp', '/root']) assert.ok(ours.has(dir), `${dir} is in the image`);
  });
}
