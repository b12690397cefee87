/**
 * The rootless sandbox as a build uses it, run as the unprivileged test
 * user on real Alpine minirootfs trees: emulated and native chroots, ids
 * and owners, a clean upperdir, errors crossing the namespace, and nothing
 * left behind when eib is killed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SHARED_ALPINE, testUser, userTempDir } from '../helpers/user.js';
import { findTool } from '../../src/fs/tool.js';
import type { CommandResult } from '../../src/sandbox/chroot.js';
import { descendants, extractRootfs, processesWithLastArg, runDriver, startDriver } from './helpers.js';
import type { StageOutcome, StagePayload } from './tasks.js';

const haveAlpine = existsSync(join(SHARED_ALPINE, 'minirootfs'));
let work = '';
let aarch64 = '';
let x86_64 = '';
let n = 0;

/** A fresh upper/work/merged triple for one stage. */
function stageDirs(): Pick<StagePayload, 'upper' | 'work' | 'merged'> {
  n++;
  return { upper: join(work, `upper${n}`), work: join(work, `work${n}`), merged: join(work, `merged${n}`) };
}

async function stage(payload: Omit<StagePayload, 'upper' | 'work' | 'merged'>, env: Record<string, string> = {}): Promise<{ outcome: StageOutcome; upper: string; stderr: string }> {
  const dirs = stageDirs();
  const r = await runDriver<StageOutcome>('stage', { ...payload, ...dirs }, env);
  assert.equal(r.code, 0, `stage failed: ${r.stdout}${r.stderr}`);
  return { outcome: r.value!, upper: dirs.upper, stderr: r.stderr };
}

before(async () => {
  if (!haveAlpine) return;
  work = userTempDir('eib-sandbox-');
  aarch64 = join(work, 'aarch64');
  x86_64 = join(work, 'x86_64');
  await Promise.all([extractRootfs('aarch64', aarch64), extractRootfs('x86_64', x86_64)]);
});

after(() => {
  // Files of subordinate ids: only root (the suite in CI) can remove them from outside.
  if (work !== '' && (process.getuid?.() ?? 0) === 0) rmSync(work, { recursive: true, force: true });
});

test('an aarch64 chroot runs through a private binfmt_misc, as root of the namespace', { skip: !haveAlpine && 'no Alpine data' }, async (t) => {
  const hostEntry = '/proc/sys/fs/binfmt_misc/qemu-aarch64';
  if (existsSync(hostEntry)) t.diagnostic(`the host registers qemu-aarch64 (${readFileSync(hostEntry, 'utf8').split('\n')[0]}); still testing the user-namespace path`);
  const { outcome } = await stage({ lowers: [aarch64], arch: 'aarch64', network: false, commands: [['uname', '-m'], ['id', '-u'], ['id', '-g']] });
  assert.equal(outcome.method, 'userns-binfmt');
  assert.equal(outcome.idMap, 'subordinate');
  assert.deepEqual(
    outcome.results.map((r) => [r.code, r.stdout.trim()]),
    [
      [0, 'aarch64'],
      [0, '0'],
      [0, '0'],
    ],
  );
});

test('a native x86_64 chroot needs no emulation', { skip: !haveAlpine && 'no Alpine data' }, async (t) => {
  if (process.arch !== 'x64') return t.skip('host is not x86_64');
  const { outcome } = await stage({ lowers: [x86_64], arch: 'x86_64', network: false, commands: [['uname', '-m'], ['/bin/sh', '-c', 'cat /etc/alpine-release; exit 3']] });
  assert.equal(outcome.method, 'native');
  assert.equal(outcome.results[0]?.stdout.trim(), 'x86_64');
  assert.deepEqual([outcome.results[1]?.code, outcome.results[1]?.stdout.trim()], [3, '3.20.3']);
});

