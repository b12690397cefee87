/**
 * Outputs on a full disk (an 8 MiB tmpfs the test mounts as root, owned by
 * the test user): `eib export` of a tar and of an ext4 image fails with one
 * line naming the output's folder and file, leaves no temporary file there,
 * and keeps the previous output byte for byte; once the tmpfs is grown both
 * exports succeed, read back by tar and e2fsck.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib } from '../helpers/cli.js';
import { testUser } from '../helpers/user.js';
import { makeProject, projectYaml, removeCanaries, writeRepo, type Project } from '../hostile/project.js';

const skip = process.getuid?.() !== 0 && 'mounting a tmpfs needs root';

const STAGES = `  - name: base
    packages: [payload]
`;

async function payload(project: Project, version: string, bytes: number): Promise<void> {
  await writeRepo(project, [{ name: 'payload', version, files: [{ path: 'usr/' }, { path: 'usr/share/' }, { path: 'usr/share/payload.bin', content: randomBytes(bytes) }] }]);
  const built = await runEib(['build'], { cwd: project.dir });
  assert.equal(built.code, 0, built.stderr);
}

test('a full disk under an export fails with its path, keeps the previous output and no temporary file; with space the export succeeds', { skip, timeout: 120_000 }, async () => {
  const project = makeProject(STAGES);
  const small = join(project.dir, 'small');
  mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=8m,uid=${testUser().uid},gid=${testUser().gid}`, 'tmpfs', small]);
  try {
    writeFileSync(join(project.dir, 'eib.yaml'), projectYaml(STAGES, 'epoch: 1700000000\n'));
    await payload(project, '1.0-r0', 1000);
    const tar = join(small, 'rootfs.tar');
    const ext4 = join(small, 'rootfs.ext4');
    for (const args of [[tar], [ext4, '--size', '8M']]) {
      const r = await runEib(['export', ...args], { cwd: project.dir });
      assert.equal(r.code, 0, r.stderr);
    }
    const previous = { tar: readFileSync(tar), ext4: readFileSync(ext4) };

    // The next image does not fit in what is left.
    await payload(project, '2.0-r0', 10 << 20);
    for (const [path, args] of [[tar, []], [ext4, ['--size', '24M']]] as const) {
      const r = await runEib(['export', path, ...args], { cwd: project.dir });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^error: no space left on the device of ${small} to write ${path}; .*free space there`, 'm'));
      assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('error:')).length, 1, `one error line: ${r.stderr}`);
      assert.deepEqual(readdirSync(small).sort(), ['rootfs.ext4', 'rootfs.tar'], 'no temporary file left');
    }
    assert.ok(readFileSync(tar).equals(previous.tar), 'the previous tar is intact');
    assert.ok(readFileSync(ext4).equals(previous.ext4), 'the previous ext4 image is intact');

    execFileSync('mount', ['-o', 'remount,size=64m', small]);
    for (const args of [[tar], [ext4, '--size', '24M']]) {
      const r = await runEib(['export', ...args], { cwd: project.dir });
      assert.equal(r.code, 0, r.stderr);
    }
    assert.match(execFileSync('tar', ['-tvf', tar], { encoding: 'utf8' }), /10485760 .*usr\/share\/payload\.bin$/m);
    execFileSync('e2fsck', ['-fn', ext4], { stdio: 'pipe' });
    assert.match(execFileSync('debugfs', ['-R', 'stat /usr/share/payload.bin', ext4], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), /Size: 10485760/);
  } finally {
    execFileSync('umount', [small]);
    removeCanaries(project);
  }
});
