/**
 * A later stage that upgrades what an earlier stage installed, from a
 * tagged repository, end to end as the unprivileged user: eib builds the
 * project (signed test repositories made with apk-builder, plus busybox
 * from ../shared/alpine), the real apk-tools 2.14 audits the image clean,
 * and the same two `apk add` commands run by the real apk-tools into an
 * empty root give the same tree: paths, types, modes, owners, link targets
 * and file contents, the package database included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRepository, loadSigningKey, type BuildPackage } from '../helpers/apk-builder.js';
import { runEib } from '../helpers/cli.js';
import { SHARED_ALPINE, asUser, testUser, userTempDir } from '../helpers/user.js';
import { realApk } from '../apk/real-apk.js';
import { tarListing } from '../export/fixture.js';

const ARCH = 'x86_64';
const SHARED_MAIN = join(SHARED_ALPINE, 'repo', 'v3.20', 'main');
const PRIVATE_KEY = join(SHARED_ALPINE, 'keys', 'eib-test-0001.rsa');
const oracle = realApk();
const skip = (!existsSync(join(SHARED_MAIN, ARCH)) || !oracle) && 'no ../shared/alpine repository or minirootfs';

/** A script that records its name and arguments in /var/log/foo.log. */
const logScript = (what: string): string => `#!/bin/sh\necho "${what} $*" >> /var/log/foo.log\n`;

const dirs = (...paths: string[]): BuildPackage['files'] => paths.map((path) => ({ path: `${path}/`, type: 'directory' as const }));

