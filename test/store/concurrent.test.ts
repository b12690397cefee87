/**
 * Many eib processes on one cache, as CI runners sharing a cache volume
 * run them: cold builds of two projects (one twice) and a gc at once, then
 * a rebuild of a changed last stage (twice) beside exports, a shell, ls
 * and another gc. Every process must succeed, every stage be built by one
 * build only (the others wait for it and reuse it), and every digest and
 * exported file equal what a sequential run in a cache of its own gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlobStore } from '../../src/store/blob-store.js';
import { runEib, type RunResult } from '../helpers/cli.js';
import { demoProject } from '../helpers/demo-project.js';
import { SHARED_ALPINE } from '../helpers/user.js';

const skip = !existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main', 'x86_64', 'APKINDEX.tar.gz')) && 'shared/alpine not present';

interface Built {
  digest: string;
  stages: { name: string; cached: boolean }[];
}

/** x86_64 (no emulation) keeps the test short; the locking does not depend on the arch. */
const withEpoch = (y: string): string => y.replace(/^arch: aarch64$/m, 'arch: x86_64').replace(/^name: demo$/m, 'name: demo\nepoch: 1700000000');
const changedPrune = (y: string): string => y.replace('/etc/motd]', '/etc/motd, /etc/issue]');

function eib(dir: string, args: string[], cache: string): Promise<RunResult> {
  return runEib(args, { cwd: dir, env: { XDG_CACHE_HOME: cache }, timeoutMs: 600_000 });
}

function ok(r: RunResult, what: string): RunResult {
  assert.equal(r.code, 0, `${what} failed:\n${r.stderr}`);
  return r;
}

const built = (r: RunResult, what: string): Built => JSON.parse(ok(r, what).stdout) as Built;
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

test('builds, exports, a shell, ls and gc at once on one cache each give what a sequential run gives', { skip, timeout: 600_000 }, async () => {
  // The sequential reference, in a cache of its own.
  const ref = demoProject(withEpoch, 'eib-seq-');
  const refCache = join(ref, '.ref-cache');
  const first = built(await eib(ref, ['build', '--json'], refCache), 'reference build');
  ok(await eib(ref, ['export', 'rootfs.tar'], refCache), 'reference tar export');
  ok(await eib(ref, ['export', 'rootfs.ext4'], refCache), 'reference ext4 export');
  writeFileSync(join(ref, 'eib.yaml'), changedPrune(readFileSync(join(ref, 'eib.yaml'), 'utf8')));
  const second = built(await eib(ref, ['build', '--json'], refCache), 'reference rebuild');

  const a = demoProject(withEpoch, 'eib-conc-a-');
  const b = demoProject(withEpoch, 'eib-conc-b-');
  const cache = join(a, '.shared-cache');

  // Round 1, cold: three builds of the same stages and a gc.
  const round1 = await Promise.all([eib(a, ['build', '--json'], cache), eib(a, ['build', '--json'], cache), eib(b, ['build', '--json'], cache), eib(b, ['gc'], cache)]);
  ok(round1[3], 'gc beside cold builds');
  const builds = round1.slice(0, 3).map((r, i) => built(r, `cold build ${i + 1}`));
  for (const r of builds) assert.equal(r.digest, first.digest, 'every concurrent build gives the sequential digest');
  for (const [i, stage] of first.stages.entries()) {
    const runs = builds.filter((r) => !r.stages[i]!.cached).length;
    assert.equal(runs, 1, `stage ${stage.name} was built by exactly one of the three builds (the others reused it)`);
  }

  // Round 2: the last stage of a changes (rebuilt twice at once) while b is exported, opened and listed, and gc runs.
  writeFileSync(join(a, 'eib.yaml'), changedPrune(readFileSync(join(a, 'eib.yaml'), 'utf8')));
  const round2 = await Promise.all([
    eib(a, ['build', '--json'], cache),
    eib(a, ['build', '--json'], cache),
    eib(b, ['export', 'rootfs.tar'], cache),
    eib(b, ['export', 'rootfs.ext4'], cache),
    eib(b, ['shell', '--', 'cat', '/etc/hostname'], cache),
    eib(b, ['ls', '--json'], cache),
    eib(a, ['gc'], cache),
  ]);
  for (const r of round2.slice(0, 2)) assert.equal(built(r, 'rebuild').digest, second.digest, 'concurrent rebuilds give the sequential digest');
  ok(round2[2], 'tar export');
  ok(round2[3], 'ext4 export');
  assert.equal(ok(round2[4], 'shell').stdout.trim(), 'demo-device');
  ok(round2[5], 'ls');
  ok(round2[6], 'gc');
  assert.equal(sha256(join(b, 'rootfs.tar')), sha256(join(ref, 'rootfs.tar')), 'the tar export is the sequential one');
  assert.equal(sha256(join(b, 'rootfs.ext4')), sha256(join(ref, 'rootfs.ext4')), 'the ext4 export is the sequential one');

  // Afterwards the cache is whole: its blobs verify and both projects build (a from cache: gc ran in a).
  assert.deepEqual((await new BlobStore(join(cache, 'eib')).verify()).filter((c) => !c.ok), []);
  const after = built(await eib(a, ['build', '--json'], cache), 'build after');
  assert.equal(after.digest, second.digest);
  assert.equal(built(await eib(b, ['build', '--json'], cache), 'b after').digest, first.digest);
});