test('owners set in a stage keep their namespace ids (root:shadow is 0:42)', { skip: !haveAlpine && 'no Alpine data' }, async () => {
  const { outcome, upper } = await stage({
    lowers: [aarch64],
    arch: 'aarch64',
    network: false,
    commands: [['/bin/sh', '-c', 'echo secret > /etc/owned && chown 0:42 /etc/owned && stat -c "%u:%g" /etc/owned /etc/shadow']],
    stat: ['/etc/owned'],
  });
  assert.equal(outcome.results[0]?.stdout.trim(), '0:42\n0:42');
  assert.deepEqual(outcome.stats.map((s) => `${s.uid}:${s.gid}`), ['0:42']);
  // Read back from the upperdir after release, inside a new namespace.
  const again = await runDriver<{ uid: number; gid: number }[]>('statPaths', { paths: [join(upper, 'etc', 'owned')] });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(again.value?.map((s) => `${s.uid}:${s.gid}`), ['0:42']);
  // On the host the group is the subordinate id that 42 maps to, not the user's.
  assert.notEqual(statSync(join(upper, 'etc', 'owned')).gid, statSync(upper).gid);
});

test('a stage that does nothing leaves an empty upperdir', { skip: !haveAlpine && 'no Alpine data' }, async () => {
  for (const [lowers, network] of [
    [[aarch64], true],
    [[aarch64], false],
    [[], true],
  ] as const) {
    const { upper } = await stage({ lowers: [...lowers], arch: 'aarch64', network, commands: [] });
    assert.deepEqual(readdirSync(upper), [], `upperdir of a no-op stage over ${lowers.length} lower(s), network ${network}`);
  }
});

test('a stage with the network on sees the host resolver, and leaves no trace of it', { skip: !haveAlpine && 'no Alpine data' }, async () => {
  const { outcome, upper } = await stage({ lowers: [aarch64], arch: 'aarch64', network: true, commands: [['cat', '/etc/resolv.conf'], ['/bin/sh', '-c', 'echo device > /etc/hostname']] });
  assert.equal(outcome.results[0]?.stdout, readFileSync('/etc/resolv.conf', 'utf8'));
  assert.deepEqual(readdirSync(upper), ['etc']);
  assert.deepEqual(readdirSync(join(upper, 'etc')), ['hostname']);
});

test('a batch of mounts in one shell names the mount that failed, with what mount said, after mounting those before it', async () => {
  const dir = userTempDir();
  try {
    const r = await runDriver<{ message: string; firstMounted: boolean }>('mountBatch', { dir });
    assert.equal(r.code, 0, r.error?.message);
    assert.equal(r.value?.firstMounted, true);
    assert.match(r.value?.message ?? '', /^could not mount the second mount: .*eib-no-such-fs/s);
    assert.doesNotMatch(r.value?.message ?? '', /eib-mount-failed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing task keeps its error code and exit code across the namespace', async () => {
  const r = await runDriver('fail', { code: 'ESTEPFAILED', exitCode: 2 });
  assert.equal(r.code, 2);
  assert.equal(r.error?.code, 'ESTEPFAILED');
  assert.equal(r.error?.exitCode, 2);
  assert.equal(r.error?.isEibError, true);
  assert.match(r.error?.message ?? '', /failed on purpose/);
});

test('openShell runs a command in the stage root and returns its exit code; keep holds the changes', { skip: !haveAlpine && 'no Alpine data' }, async () => {
  const r = await runDriver<number>('shell', { lowers: [aarch64], arch: 'aarch64', command: ['/bin/sh', '-c', 'uname -m; exit 7'] });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.value, 7);
  assert.match(r.stdout, /^aarch64$/m);

  const keep = { upper: join(work, 'kept-upper'), work: join(work, 'kept-work') };
  const kept = await runDriver<number>('shell', { lowers: [aarch64], arch: 'aarch64', command: ['/bin/sh', '-c', 'echo hi > /root/note'], keep });
  assert.equal(kept.value, 0, kept.stderr);
  assert.deepEqual(readdirSync(keep.upper), ['root']);
  assert.deepEqual(readdirSync(join(keep.upper, 'root')), ['note']);
});

test('SIGKILL of eib while a chroot command runs leaves no process and no mount behind', { skip: !haveAlpine && 'no Alpine data' }, async () => {
  const marker = String(4_000_000 + (process.pid % 100_000));
  const dirs = stageDirs();
  const driver = startDriver('stage', { lowers: [aarch64], arch: 'aarch64', network: true, commands: [['sleep', marker]], ...dirs });
  let tree: number[] = [];
  for (let i = 0; i < 200 && processesWithLastArg(marker).length === 0; i++) await sleep(100);
  assert.notEqual(processesWithLastArg(marker).length, 0, 'the sleep started in the chroot');
  tree = descendants(driver.pid!);
  assert.ok(tree.length >= 3, `unshare, the entry and the sleep run under eib (found ${tree.length})`);

  driver.kill('SIGKILL');
  const alive = (): number[] => tree.filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '));
  for (let i = 0; i < 100 && (alive().length > 0 || processesWithLastArg(marker).length > 0); i++) await sleep(100);
  assert.deepEqual(processesWithLastArg(marker), [], 'the sleep is gone');
  assert.deepEqual(alive(), [], 'every process of the sandbox is gone');
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(dirs.merged), 'no mount of the stage is visible on the host');
  // The mount namespace is gone too: nothing holds the overlay, so the merged dir is a plain empty dir.
  assert.deepEqual(readdirSync(dirs.merged), []);
});

