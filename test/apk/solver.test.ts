import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApkIndexParser, readApkIndex } from '../../src/apk/index-file.js';
import { loadKeys } from '../../src/apk/keys.js';
import type { Repository } from '../../src/apk/repository.js';
import { solve } from '../../src/apk/solver.js';
import type { PackageInfo } from '../../src/apk/types.js';
import { SHARED_ALPINE, userTempDir } from '../helpers/user.js';
import { realApk, simulateAdd } from './real-apk.js';

/** A repository from APKINDEX text; C: defaults to a unique fake checksum per entry. */
function repo(url: string, text: string, tag?: string): Repository {
  let n = 0;
  const withChecksums = text
    .trim()
    .split(/\n\s*\n/)
    .map((rec) => {
      const lines = rec.trim().split('\n').map((l) => l.trim());
      if (!lines.some((l) => l.startsWith('C:'))) lines.unshift(`C:Q1${createHash('sha1').update(`${url}#${n++}`).digest('base64')}`);
      if (!lines.some((l) => l.startsWith('A:'))) lines.push('A:x86_64');
      if (!lines.some((l) => l.startsWith('I:'))) lines.push('I:4096');
      return lines.join('\n');
    })
    .join('\n\n');
  const p = new ApkIndexParser(url, url);
  p.write(`${withChecksums}\n`);
  return { url, arch: 'x86_64', description: url, packages: p.end(), ...(tag ? { tag } : {}), _text: withChecksums } as Repository;
}

const ids = (pkgs: PackageInfo[]): string[] => pkgs.map((p) => `${p.name}-${p.version}`);
const run = (world: string[], repositories: Repository[], installed?: PackageInfo[]): string[] =>
  ids(solve({ world, repositories, arch: 'x86_64', ...(installed ? { installed } : {}) }));

const BASIC = repo(
  '/r1',
  `
P:musl
V:1.2.5-r0
p:so:libc.musl-x86_64.so.1=1

P:libx
V:1.0-r0
D:so:libc.musl-x86_64.so.1
p:so:libx.so.1=1.0

P:libx
V:1.1-r0
D:so:libc.musl-x86_64.so.1
p:so:libx.so.1=1.1

P:app
V:2.0-r0
D:so:libx.so.1 so:libc.musl-x86_64.so.1

P:app
V:1.0-r0
D:libx=1.0-r0

P:sh-a
V:1.0-r0
k:10
p:/bin/sh cmd:sh=1.0-r0

P:sh-b
V:1.0-r0
k:100
p:/bin/sh cmd:sh=1.0-r0
r:sh-a

P:needs-sh
V:1
D:/bin/sh

P:app-doc
V:2.0-r0
i:docs app=2.0-r0

P:docs
V:1

P:rival
V:1
D:!app

P:broken
V:1
D:app so:libmissing.so.1
`,
);

test('highest version, versioned so: provides, dependencies before dependents', () => {
  assert.deepEqual(run(['app'], [BASIC]), ['musl-1.2.5-r0', 'libx-1.1-r0', 'app-2.0-r0']);
  assert.deepEqual(run(['app<2'], [BASIC]), ['musl-1.2.5-r0', 'libx-1.0-r0', 'app-1.0-r0']);
  assert.deepEqual(run(['app', 'libx<1.1'], [BASIC]), ['musl-1.2.5-r0', 'libx-1.0-r0', 'app-2.0-r0']);
});

test('virtual provides: the highest provider_priority wins; replaces changes nothing', () => {
  assert.deepEqual(run(['needs-sh'], [BASIC]), ['sh-b-1.0-r0', 'needs-sh-1']);
  assert.deepEqual(run(['needs-sh', 'sh-a'], [BASIC]), ['sh-a-1.0-r0', 'needs-sh-1']);
});

test('install_if: added when every condition is in the set, right after the last one', () => {
  assert.deepEqual(run(['app', 'docs'], [BASIC]), ['musl-1.2.5-r0', 'libx-1.1-r0', 'app-2.0-r0', 'docs-1', 'app-doc-2.0-r0']);
  assert.ok(!run(['app'], [BASIC]).includes('app-doc-2.0-r0'));
  assert.ok(!run(['app<2', 'docs'], [BASIC]).some((id) => id.startsWith('app-doc')), 'condition app=2.0-r0 not met');
});

test('unsatisfiable worlds are reported as apk reports them', () => {
  assert.throws(() => run(['broken'], [BASIC]), {
    code: 'EUNSATISFIABLE',
    message: /so:libmissing\.so\.1 \(no such package\):\n {4}required by: broken-1\[so:libmissing\.so\.1\]/,
  });
  assert.throws(() => run(['app', 'rival'], [BASIC]), { code: 'EUNSATISFIABLE', message: /app-2\.0-r0:\n {4}breaks: rival-1\[!app\]/ });
  assert.throws(() => run(['nothing-like-it'], [BASIC]), { code: 'EUNSATISFIABLE', message: /nothing-like-it \(no such package\):\n {4}required by: world\[nothing-like-it\]/ });
  assert.throws(() => run(['app>3'], [BASIC]), { code: 'EUNSATISFIABLE', message: /app \(no such package\)|world\[app>3\]/ });
});

test('repository order breaks ties; tagged repositories only serve name@tag', () => {
  const second = repo('/r2', 'P:musl\nV:1.2.5-r0\np:so:libc.musl-x86_64.so.1=1\n\nP:app\nV:3.0-r0\nD:musl');
  const chosen = solve({ world: ['musl'], repositories: [BASIC, second], arch: 'x86_64' });
  assert.equal(chosen[0]!.repository, '/r1');
  assert.equal(solve({ world: ['musl'], repositories: [second, BASIC], arch: 'x86_64' })[0]!.repository, '/r2');
  const edge = repo('/edge', 'P:app\nV:9.0-r0\nD:musl', 'edge');
  assert.deepEqual(run(['app'], [BASIC, edge]), ['musl-1.2.5-r0', 'libx-1.1-r0', 'app-2.0-r0']);
  assert.deepEqual(run(['app@edge'], [BASIC, edge]), ['musl-1.2.5-r0', 'app-9.0-r0']);
  assert.throws(() => run(['app@nope'], [BASIC]), { code: 'EREPO', message: /no repository is tagged "nope"/ });
});

test('installed packages are kept rather than upgraded (apk add without -u)', () => {
  const oldLibx = BASIC.packages.find((p) => p.name === 'libx' && p.version === '1.0-r0')!;
  const chosen = run(['app'], [BASIC], [oldLibx]);
  assert.ok(chosen.includes('libx-1.0-r0') && !chosen.includes('libx-1.1-r0'), chosen.join(' '));
});

// ---- the real apk-tools 2.14 as the oracle -------------------------------------------

const apk = realApk();
const noOracle = apk === undefined && 'no Alpine minirootfs for the real apk';

/** Build an unsigned APKINDEX.tar.gz from a synthetic repository inside the oracle rootfs. */
function installSynthetic(r: Repository, inside: string): void {
  const dir = userTempDir('eib-synth-');
  writeFileSync(join(dir, 'APKINDEX'), `${(r as Repository & { _text: string })._text}\n\n`);
  writeFileSync(join(dir, 'DESCRIPTION'), 'synthetic');
  execFileSync('tar', ['czf', join(dir, 'APKINDEX.tar.gz'), '-C', dir, 'DESCRIPTION', 'APKINDEX']);
  chmodSync(join(dir, 'APKINDEX.tar.gz'), 0o644);
  apk!.put(join(dir, 'APKINDEX.tar.gz'), `${inside}/x86_64/APKINDEX.tar.gz`);
}

test('synthetic cases: eib chooses and orders as the real apk does', { skip: noOracle }, () => {
  installSynthetic(BASIC, '/synthetic/r1');
  const worlds = [['app'], ['app<2'], ['needs-sh'], ['needs-sh', 'sh-a'], ['app', 'docs'], ['app', 'libx<1.1']];
  apk!.write('/targets/synthetic/lib/apk/db/installed', '');
  apk!.write('/targets/synthetic/etc/apk/world', '');
  for (const world of worlds) {
    const r = apk!.apk(['--root', '/targets/synthetic', '--arch', 'x86_64', '--allow-untrusted', '--no-cache', '-X', '/synthetic/r1', 'add', '--simulate', ...world]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const expected = [...r.stdout.matchAll(/Installing (\S+) \((\S+)\)/g)].map((m) => `${m[1]}-${m[2]}`);
    assert.deepEqual(run(world, [BASIC]), expected, `world ${world.join(' ')}`);
  }
  for (const world of [['broken'], ['app', 'rival']]) {
    const r = apk!.apk(['--root', '/targets/synthetic', '--arch', 'x86_64', '--allow-untrusted', '--no-cache', '-X', '/synthetic/r1', 'add', '--simulate', ...world]);
    assert.notEqual(r.code, 0, `apk also refuses ${world.join(' ')}`);
    // The same report, word for word (apk wraps at 50 columns).
    const flat = (text: string): string => text.replace(/\s+/g, ' ').trim();
    assert.throws(() => run(world, [BASIC]), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'EUNSATISFIABLE');
      assert.equal(flat(`ERROR: ${e.message}`), flat(r.stderr + r.stdout));
      return true;
    });
  }
});