const LIBFOO_1: BuildPackage = {
  name: 'libfoo',
  version: '1.0-r0',
  depends: ['/bin/sh'],
  provides: ['so:libfoo.so.1=1'],
  scripts: { 'post-install': logScript('post-install'), 'pre-upgrade': logScript('pre-upgrade 1'), 'post-upgrade': logScript('post-upgrade 1') },
  files: [
    ...dirs('usr', 'usr/lib', 'usr/share', 'usr/share/foo', 'var', 'var/log'),
    { path: 'usr/lib/libfoo.so.1', content: 'libfoo one\n', mode: 0o755 },
    { path: 'usr/lib/libfoo.so', type: 'symlink', linkTarget: 'libfoo.so.1' },
    { path: 'usr/share/foo/old.txt', content: 'only in version 1\n' },
  ],
};
const APP: BuildPackage = {
  name: 'app',
  version: '1.0-r0',
  depends: ['libfoo'],
  files: [...dirs('usr', 'usr/bin'), { path: 'usr/bin/app', content: '#!/bin/sh\necho app\n', mode: 0o755 }],
};
const LIBFOO_2: BuildPackage = {
  name: 'libfoo',
  version: '2.0-r0',
  depends: ['/bin/sh'],
  provides: ['so:libfoo.so.2=2'],
  scripts: { 'post-install': logScript('post-install 2'), 'pre-upgrade': logScript('pre-upgrade'), 'post-upgrade': logScript('post-upgrade') },
  files: [
    ...dirs('usr', 'usr/lib', 'usr/share', 'usr/share/foo', 'var', 'var/log'),
    { path: 'usr/lib/libfoo.so.2', content: 'libfoo two\n', mode: 0o755 },
    { path: 'usr/lib/libfoo.so', type: 'symlink', linkTarget: 'libfoo.so.2' },
    { path: 'usr/share/foo/new.txt', content: 'only in version 2\n' },
  ],
};
const TOOL: BuildPackage = {
  name: 'tool',
  version: '1.0-r0',
  depends: ['libfoo>=2', 'so:libfoo.so.2'],
  files: [...dirs('usr', 'usr/bin'), { path: 'usr/bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o755 }],
};

const BASE_PACKAGES = ['busybox', 'busybox-binsh', 'app'];
const LATER_PACKAGES = ['tool@edge'];

/** Paths whose content depends on where the repositories are, not on what was installed. */
const LOCATION_DEPENDENT = new Set(['/etc/apk/repositories']);
/** What apk-tools leaves behind from running scripts (it mounts /proc and makes /dev/null in the root); eib's sandbox mounts them for the stage only. */
const APK_RUNTIME = new Set(['/dev', '/dev/null', '/proc']);

test('a stage upgrades a base-stage library from a tagged repository: apk audit is clean and the tree is what apk add gives', { skip, timeout: 600_000 }, async () => {
  const key = loadSigningKey(PRIVATE_KEY, 'eib-test-0001.rsa.pub');
  const dir = userTempDir('eib-upgrade-');
  await buildRepository(join(dir, 'main'), ARCH, [LIBFOO_1, APP], key);
  await buildRepository(join(dir, 'edge'), ARCH, [LIBFOO_2, TOOL], key);
  mkdirSync(join(dir, 'keys'));
  cpSync(`${PRIVATE_KEY}.pub`, join(dir, 'keys', 'eib-test-0001.rsa.pub'));
  writeFileSync(
    join(dir, 'eib.yaml'),
    `name: upgrade
arch: ${ARCH}
alpine:
  repositories: [${SHARED_MAIN}, ./main, "@edge ./edge"]
  keys: [./keys]
  scripts-fatal: true
stages:
  - name: base
    packages: [${BASE_PACKAGES.join(', ')}]
  - name: later
    packages: [${LATER_PACKAGES.join(', ')}]
epoch: 1700000000
outputs:
  rootfs: rootfs.tar
`,
  );
  const user = testUser();
  if (!user.self) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);

  const lock = await runEib(['lock'], { cwd: dir });
  assert.equal(lock.code, 0, lock.stderr);
  const pins = JSON.parse(readFileSync(join(dir, 'eib.lock.json'), 'utf8')) as { arches: Record<string, Record<string, { name: string; version: string }[]>> };
  const later = pins.arches[ARCH]!['later']!.map((p) => `${p.name}-${p.version}`);
  assert.deepEqual(later, ['libfoo-2.0-r0', 'tool-1.0-r0'], 'the lock pins what the later stage upgrades and installs');

  const build = await runEib(['build', '--json'], { cwd: dir, timeoutMs: 600_000 });
  assert.equal(build.code, 0, build.stderr);
  const rootfs = join(dir, 'rootfs.tar');

  // The real apk-tools, the same two commands into an empty root.
  const apk = oracle!;
  for (const [name, from] of [
    ['main320', SHARED_MAIN],
    ['main', join(dir, 'main')],
    ['edge', join(dir, 'edge')],
  ] as const) {
    for (const file of execFileSync('ls', [join(from, ARCH)], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      apk.put(join(from, ARCH, file), `/repos/${name}/${ARCH}/${file}`);
    }
  }
  const target = '/upgrade-target';
  apk.put(`${PRIVATE_KEY}.pub`, `${target}/etc/apk/keys/eib-test-0001.rsa.pub`);
  assert.equal(apk.sh(`chmod 644 ${target}/etc/apk/keys/eib-test-0001.rsa.pub`).code, 0);
  apk.write(`${target}/etc/apk/repositories`, '/repos/main320\n/repos/main\n@edge /repos/edge\n');
  const add = (args: string[]): void => {
    const r = apk.apk(['--root', target, '--arch', ARCH, '--no-cache', 'add', ...args]);
    assert.equal(r.code, 0, `apk add ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  };
  const init = apk.apk(['--root', target, '--arch', ARCH, '--initdb', '--no-cache', 'add']);
  assert.equal(init.code, 0, init.stdout + init.stderr);
  add(BASE_PACKAGES);
  add(LATER_PACKAGES);

  const sh = (script: string): string => {
    const r = apk.sh(script);
    assert.equal(r.code, 0, `${script}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  sh(`cd ${target} && tar -cf /upgrade-apk.tar .`);
  const expected = tarListing(join(apk.root, 'upgrade-apk.tar'));
  const got = tarListing(rootfs);
  const norm = (l: Map<string, string>): Map<string, string> => new Map([...l].map(([p, v]) => [p.replace(/^\/\.\/?/, '/'), v] as const).filter(([p]) => p !== '/' && !APK_RUNTIME.has(p)));
  const eibPaths = norm(got);
  const apkPaths = norm(expected);
  const onlyIn = (a: Map<string, string>, b: Map<string, string>): string[] => [...a.keys()].filter((p) => !b.has(p)).sort();
  assert.deepEqual({ onlyEib: onlyIn(eibPaths, apkPaths), onlyApk: onlyIn(apkPaths, eibPaths) }, { onlyEib: [], onlyApk: [] }, 'same paths');
  const differ = [...apkPaths].filter(([p, v]) => eibPaths.get(p) !== v).map(([p, v]) => `${p}: apk ${v}, eib ${eibPaths.get(p)}`);
  assert.deepEqual(differ, [], 'same types, modes, owners and link targets');

  // Contents: every regular file, the database and the scripts' log included.
  const eibTree = userTempDir('eib-upgrade-tree-');
  const untar = [...asUser(), 'tar', '-xf', rootfs, '-C', eibTree];
  execFileSync(untar[0]!, untar.slice(1));
  const apkTree = join(apk.root, target);
  const digest = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
  for (const [path, entry] of norm(expected)) {
    if (!entry.startsWith('file') || LOCATION_DEPENDENT.has(path)) continue;
    if (path === '/lib/apk/db/scripts.tar') continue; // compared by member below
    if (digest(join(eibTree, path)) === digest(join(apkTree, path))) continue;
    // Show text as text.
    assert.equal(readFileSync(join(eibTree, path), 'latin1'), readFileSync(join(apkTree, path), 'latin1'), `${path}: content differs`);
  }
  const members = (root: string): string => execFileSync('tar', ['-tf', join(root, 'lib/apk/db/scripts.tar')], { encoding: 'utf8' });
  assert.equal(members(eibTree), members(apkTree), 'scripts.tar holds the same scripts');
  assert.equal(readFileSync(join(eibTree, 'var/log/foo.log'), 'utf8'), 'post-install 1.0-r0\npre-upgrade 2.0-r0 1.0-r0\npost-upgrade 2.0-r0 1.0-r0\n');
  assert.ok(!lstatSync(join(eibTree, 'usr/lib')).isSymbolicLink() && !existsSync(join(eibTree, 'usr/lib/libfoo.so.1')), 'the old version\'s files are gone');
  assert.match(readFileSync(join(eibTree, 'etc/apk/world'), 'utf8'), /^tool@edge$/m);

  // The image as the real apk sees it.
  apk.put(rootfs, '/upgrade-eib.tar');
  sh('rm -rf /upgrade-eib && mkdir /upgrade-eib && tar -xf /upgrade-eib.tar -C /upgrade-eib');
  const audit = apk.apk(['--root', '/upgrade-eib', 'audit', '--system']);
  assert.equal(audit.code, 0, audit.stdout + audit.stderr);
  assert.equal(audit.stdout.trim(), '', `apk audit --system reports:\n${audit.stdout}`);
  const info = apk.apk(['--root', '/upgrade-eib', 'info', '-v']);
  assert.deepEqual(info.stdout.trim().split('\n').filter((l) => /^(libfoo|tool|app)-/.test(l)).sort(), ['app-1.0-r0', 'libfoo-2.0-r0', 'tool-1.0-r0']);
});