test('chroot commands start in a clean environment, in the given directory', { skip: !haveAlpine && 'no Alpine data' }, async () => {
  const { outcome } = await stage({ lowers: [aarch64], arch: 'aarch64', network: false, cwd: '/etc', commands: [['/bin/sh', '-c', 'pwd; echo "$HOME $PATH"; env | cut -d= -f1 | sort | tr "\\n" " "']] });
  const [pwd, homePath, names] = (outcome.results[0]?.stdout ?? '').split('\n');
  assert.equal(pwd, '/etc');
  assert.equal(homePath, '/root /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  assert.doesNotMatch(names ?? '', /\b(USER|LOGNAME|XDG_CACHE_HOME|NODE_\w+)\b/, 'nothing of eib\'s environment leaks in');
});

test('host-run commands get the clean environment plus theirs, their cwd, and 128+n for a signal', async () => {
  const cwd = userTempDir();
  const ok = await runDriver<CommandResult>('hostRun', { argv: ['/bin/sh', '-c', 'echo "$ROOTFS $HOME"; pwd; id -u; exit 5'], env: { ROOTFS: '/some/root' }, cwd });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.value?.code, 5);
  assert.equal(ok.value?.stdout, `/some/root /root\n${cwd}\n0\n`);
  const killed = await runDriver<CommandResult>('hostRun', { argv: ['/bin/sh', '-c', 'kill -TERM $$'], env: {}, cwd });
  assert.equal(killed.value?.code, 128 + 15);
});

test('without newuidmap only root is mapped: a warning, and other owners cannot be set', { skip: !haveAlpine && 'no Alpine data' }, async () => {
  const bin = join(userTempDir(), 'bin');
  mkdirSync(bin);
  const user = testUser();
  if (!user.self) chownSync(bin, user.uid, user.gid);
  for (const tool of ['unshare', 'setpriv', 'mount', 'umount', 'chroot', 'tar', 'gzip', 'sh', 'qemu-aarch64-static']) symlinkSync(findTool(tool, `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`)!, join(bin, tool));
  const { outcome, stderr } = await stage(
    { lowers: [aarch64], arch: 'aarch64', network: false, commands: [['id', '-u'], ['/bin/sh', '-c', 'touch /f; chown 0:42 /f']] },
    { PATH: bin },
  );
  assert.equal(outcome.idMap, 'single');
  assert.match(stderr, /warning: .*files owned by other users will end up owned by root/);
  assert.equal(outcome.results[0]?.stdout.trim(), '0');
  assert.notEqual(outcome.results[1]?.code, 0, 'gid 42 does not exist in a single-id namespace');
});