async function loadRepo(file: string, keyPath: string, arch: string): Promise<Repository> {
  const index = await readApkIndex(createReadStream(file), { what: file, repository: file, keys: loadKeys([keyPath]) });
  return { url: file, arch, description: index.description, packages: index.packages };
}

test('the eib test repository (3.20, x86_64): same packages, versions and order as apk', { skip: noOracle || (!existsSync(join(SHARED_ALPINE, 'repo')) && 'no repo') }, async () => {
  const key = join(SHARED_ALPINE, 'keys/eib-test-0001.rsa.pub');
  const r = await loadRepo(join(SHARED_ALPINE, 'repo/v3.20/main/x86_64/APKINDEX.tar.gz'), key, 'x86_64');
  apk!.put(join(SHARED_ALPINE, 'repo/v3.20/main/x86_64/APKINDEX.tar.gz'), '/repo320/x86_64/APKINDEX.tar.gz');
  for (const world of [['busybox'], ['apk-tools'], ['alpine-baselayout', 'busybox', 'apk-tools', 'alpine-keys', 'musl-utils'], ['ssl_client'], ['musl-utils', 'scanelf']]) {
    const expected = simulateAdd(apk!, { repositories: ['/repo320'], keys: [key], arch: 'x86_64', world, target: 't320' }).map((p) => `${p.name}-${p.version}`);
    assert.deepEqual(ids(solve({ world, repositories: [r], arch: 'x86_64' })), expected, `world ${world.join(' ')}`);
  }
});

