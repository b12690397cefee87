/**
 * alpine.release: the official repositories per arch on the default or a
 * configured mirror, Alpine's keys shipped with eib (the same bytes as the
 * alpine-keys package of the official minirootfs), a real Alpine-signed
 * index verified with them through a mirror and no key file in the project,
 * and configured repositories and keys combined with the release's.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadKeys } from '../../src/apk/keys.js';
import { indexUrl, openRepository } from '../../src/apk/repository.js';
import { ALPINE_KEYS_DIR } from '../../src/config/alpine-release.js';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { sharedGet } from '../../src/remote/shared-get.js';
import { serveStatic } from '../helpers/static-server.js';
import { REPO_ROOT, SHARED_ALPINE } from '../helpers/user.js';

const REAL = join(SHARED_ALPINE, 'real');
const MINIROOTFS = join(SHARED_ALPINE, 'minirootfs', 'alpine-minirootfs-3.20.3-aarch64.tar.gz');
const skip = (!existsSync(REAL) || !existsSync(MINIROOTFS)) && 'no shared Alpine data';
const TEST_KEY = join(SHARED_ALPINE, 'keys', 'eib-test-0001.rsa.pub');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function project(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'eib-release-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'eib.yaml'), yaml);
  return dir;
}

const bundled = (): string[] => readdirSync(ALPINE_KEYS_DIR).filter((f) => f.endsWith('.rsa.pub')).sort();

test('alpine.release expands to main and community of the release, per arch, on the CDN or alpine.mirror', async () => {
  const dir = project(['name: r', 'arch: [aarch64, x86_64, armv7]', 'alpine:', '  release: v3.20', 'stages:', '  - name: base', '    packages: [alpine-base]', ''].join('\n'));
  const config = await loadConfig({ cwd: dir });
  assert.deepEqual(config.alpine.repositories, ['https://dl-cdn.alpinelinux.org/alpine/v3.20/main', 'https://dl-cdn.alpinelinux.org/alpine/v3.20/community']);
  assert.deepEqual(
    ['aarch64', 'x86_64', 'armv7'].flatMap((arch) => config.alpine.repositories.map((r) => indexUrl(r, arch))),
    [
      'https://dl-cdn.alpinelinux.org/alpine/v3.20/main/aarch64/APKINDEX.tar.gz',
      'https://dl-cdn.alpinelinux.org/alpine/v3.20/community/aarch64/APKINDEX.tar.gz',
      'https://dl-cdn.alpinelinux.org/alpine/v3.20/main/x86_64/APKINDEX.tar.gz',
      'https://dl-cdn.alpinelinux.org/alpine/v3.20/community/x86_64/APKINDEX.tar.gz',
      'https://dl-cdn.alpinelinux.org/alpine/v3.20/main/armv7/APKINDEX.tar.gz',
      'https://dl-cdn.alpinelinux.org/alpine/v3.20/community/armv7/APKINDEX.tar.gz',
    ],
  );
  assert.deepEqual(config.alpine.keys.map((k) => basename(k)).sort(), bundled(), "Alpine's keys, with none in the project");

  const edge = project(['name: r', 'arch: riscv64', 'alpine:', '  release: edge', '  mirror: https://mirror.example.org/pub/alpine/', '  repositories: [./local]', `  keys: [${TEST_KEY}]`, 'stages:', '  - name: base', '    packages: [busybox]', ''].join('\n'));
  execFileSync('mkdir', ['-p', join(edge, 'local')]);
  const combined = await loadConfig({ cwd: edge });
  assert.deepEqual(combined.alpine.repositories, ['https://mirror.example.org/pub/alpine/edge/main', 'https://mirror.example.org/pub/alpine/edge/community', join(edge, 'local')]);
  assert.equal(combined.alpine.keys.length, bundled().length + 1);
  assert.ok(combined.alpine.keys.includes(TEST_KEY), 'a configured key not in the bundle is trusted too');
});

test('an alpine section without release or repositories, a mirror without a release, and a malformed release are config errors with positions', async () => {
  const cases: [string[], RegExp][] = [
    [['alpine:', '  keys: []'], /eib\.yaml:3:1: alpine: no repositories; expected alpine\.release/],
    [['alpine:', '  mirror: https://m.example/alpine', '  repositories: [https://m.example/alpine/v3.20/main]', '  allow-untrusted: true'], /eib\.yaml:4:3: alpine\.mirror: only used with alpine\.release/],
    [['alpine:', '  release: "3.20"'], /eib\.yaml:4:12: .*release.*v3\.20, or edge/],
  ];
  for (const [alpine, expected] of cases) {
    const dir = project(['name: r', 'arch: aarch64', ...alpine, 'stages:', '  - name: base', '    packages: [busybox]', ''].join('\n'));
    await assert.rejects(loadConfig({ cwd: dir }), (e: unknown) => e instanceof ConfigError && expected.test(e.message) && e.exitCode === 2, expected.source);
  }
});

test("the shipped keys are the alpine-keys package's, byte for byte, as the official minirootfs installs them", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'eib-minirootfs-keys-'));
  dirs.push(dir);
  execFileSync('tar', ['-xzf', MINIROOTFS, '-C', dir, '--wildcards', './usr/share/apk/keys/*.rsa.pub']);
  const official = join(dir, 'usr', 'share', 'apk', 'keys');
  const names = readdirSync(official).filter((f) => f.endsWith('.rsa.pub')).sort();
  assert.deepEqual(bundled(), names);
  for (const name of names) assert.deepEqual(readFileSync(join(ALPINE_KEYS_DIR, name)), readFileSync(join(official, name)), name);
  const installed = execFileSync('tar', ['-xzOf', MINIROOTFS, './lib/apk/db/installed'], { encoding: 'utf8' });
  assert.match(installed, /^P:alpine-keys\nV:2\.4-r1$/m, 'data/alpine-keys/README.md names this version');
  assert.match(readFileSync(join(ALPINE_KEYS_DIR, 'README.md'), 'utf8'), /alpine-keys 2\.4-r1/);
  assert.ok(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).files.includes('data'), 'the keys ship in the package');
});

test('the real Alpine-signed 3.17 index verifies with the shipped keys, fetched from alpine.mirror, with no key file in the project', { skip }, async () => {
  const mirror = await serveStatic(REAL);
  try {
    const dir = project(['name: r', 'arch: aarch64', 'alpine:', '  release: v3.17', `  mirror: ${mirror.url}`, 'stages:', '  - name: base', '    packages: [alpine-baselayout]', ''].join('\n'));
    const config = await loadConfig({ cwd: dir });
    assert.deepEqual(readdirSync(dir), ['eib.yaml']);
    const main = config.alpine.repositories[0]!;
    assert.equal(main, `${mirror.url}/v3.17/main`);
    const cacheDir = join(dir, 'cache');
    const repo = await openRepository({ url: main, arch: 'aarch64', keys: loadKeys([...config.alpine.keys]), cacheDir, http: sharedGet });
    assert.ok(repo.signedBy?.startsWith('alpine-devel@lists.alpinelinux.org-'), repo.signedBy);
    assert.ok(repo.packages.length > 5000, `${repo.packages.length} packages`);
    assert.ok(mirror.log.includes('200 /v3.17/main/aarch64/APKINDEX.tar.gz'));
    // Without Alpine's keys the same index is refused.
    await assert.rejects(openRepository({ url: main, arch: 'aarch64', keys: loadKeys([TEST_KEY]), cacheDir: join(dir, 'cache2'), http: sharedGet }), { code: 'ESIGNATURE' });
  } finally {
    await mirror.close();
  }
});
