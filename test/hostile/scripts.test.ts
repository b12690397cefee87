/**
 * `run` scripts execute in the stage root (chroot, emulated aarch64 busybox)
 * and must not write outside it: not through `..`, not through absolute
 * paths, not through /proc/<pid>/root or /proc/<pid>/cwd of a process
 * outside the chroot. Canaries in the project, the user's home and /tmp,
 * all writable by the test user, must stay untouched.
 *
 * `host-run` is trusted by design (it runs on the host side with $ROOTFS
 * set, as the user): that is documented, not tested as an escape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib } from '../helpers/cli.js';
import { testUser } from '../helpers/user.js';
import { BUSYBOX_ARM64, canaryDamage, makeProject, projectYaml, removeCanaries, writeRepo } from './project.js';

const haveBusybox = existsSync(BUSYBOX_ARM64);

test('a run script cannot write outside the stage root (.., absolute paths, /proc/*/root, /proc/*/cwd)', { skip: !haveBusybox && `${BUSYBOX_ARM64} missing` }, async () => {
  const project = makeProject('');
  try {
    const home = testUser().home;
    const targets = [...project.canaries.files.keys(), ...project.canaries.absent];
    // Every attempt may fail (that is the point); the script goes on and records what it could see.
    const attempts = targets
      .flatMap((t) => [
        `echo escaped > ../../../../../../..${t}`,
        `( cd / && cd ../../../.. && echo escaped > .${t} )`,
        `for p in /proc/[0-9]*; do echo escaped > "$p/root${t}"; echo escaped > "$p/cwd/../../../../..${t}"; done`,
      ])
      .map((line) => `${line} 2>/dev/null || true`);
    const script = [
      'set +e',
      ...attempts,
      // Uncover whatever lies under /proc, or mount a proc of our own, and try again.
      'busybox umount -l /proc 2>/dev/null; busybox umount -l /proc 2>/dev/null; mkdir -p /mnt/p && busybox mount -t proc proc /mnt/p 2>/dev/null',
      ...targets.map((t) => `for p in /proc/[0-9]* /mnt/p/[0-9]*; do echo escaped > "$p/root${t}"; done 2>/dev/null || true`),
      `ls /proc/1/root${home} > /saw-home 2>&1 || true`,
      'ls /proc/1/root/ > /saw-proc1-root 2>&1 || true',
      'true',
    ].join('\n');
    const stages = `  - name: base
    packages: [busybox]
  - name: escape
    run: |
${script
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
`;
    writeFileSync(join(project.dir, 'eib.yaml'), projectYaml(stages));
    await writeRepo(project, [
      {
        name: 'busybox',
        version: '1.36-r0',
        files: [{ path: 'bin/' }, { path: 'bin/busybox', content: readFileSync(BUSYBOX_ARM64), mode: 0o755 }, { path: 'bin/sh', type: 'symlink', linkTarget: 'busybox' }, { path: 'bin/ls', type: 'symlink', linkTarget: 'busybox' }, { path: 'tmp/' }],
      },
    ]);
    const r = await runEib(['build'], { cwd: project.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(canaryDamage(project), [], 'nothing outside the stage root changed');
    const ex = await runEib(['export', 'rootfs.tar'], { cwd: project.dir });
    assert.equal(ex.code, 0, ex.stderr);
    const saw = (name: string): string => execFileSync('tar', ['-xOf', join(project.dir, 'rootfs.tar'), name], { encoding: 'utf8' });
    // /proc/1 is a process of the stage's own pid namespace whose root is the stage root, or is not visible at all.
    assert.doesNotMatch(saw('saw-home'), new RegExp(`eib-canary-${project.id}`), 'the home folder is not visible from the chroot');
    assert.doesNotMatch(saw('saw-proc1-root'), /\bhome\b[\s\S]*\bsrv\b|\bboot\b/, 'the host root is not visible through /proc/1/root');
  } finally {
    removeCanaries(project);
  }
});