test('the real Alpine 3.17 index (aarch64, 5004 packages): same choices as apk', { skip: noOracle || (!existsSync(join(SHARED_ALPINE, 'real')) && 'no real index') }, async () => {
  const file = join(SHARED_ALPINE, 'real/v3.17/main/aarch64/APKINDEX.tar.gz');
  const keyDir = join(SHARED_ALPINE, 'real/keys');
  const r = await loadRepo(file, keyDir, 'aarch64');
  apk!.put(file, '/real317/aarch64/APKINDEX.tar.gz');
  const keyFiles = ['alpine-devel@lists.alpinelinux.org-58199dcc.rsa.pub', 'alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub'].map((k) => join(keyDir, k));
  const oracle = (world: string[]): string[] =>
    simulateAdd(apk!, { repositories: ['/real317'], keys: keyFiles, arch: 'aarch64', world, target: 't317' }).map((p) => `${p.name}-${p.version}`);
  // Same set, same versions, same order.
  for (const world of [['busybox'], ['openssh'], ['python3'], ['curl'], ['git'], ['build-base'], ['vim'], ['postgresql15'], ['openrc', 'dbus'], ['mesa-dri-gallium']]) {
    const eib = ids(solve({ world, repositories: [r], arch: 'aarch64' }));
    assert.deepEqual(eib, oracle(world), `world ${world.join(' ')}`);
  }
  // Known order difference: apk installs busybox-mdev-openrc (the dev-openrc
  // provider) right after openrc; eib installs it where alpine-base asks for
  // dev-openrc. Same packages and versions, each after its dependencies.
  const world = ['alpine-base'];
  const eib = ids(solve({ world, repositories: [r], arch: 'aarch64' }));
  const expected = oracle(world);
  assert.deepEqual([...eib].sort(), [...expected].sort());
  const byId = new Map(r.packages.map((p) => [`${p.name}-${p.version}`, p]));
  const position = new Map(eib.map((id, i) => [id, i]));
  for (const id of eib) {
    for (const dep of byId.get(id)!.depends) {
      const name = dep.replace(/[<>=~].*$/, '');
      const provider = eib.find((other) => {
        const p = byId.get(other)!;
        return p.name === name || p.provides.some((pr) => pr.replace(/=.*$/, '') === name);
      });
      if (provider) assert.ok(position.get(provider)! < position.get(id)!, `${provider} before ${id}`);
    }
  }
});
