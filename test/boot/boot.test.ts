/**
 * eib boot end to end, as the unprivileged user: the demo image, built
 * once, boots Debian's arm64 kernel (unpacked by scripts/setup-host.sh)
 * in qemu-system-aarch64 under TCG from its initramfs. A passing test,
 * a failing one, one that hangs past boot.timeout and one whose eib is
 * killed: each gives the right exit code and leaves no qemu process and
 * no temporary file behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EIB_BIN, runEib } from '../helpers/cli.js';
import { demoProject } from '../helpers/demo-project.js';
import { SHARED_ALPINE, asUser, testUser } from '../helpers/user.js';

export const DEBIAN_KERNEL = '/var/cache/eib-test/linux-arm64/vmlinuz';
const haveShared = existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main', 'aarch64', 'APKINDEX.tar.gz'));
const haveQemu = existsSync('/usr/bin/qemu-system-aarch64');
const skip = (!haveShared && 'shared/alpine not present') || (!existsSync(DEBIAN_KERNEL) && `${DEBIAN_KERNEL} missing: run scripts/setup-host.sh`) || (!haveQemu && 'qemu-system-aarch64 missing');

const PASSING_TEST = [
  'test "$(hostname)" = demo-device',
  'id operator',
  'test ! -e /etc/motd',
  "grep -q ' /proc proc ' /proc/mounts",
  "grep -q ' /sys sysfs ' /proc/mounts",
  "grep -q ' /dev devtmpfs ' /proc/mounts",
  'echo "the demo image boots: $(uname -m)"',
];

/** The demo project, built once for every test of this file. */
let project: Promise<string> | undefined;
function builtDemo(): Promise<string> {
  project ??= (async () => {
    const dir = demoProject((y) => y, 'eib-boot-');
    const r = await runEib(['build', '-q'], { cwd: dir, timeoutMs: 600_000 });
    assert.equal(r.code, 0, r.stderr);
    return dir;
  })();
  return project;
}

/** A config beside the demo's eib.yaml (same image) with this boot section. */
function bootConfig(dir: string, name: string, timeout: number, script: string[]): string {
  const yaml = readFileSync(join(dir, 'eib.yaml'), 'utf8');
  const body = script.map((l) => `    ${l}`).join('\n');
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `${yaml}boot:\n  kernel: ${DEBIAN_KERNEL}\n  timeout: ${timeout}\n  test: |\n${body}\n`);
  const user = testUser();
  if (!user.self) chownSync(file, user.uid, user.gid);
  return file;
}

function processesMentioning(text: string): string[] {
  const out = execFileSync('sh', ['-c', 'ps -eo pid=,args= || true'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(text) && !l.includes('ps -eo'));
}

async function until(what: string, check: () => boolean, attempts = 150): Promise<void> {
  for (let i = 0; i < attempts && !check(); i++) await new Promise((r) => setTimeout(r, 200));
  assert.ok(check(), what);
}

function bootTempFiles(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('.eib-boot-'));
}

test('the demo image boots Debian\'s arm64 kernel under TCG and passes its boot.test', { skip, timeout: 600_000 }, async () => {
  const dir = await builtDemo();
  const config = bootConfig(dir, 'pass', 120, PASSING_TEST);
  const r = await runEib(['boot', '--config', config, '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { exitCode: number; mode: string; bootSeconds: number; log: string; kernel: { from: string }; machine: { accel: string }; root: string };
  assert.equal(result.exitCode, 0);
  assert.equal(result.mode, 'test');
  assert.equal(result.kernel.from, 'config');
  assert.equal(result.machine.accel, 'tcg');
  assert.equal(result.root, 'initramfs');
  assert.ok(result.bootSeconds > 0);
  assert.match(r.stderr, /the demo image boots: aarch64/, 'the test\'s output is shown');
  const log = readFileSync(result.log, 'utf8');
  assert.match(log, /Booting Linux on physical CPU/, 'the console log has the kernel\'s messages');
  assert.match(log, /the demo image boots: aarch64/);
  assert.deepEqual(processesMentioning(result.log), [], 'no qemu left');
  assert.deepEqual(bootTempFiles(), []);
});

test('a failing boot.test gives its exit code; a hanging one is stopped at boot.timeout', { skip, timeout: 600_000 }, async () => {
  const dir = await builtDemo();
  const failing = await runEib(['boot', '--config', bootConfig(dir, 'fail', 120, ['echo checking', 'exit 7'])], { cwd: dir });
  assert.equal(failing.code, 7, failing.stderr);
  assert.match(failing.stdout, /test exited with 7/);

  const log = join(dir, 'hang.log');
  // boot.timeout bounds the whole run, kernel start included: under TCG on a loaded machine the kernel alone
  // has taken 12 s, so whether the script started by then varies; the message and the console lines do not.
  const hanging = await runEib(['boot', '--config', bootConfig(dir, 'hang', 20, ['echo waiting forever', 'sleep 100000']), '--log', log], { cwd: dir });
  assert.equal(hanging.code, 1, hanging.stderr);
  assert.match(hanging.stderr, /error: the test did not finish within boot\.timeout \(20 s\); the machine was stopped/);
  assert.match(hanging.stderr, /last console lines:\n {2}\| /, 'the last console lines are shown');
  assert.deepEqual(processesMentioning(log), [], 'no qemu left');
  assert.deepEqual(bootTempFiles(), []);
});

test('eib boot killed with SIGKILL takes its machine with it', { skip, timeout: 600_000 }, async () => {
  const dir = await builtDemo();
  const log = join(dir, 'killed.log');
  const config = bootConfig(dir, 'killed', 300, ['echo test running', 'sleep 100000']);
  const argv = [...asUser(), 'env', `XDG_CACHE_HOME=${join(dir, '.cache')}`, process.execPath, EIB_BIN, 'boot', '--config', config, '--log', log];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: 'ignore' });
  const closed = new Promise((r) => child.on('close', r));
  await until('the test started in the machine', () => existsSync(log) && readFileSync(log, 'utf8').includes('test running'), 600);
  try {
    // runuser's command line names eib too: the node process is the one that starts with node.
    const eib = processesMentioning(`${EIB_BIN} boot --config ${config}`)
      .map((l) => l.trim().split(/\s+/))
      .filter((args) => args[1] === process.execPath)
      .map((args) => Number(args[0]));
    assert.equal(eib.length, 1, 'found eib');
    assert.equal(processesMentioning(`logfile=${log}`).length, 1, 'qemu runs');
    process.kill(eib[0]!, 'SIGKILL');
    await closed;
  } finally {
    child.kill('SIGKILL');
  }
  await until('qemu died with eib', () => processesMentioning(`logfile=${log}`).length === 0);
  assert.deepEqual(bootTempFiles(), []);
});
