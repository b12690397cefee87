/**
 * eib build end to end, as the unprivileged user: an aarch64 image from the
 * signed repository in ../shared/alpine, three stages, checked by skopeo and
 * by flattening; incremental rebuilds; a build killed mid-stage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib, EIB_BIN } from '../helpers/cli.js';
import { demoProject, waitForFile } from '../helpers/demo-project.js';
import { SHARED_ALPINE, asUser, testUser, killAsUser } from '../helpers/user.js';

const haveShared = existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main', 'aarch64', 'APKINDEX.tar.gz'));

interface StageSummary {
  name: string;
  key: string;
  layer: string | null;
  cached: boolean;
}

function demoProjectDir(): string {
  return demoProject((y) => y, 'eib-build-');
}

async function buildJson(dir: string): Promise<{ digest: string; stages: StageSummary[] }> {
  const r = await runEib(['build', '--json'], { cwd: dir, timeoutMs: 600_000 });
  assert.equal(r.code, 0, `eib build failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as { digest: string; stages: StageSummary[] };
}

function flattenedPaths(dir: string): Set<string> {
  const tar = join(dir, 'rootfs.tar');
  return new Set(
    execFileSync('tar', ['-tf', tar], { encoding: 'utf8', maxBuffer: 64 << 20 })
      .split('\n')
      .filter(Boolean)
      .map((p) => `/${p.replace(/^\.?\//, '').replace(/\/$/, '')}`),
  );
}

test('an aarch64 build gives a three-layer image with the stages applied, reused when nothing changed', { skip: !haveShared && 'shared/alpine not present' }, async () => {
  const dir = demoProjectDir();
  const first = await buildJson(dir);
  assert.deepEqual(first.stages.map((s) => [s.name, s.cached]), [['base', false], ['configure', false], ['prune', false]]);

  const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${join(dir, 'out', 'oci')}:latest`], { encoding: 'utf8' });
  const manifest = JSON.parse(raw) as { layers: { digest: string }[] };
  assert.equal(manifest.layers.length, 3);
  const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${join(dir, 'out', 'oci')}:latest`], { encoding: 'utf8' })) as { Architecture: string };
  assert.equal(inspect.Architecture, 'arm64');

  const ex = await runEib(['export', 'rootfs.tar'], { cwd: dir });
  assert.equal(ex.code, 0, ex.stderr);
  const paths = flattenedPaths(dir);
  for (const p of ['/etc/hostname', '/etc/motd.d/demo', '/etc/eib/build-date', '/home/operator', '/bin/busybox', '/bin/ls', '/lib/apk/db/installed']) {
    assert.ok(paths.has(p), `${p} missing from the flattened rootfs`);
  }
  for (const p of ['/etc/motd', '/usr/share/man']) assert.ok(!paths.has(p), `${p} should have been removed`);
  assert.ok(![...paths].some((p) => p.includes('.wh.')), 'no whiteout left in the flattened tree');

  const second = await buildJson(dir);
  assert.ok(second.stages.every((s) => s.cached), 'a rebuild with nothing changed runs no stage');
  assert.equal(second.digest, first.digest);

  // Changing a script that stage 2 uses re-runs stages 2 and 3 only.
  writeFileSync(join(dir, 'scripts', 'fixup.sh'), `${readFileSync(join(dir, 'scripts', 'fixup.sh'), 'utf8')}echo changed > "$ROOTFS/etc/eib/changed"\n`);
  const third = await buildJson(dir);
  assert.deepEqual(third.stages.map((s) => [s.name, s.cached]), [['base', true], ['configure', false], ['prune', false]]);
  assert.equal(third.stages[0]!.key, first.stages[0]!.key);
  assert.notEqual(third.stages[1]!.key, first.stages[1]!.key);
});

test('a build killed during stage 2 is followed by one that reuses stage 1', { skip: !haveShared && 'shared/alpine not present' }, async () => {
  const dir = demoProjectDir();
  const yaml = readFileSync(join(dir, 'eib.yaml'), 'utf8').replace('echo demo-device > /etc/hostname', 'echo demo-device > /etc/hostname\n      touch /started; sleep 600');
  writeFileSync(join(dir, 'eib.yaml'), yaml);
  const user = testUser();
  const env = ['env', '-i', `PATH=${process.env['PATH']}`, `HOME=${user.home}`, 'NO_COLOR=1', `XDG_CACHE_HOME=${join(dir, '.cache')}`];
  const child = spawn(asUser()[0] ?? 'env', [...asUser().slice(1), ...env, process.execPath, EIB_BIN, 'build'], { cwd: dir, stdio: 'ignore' });
  // Wait until stage 2's script is running (its marker appears in the scratch upperdir).
  await waitForFile(join(dir, '.cache', 'eib', 'tmp'), 'started');
  // SIGKILL the whole process tree eib started, as a crash or OOM kill would.
  // With runuser in front, eib's node process is runuser's child.
  killAsUser(child);
  await new Promise((r) => child.on('close', r));
  // The sleep inside the namespace must die with eib.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(execFileSync('sh', ['-c', "pgrep -f '[s]leep 600' || true"], { encoding: 'utf8' }).trim(), '', 'no process left behind');

  writeFileSync(join(dir, 'eib.yaml'), yaml.replace('touch /started; sleep 600', 'true'));
  chownSync(join(dir, 'eib.yaml'), user.uid, user.gid);
  const again = await buildJson(dir);
  assert.deepEqual(again.stages.map((s) => [s.name, s.cached]), [['base', true], ['configure', false], ['prune', false]]);
});
