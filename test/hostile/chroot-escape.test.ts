/**
 * A run script that is a real program doing the classic chroot escape
 * (fixtures/escape/chroot-escape.c, built static here so it runs natively in
 * the aarch64 rootfs): root of the user namespace may call chroot, so only
 * a stage root that is its mount namespace's root, with the host's root
 * detached, keeps it in. Canaries outside must stay untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/user.js';
import { BUSYBOX_ARM64, canaryDamage, chownToUser, makeProject, projectYaml, removeCanaries, writeRepo } from './project.js';

const haveBusybox = existsSync(BUSYBOX_ARM64);

test('a static program doing the double-chroot escape in a run script stays in the stage root', { skip: !haveBusybox && `${BUSYBOX_ARM64} missing` }, async () => {
  const project = makeProject('');
  try {
    mkdirSync(join(project.dir, 'tools'));
    execFileSync('gcc', ['-static', '-O2', '-o', join(project.dir, 'tools', 'escape'), join(REPO_ROOT, 'fixtures', 'escape', 'chroot-escape.c')]);
    chownToUser(join(project.dir, 'tools'));
    const targets = [...project.canaries.files.keys(), ...project.canaries.absent];
    const stages = `  - name: base
    packages: [busybox]
  - name: escape
    files:
      - { src: tools/escape, dest: /usr/local/bin/escape, mode: "0755" }
    run: /usr/local/bin/escape ${targets.join(' ')} > /escape-result
`;
    writeFileSync(join(project.dir, 'eib.yaml'), projectYaml(stages));
    await writeRepo(project, [
      {
        name: 'busybox',
        version: '1.36-r0',
        files: [{ path: 'bin/' }, { path: 'bin/busybox', content: readFileSync(BUSYBOX_ARM64), mode: 0o755 }, { path: 'bin/sh', type: 'symlink', linkTarget: 'busybox' }, { path: 'tmp/' }],
      },
    ]);
    const r = await runEib(['build'], { cwd: project.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(canaryDamage(project), [], 'nothing outside the stage root changed');
    const ex = await runEib(['export', 'rootfs.tar'], { cwd: project.dir });
    assert.equal(ex.code, 0, ex.stderr);
    const result = execFileSync('tar', ['-xOf', join(project.dir, 'rootfs.tar'), 'escape-result'], { encoding: 'utf8' });
    // The program ran (so the test can fail); whatever it wrote landed inside the stage root.
    assert.match(result, /^(ESCAPED|contained)$/m, 'the escape program ran');
  } finally {
    removeCanaries(project);
  }
});
