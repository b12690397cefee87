/**
 * A cache on a full disk (a 6 MiB tmpfs the test mounts as root): the
 * build fails with one line naming the stage and the cache's folder, leaves
 * no scratch behind, keeps the image a previous build wrote, and once there
 * is space again the next build succeeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib } from '../helpers/cli.js';
import { demoProject } from '../helpers/demo-project.js';
import { SHARED_ALPINE, testUser } from '../helpers/user.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'mounting a tmpfs needs root' : !existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main', 'x86_64', 'APKINDEX.tar.gz')) && 'shared/alpine not present';

test('a full disk under the cache fails the stage with its path, keeps the previous image, and the build succeeds once space is freed', { skip, timeout: 300_000 }, async () => {
  const dir = demoProject((y) => y.replace(/^arch: aarch64$/m, 'arch: x86_64').replace(/^name: demo$/m, 'name: demo\nepoch: 1700000000'), 'eib-full-');
  // The previous image, built with a cache elsewhere.
  const first = await runEib(['build', '--json'], { cwd: dir, env: { XDG_CACHE_HOME: join(dir, 'roomy') } });
  assert.equal(first.code, 0, first.stderr);
  const index = (): string => readFileSync(join(dir, 'out', 'oci', 'index.json'), 'utf8');
  const before = index();

  const small = join(dir, 'small');
  mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=6m,uid=${testUser().uid},gid=${testUser().gid}`, 'tmpfs', small]);
  try {
    const full = await runEib(['build', '--json'], { cwd: dir, env: { XDG_CACHE_HOME: small } });
    assert.equal(full.code, 1, full.stderr);
    assert.match(full.stderr, new RegExp(`^error: stage base \\(x86_64\\): no space left on the device of ${join(small, 'eib')}, where stages are built; free space there`, 'm'));
    assert.deepEqual(readdirSync(join(small, 'eib', 'tmp')), [], 'no scratch left behind');
    assert.equal(index(), before, 'the previous image is still tagged');

    execFileSync('mount', ['-o', 'remount,size=64m', small]);
    const again = await runEib(['build', '--json'], { cwd: dir, env: { XDG_CACHE_HOME: small } });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { digest: string }).digest, (JSON.parse(first.stdout) as { digest: string }).digest);
  } finally {
    execFileSync('umount', [small]);
  }
});
