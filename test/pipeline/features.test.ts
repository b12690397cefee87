/**
 * What users rely on around `eib build`, end to end as the unprivileged user:
 * reproducible digests, multi-arch indexes, the lock file workflow, offline
 * stages, the shared registry cache, shell, ls and gc.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib, type RunResult } from '../helpers/cli.js';
import { demoProject, waitForFile } from '../helpers/demo-project.js';
import { startRegistry } from '../helpers/registry.js';
import { SHARED_ALPINE } from '../helpers/user.js';

const haveShared = existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main', 'aarch64', 'APKINDEX.tar.gz'));
const skip = !haveShared && 'shared/alpine not present';

interface BuildSummary {
  digest: string;
  mediaType: string;
  stages: { name: string; key: string; cached: boolean; source: string }[];
}

function project(edit: (yaml: string) => string = (y) => y): string {
  return demoProject(edit, 'eib-feature-');
}

function eib(dir: string, args: string[]): Promise<RunResult> {
  return runEib(args, { cwd: dir, timeoutMs: 600_000 });
}

async function build(dir: string, args: string[] = []): Promise<BuildSummary> {
  const r = await eib(dir, ['build', '--json', ...args]);
  assert.equal(r.code, 0, `eib build failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as BuildSummary;
}

const withEpoch = (epoch: number) => (y: string) => y.replace(/^name: demo$/m, `name: demo\nepoch: ${epoch}`);

test('two builds from empty caches in different folders give the same digest; another epoch another one', { skip }, async () => {
  const [a, b] = await Promise.all([build(project(withEpoch(1700000000))), build(project(withEpoch(1700000000)))]);
  assert.equal(a.digest, b.digest);
  assert.deepEqual(a.stages.map((s) => s.key), b.stages.map((s) => s.key));
  const c = await build(project(withEpoch(1700000001)));
  assert.notEqual(c.digest, a.digest);
});

test('a two-arch config builds an OCI index with arm64 and amd64 manifests', { skip }, async () => {
  const dir = project((y) => y.replace(/^arch: aarch64$/m, 'arch: [aarch64, x86_64]'));
  const summary = await build(dir);
  assert.equal(summary.mediaType, 'application/vnd.oci.image.index.v1+json');
  const index = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${join(dir, 'out', 'oci')}:latest`], { encoding: 'utf8' })) as {
    manifests: { platform: { architecture: string } }[];
  };
  assert.deepEqual(index.manifests.map((m) => m.platform.architecture).sort(), ['amd64', 'arm64']);
  for (const [arch, expected] of [['aarch64', 'aarch64'], ['x86_64', 'x86_64']] as const) {
    const r = await eib(dir, ['shell', '--arch', arch, '--', 'uname', '-m']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), expected);
  }
  const lock = await eib(dir, ['lock']);
  assert.equal(lock.code, 0, lock.stderr);
  const pinned = JSON.parse(readFileSync(join(dir, 'eib.lock.json'), 'utf8')) as { arches: Record<string, Record<string, { name: string }[]>> };
  assert.deepEqual(Object.keys(pinned.arches).sort(), ['aarch64', 'x86_64']);
  assert.equal(pinned.arches['x86_64']!['base']!.length, 14);
});

test('the lock file pins what builds install; a pin the repository lost asks for eib lock --update', { skip }, async () => {
  const dir = project();
  const r = await eib(dir, ['lock']);
  assert.equal(r.code, 0, r.stderr);
  const lockPath = join(dir, 'eib.lock.json');
  const lock = JSON.parse(readFileSync(lockPath, 'utf8')) as { arches: { aarch64: { base: { name: string; version: string; repository: string; checksum: string }[] } } };
  const base = lock.arches.aarch64.base;
  assert.equal(base.length, 14);
  assert.ok(base.every((p) => p.checksum.startsWith('Q1') && !p.repository.startsWith('/')), 'local repositories are relative');
  assert.ok(base.findIndex((p) => p.name === 'musl') < base.findIndex((p) => p.name === 'busybox'), 'install order: dependencies first');
  await build(dir);

  base.find((p) => p.name === 'busybox')!.version = '0.0.1-r0';
  writeFileSync(lockPath, JSON.stringify(lock));
  const stale = await eib(dir, ['build']);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /busybox-0\.0\.1-r0.*no longer provide.*eib lock --update/);

  const update = await eib(dir, ['lock', '--update']);
  assert.equal(update.code, 0, update.stderr);
  const again = await build(dir);
  assert.ok(again.stages.every((s) => s.cached), 'the refreshed lock pins what was built');
});

test('a stage without network sees only a loopback device; with network: true the host network', { skip }, async () => {
  const dir = project((y) =>
    y.replace(
      '  - name: prune',
      '  - name: offline\n    run: cat /proc/net/dev > /offline-net\n  - name: online\n    network: true\n    run: cat /proc/net/dev > /online-net\n  - name: prune',
    ),
  );
  await build(dir);
  const net = (file: string): string[] => {
    const r = execFileSync('tar', ['-xOf', join(dir, 'rootfs.tar'), file], { encoding: 'utf8' });
    return r.split('\n').slice(2).map((l) => l.trim().split(':')[0]!).filter(Boolean);
  };
  const ex = await eib(dir, ['export', 'rootfs.tar']);
  assert.equal(ex.code, 0, ex.stderr);
  assert.deepEqual(net('offline-net'), ['lo']);
  const hostInterfaces = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.trim().split(':')[0]!).filter(Boolean);
  assert.deepEqual(net('online-net').sort(), hostInterfaces.sort());
});

test('eib shell runs commands in a stage as it was left and passes the exit code back', { skip }, async () => {
  const dir = project();
  await build(dir);
  const base = await eib(dir, ['shell', 'base', '--', 'sh', '-c', 'test -e /etc/hostname && cat /etc/hostname || echo none; id -u; uname -m']);
  assert.equal(base.code, 0, base.stderr);
  assert.deepEqual(base.stdout.trim().split('\n').slice(-2), ['0', 'aarch64']);
  const configure = await eib(dir, ['shell', 'configure', '--', 'cat', '/etc/hostname']);
  assert.equal(configure.stdout.trim(), 'demo-device');
  const fails = await eib(dir, ['shell', '--', 'sh', '-c', 'exit 7']);
  assert.equal(fails.code, 7);
  const unknown = await eib(dir, ['shell', 'nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no stage named nope; stages: base, configure, prune/);
});

test('eib ls lists checkpoints and eib gc removes those the image no longer uses', { skip }, async () => {
  const dir = project();
  await build(dir);
  writeFileSync(join(dir, 'scripts', 'fixup.sh'), `${readFileSync(join(dir, 'scripts', 'fixup.sh'), 'utf8')}touch "$ROOTFS/etc/changed"\n`);
  await build(dir);
  const ls = await eib(dir, ['ls', '--json']);
  assert.equal(ls.code, 0, ls.stderr);
  const rows = JSON.parse(ls.stdout) as { stage: string; inImage: boolean }[];
  assert.equal(rows.length, 5, 'base once, configure and prune twice');
  assert.equal(rows.filter((r) => r.inImage).length, 3);

  const gc = await eib(dir, ['gc', '--json']);
  assert.equal(gc.code, 0, gc.stderr);
  const result = JSON.parse(gc.stdout) as { checkpointsRemoved: number; blobsRemoved: number };
  assert.equal(result.checkpointsRemoved, 2);
  assert.ok(result.blobsRemoved >= 2);
  assert.equal(readdirSync(join(dir, '.cache', 'eib', 'snapshots')).length, 3);
  const after = await build(dir);
  assert.ok(after.stages.every((s) => s.cached), 'gc kept what the image uses');
});

test('a second checkout with an empty cache pulls every stage from the shared registry cache', { skip }, async () => {
  const registry = await startRegistry();
  try {
    const shared = (y: string): string => `${y}cache:\n  registry: ${registry.host}/eib-cache\n`;
    const first = await build(project(shared));
    assert.ok(first.stages.every((s) => s.source === 'built'));
    const second = await build(project(shared));
    assert.deepEqual(second.stages.map((s) => s.source), ['shared', 'shared', 'shared']);
    assert.equal(second.digest, first.digest);
  } finally {
    await registry.stop();
  }
});

test('a failing script shows its output, names the stage, step and exit code, and leaves no layer behind', { skip }, async () => {
  const dir = project((y) => y.replace('adduser -D -u 1000 -s /bin/sh operator', 'adduser -D -u 1000 -s /bin/sh operator\n      echo "disk full, giving up" >&2; exit 3'));
  const r = await eib(dir, ['build']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /disk full, giving up/);
  assert.match(r.stderr, /error: stage configure \(aarch64\): run inline script 1 exited with code 3/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.deepEqual(readdirSync(join(dir, '.cache', 'eib', 'tmp')), [], 'no scratch left');
  const ls = JSON.parse((await eib(dir, ['ls', '--json'])).stdout) as { stage: string }[];
  assert.deepEqual(ls.map((row) => row.stage), ['base']);
  writeFileSync(join(dir, 'eib.yaml'), readFileSync(join(dir, 'eib.yaml'), 'utf8').replace('exit 3', 'true'));
  const fixed = await build(dir);
  assert.deepEqual(fixed.stages.map((s) => s.source), ['local', 'built', 'built']);
});

test('eib gc waits for a running build (saying so) and keeps what it built; nothing is left locked', { skip }, async () => {
  const dir = project((y) => y.replace('echo demo-device > /etc/hostname', 'echo demo-device > /etc/hostname; touch /started; sleep 5'));
  const building = runEib(['build', '--json'], { cwd: dir, timeoutMs: 600_000 });
  await waitForFile(join(dir, '.cache', 'eib', 'tmp'), 'started');
  const gc = await eib(dir, ['gc', '--json']);
  const built = await building;
  assert.equal(built.code, 0, built.stderr);
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stderr, /waiting for the other eib processes using .* to finish/);
  // gc ran after the build had written its image, so it kept every stage of it.
  assert.equal((JSON.parse(gc.stdout) as { checkpointsKept: number }).checkpointsKept, 3);
  const again = await build(dir);
  assert.ok(again.stages.every((s) => s.cached));
});

test('$SOURCE_DATE_EPOCH makes a build reproducible like epoch does; without either the build says it is not', { skip }, async () => {
  const withEnv = async (): Promise<BuildSummary & { reproducible: boolean }> => {
    const dir = project();
    const r = await runEib(['build', '--json'], { cwd: dir, env: { SOURCE_DATE_EPOCH: '1700000000' }, timeoutMs: 600_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /not reproducible/);
    return JSON.parse(r.stdout) as BuildSummary & { reproducible: boolean };
  };
  const [a, b] = [await withEnv(), await withEnv()];
  assert.equal(a.digest, b.digest);
  assert.equal(a.reproducible, true);
  const viaConfig = await build(project(withEpoch(1700000000)));
  assert.equal(viaConfig.digest, a.digest, 'the same epoch from the file or the environment gives the same image');
  const plain = await eib(project(), ['build']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /not reproducible \(no epoch\)/);
});
