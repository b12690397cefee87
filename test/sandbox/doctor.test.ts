/** `eib doctor` as the unprivileged test user: passes on this host, names the fix when qemu is missing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runEib } from '../helpers/cli.js';
import { testUser, userTempDir } from '../helpers/user.js';
import { findTool } from '../../src/fs/tool.js';

interface Report {
  ok: boolean;
  arches: string[];
  checks: { name: string; ok: boolean; required: boolean; detail: string; fix?: string }[];
}

test('eib doctor passes on this host, one line per check', async () => {
  const r = await runEib(['doctor'], { cwd: userTempDir() });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  for (const name of ['kernel', 'user namespaces', 'subordinate ids', 'newuidmap/newgidmap', 'overlayfs (userxattr)', 'binfmt_misc', 'qemu-aarch64-static', 'mke2fs', 'qemu-system-aarch64']) {
    assert.ok(
      lines.some((l) => l.startsWith('ok') && l.includes(name)),
      `an ok line for ${name} in:\n${r.stdout}`,
    );
  }
});

test('eib doctor --json reports every check for each --arch', async () => {
  const r = await runEib(['doctor', '--json', '--arch', 'aarch64', '--arch', 'riscv64'], { cwd: userTempDir() });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.ok, true);
  assert.deepEqual(report.arches, ['aarch64', 'riscv64']);
  assert.ok(report.checks.some((c) => c.name === 'qemu-riscv64-static' && c.ok));
});

test('without qemu on PATH, eib doctor fails and names qemu-user-static', async () => {
  // A PATH with every tool eib needs except the emulators.
  const bin = join(userTempDir(), 'bin');
  mkdirSync(bin);
  const user = testUser();
  if (!user.self) chownSync(bin, user.uid, user.gid);
  for (const tool of ['unshare', 'setpriv', 'mount', 'umount', 'newuidmap', 'newgidmap', 'chroot', 'mke2fs', 'sh', 'env']) {
    const path = findTool(tool, `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`);
    assert.ok(path, `${tool} is installed`);
    symlinkSync(path, join(bin, tool));
  }
  const r = await runEib(['doctor'], { cwd: userTempDir(), env: { PATH: bin } });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const qemuLine = r.stdout.split('\n').find((l) => l.includes('qemu-aarch64-static'));
  assert.match(qemuLine ?? '', /^missing .*qemu-user-static/);
  assert.match(r.stdout, /^ok +overlayfs/m, 'the namespace checks still run');
  assert.match(r.stdout, /A build would fail here/);
  const bootLine = r.stdout.split('\n').find((l) => l.includes('qemu-system-aarch64'));
  assert.match(bootLine ?? '', /^warning .*needed by eib boot.*apt install qemu-system-arm/, 'eib boot\'s machine is a warning: builds do not need it');
});
