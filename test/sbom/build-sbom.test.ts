/**
 * The SBOM of a real `eib build` of fixtures/demo (aarch64, from the signed
 * repository in ../shared/alpine): `eib sbom` lists exactly what the real
 * apk-tools of the image reports, run under qemu on the exported rootfs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SpdxDocument } from '../../src/sbom/types.js';
import { SPDX_EXCEPTION_IDS, SPDX_LICENSE_IDS } from '../../src/sbom/license-ids.js';
import { runEib } from '../helpers/cli.js';
import { REPO_ROOT, SHARED_ALPINE, asUser, testUser, userTempDir } from '../helpers/user.js';
import { spdxProblems } from './spdx-check.js';

const QEMU = '/usr/bin/qemu-aarch64-static';
const ready = existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main', 'aarch64', 'APKINDEX.tar.gz')) && existsSync(QEMU);

function demoProject(): string {
  const dir = userTempDir('eib-sbom-build-');
  cpSync(join(REPO_ROOT, 'fixtures', 'demo'), dir, { recursive: true });
  writeFileSync(join(dir, 'eib.yaml'), readFileSync(join(dir, 'eib.yaml'), 'utf8').replaceAll('../../../shared/alpine', SHARED_ALPINE));
  const user = testUser();
  if (!user.self) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  return dir;
}

function asTestUser(argv: string[], cwd: string): string {
  const cmd = [...asUser(), ...argv];
  return execFileSync(cmd[0]!, cmd.slice(1), { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('eib sbom after eib build lists exactly the packages the real apk reports in the image', { skip: !ready && 'shared/alpine repo or qemu not present', timeout: 600_000 }, async () => {
  const dir = demoProject();
  const built = await runEib(['build', '--quiet'], { cwd: dir, timeoutMs: 600_000 });
  assert.equal(built.code, 0, built.stderr);
  const r = await runEib(['sbom'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as SpdxDocument;
  assert.deepEqual(spdxProblems(doc, SPDX_LICENSE_IDS, SPDX_EXCEPTION_IDS), []);

  const exported = await runEib(['export', 'rootfs.tar', '--quiet'], { cwd: dir });
  assert.equal(exported.code, 0, exported.stderr);
  const rootfs = join(dir, 'rootfs');
  asTestUser(['mkdir', rootfs], dir);
  asTestUser(['tar', '-xf', 'rootfs.tar', '-C', rootfs], dir);
  // The image's own aarch64 apk, its loader and libraries taken from the rootfs (-L).
  const info = asTestUser([QEMU, '-L', rootfs, join(rootfs, 'sbin', 'apk'), '--root', rootfs, 'info'], dir).split('\n').filter(Boolean);
  assert.ok(info.includes('busybox') && info.includes('apk-tools'), info.join(' '));
  assert.deepEqual(doc.packages.filter((p) => p.SPDXID !== 'SPDXRef-Image').map((p) => p.name), [...info].sort());

  const skopeo = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${join(dir, 'out', 'oci')}:latest`], { encoding: 'utf8' })) as { layers: unknown[] };
  assert.equal(skopeo.layers.length, 3, 'the tag still names the three-layer image');
  assert.equal(doc.packages[0]!.versionInfo, JSON.parse(readFileSync(join(dir, 'out', 'oci', 'index.json'), 'utf8')).manifests[0].digest);
});
