/**
 * End to end, as the unprivileged test user: install the 14 packages of the
 * shared Alpine aarch64 repository into a fresh overlay stage root inside
 * the sandbox, scripts and the busybox trigger running under qemu; then the
 * real apk-tools in that root audits it clean, lists exactly those
 * packages and can remove one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, SHARED_ALPINE, asUser, userTempDir } from '../helpers/user.js';
import type { RealRepoReport } from './real-repo-task.js';

const REPOSITORY = join(SHARED_ALPINE, 'repo', 'v3.20', 'main');
const KEY = join(SHARED_ALPINE, 'keys', 'eib-test-0001.rsa.pub');
/**
 * Install order as apk-tools 2.14 commits this set: alpine-baselayout-data
 * (no dependencies) first, so busybox's post-install adds klogd to the
 * /etc/passwd it ships.
 */
const ORDER = [
  'alpine-baselayout-data',
  'musl',
  'busybox',
  'busybox-binsh',
  'alpine-baselayout',
  'alpine-keys',
  'ca-certificates-bundle',
  'libcrypto3',
  'libssl3',
  'zlib',
  'apk-tools',
  'scanelf',
  'musl-utils',
  'ssl_client',
];

test('the real Alpine packages install rootless and the real apk agrees with the database', { skip: !existsSync(REPOSITORY), timeout: 300_000 }, () => {
  const work = userTempDir('eib-apk-e2e-');
  const driver = join(REPO_ROOT, 'dist', 'test', 'apk', 'real-repo-driver.js');
  const payload = JSON.stringify({ work, repository: REPOSITORY, keyFile: KEY, order: ORDER });
  const argv = [...asUser(), process.execPath, driver, payload];
  const run = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, `driver failed:\n${run.stderr}`);
  const report = JSON.parse(run.stdout) as RealRepoReport;

  assert.deepEqual(report.installed, ORDER);
  assert.deepEqual(report.warnings, []);
  assert.equal(report.binLs, '/bin/busybox', 'busybox post-install/trigger made the applet links');
  assert.ok(report.passwdKlogd, 'klogd account in /etc/passwd');
  assert.deepEqual(report.shadow, { uid: 0, gid: 42, mode: 0o640 });

  assert.equal(report.audit.code, 0, report.audit.out);
  assert.equal(report.audit.out.trim(), '', `apk audit --system reports:\n${report.audit.out}`);
  assert.equal(report.info.code, 0, report.info.out);
  assert.deepEqual(report.info.out.trim().split('\n').filter((l) => !l.startsWith('WARNING')).sort(), [...ORDER].sort());
  assert.equal(report.del.code, 0, report.del.out);
  assert.ok(!report.infoAfterDel.out.split('\n').includes('musl-utils'), report.infoAfterDel.out);
});
