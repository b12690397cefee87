/**
 * Interrupted builds leave nothing behind. While a stage runs (a script
 * that sleeps): SIGINT and SIGTERM stop eib promptly with exit 130 and 143,
 * its stage scratch removed; after a SIGKILL of the whole process tree the
 * next build removes what the killed one left in the cache and succeeds,
 * and an export removes a temporary output a killed export left beside its
 * target.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EIB_BIN, runEib, type RunResult } from '../helpers/cli.js';
import { demoProject, waitForFile } from '../helpers/demo-project.js';
import { asUser, SHARED_ALPINE, testUser, killAsUser } from '../helpers/user.js';

const skip = !existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main', 'x86_64', 'APKINDEX.tar.gz')) && 'shared/alpine not present';

const SLOW = 'echo demo-device > /etc/hostname; touch /started; sleep 60';

/** `eib build` as the test user, signalled once its configure stage is running. */
async function interruptedBuild(dir: string, signal: NodeJS.Signals): Promise<RunResult> {
  const user = testUser();
  const env = ['env', '-i', `PATH=${process.env['PATH']}`, `HOME=${user.home}`, 'NO_COLOR=1', `XDG_CACHE_HOME=${join(dir, '.cache')}`];
  const argv = [...asUser(), ...env, process.execPath, EIB_BIN, 'build'];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('close', (code, sig) => r({ code, signal: sig })));
  await waitForFile(join(dir, '.cache', 'eib', 'tmp'), 'started');
  // The signal goes to eib itself (runuser's child when the suite runs as root, as a terminal or
  // service manager would send it); SIGKILL to every process of eib's tree, as the OOM killer would.
  const eib = asUser().length > 0 ? Number(execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim().split('\n')[0]) : child.pid!;
  if (signal === 'SIGKILL') killAsUser(child);
  else process.kill(eib, signal);
  const { code, signal: by } = await closed;
  return { code, signal: by, stdout: '', stderr };
}

const tmpEntries = (dir: string): string[] => readdirSync(join(dir, '.cache', 'eib', 'tmp'));

test('SIGINT and SIGTERM exit 130 and 143 having cleaned up; after a SIGKILL the next build and export remove the leftovers', { skip, timeout: 300_000 }, async () => {
  const dir = demoProject((y) => y.replace(/^arch: aarch64$/m, 'arch: x86_64').replace('echo demo-device > /etc/hostname', SLOW), 'eib-interrupt-');
  for (const [signal, exit] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const r = await interruptedBuild(dir, signal);
    assert.equal(r.code, exit, `${signal}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`interrupted by ${signal}`));
    assert.deepEqual(tmpEntries(dir), [], `${signal}: the stage's scratch was removed`);
  }

  await interruptedBuild(dir, 'SIGKILL');
  assert.ok(tmpEntries(dir).length > 0, 'the killed build left its scratch');
  writeFileSync(join(dir, 'eib.yaml'), readFileSync(join(dir, 'eib.yaml'), 'utf8').replace(SLOW, 'echo demo-device > /etc/hostname'));
  const built = await runEib(['build'], { cwd: dir });
  assert.equal(built.code, 0, built.stderr);
  assert.deepEqual(tmpEntries(dir), [], 'the next build removed what the killed one left');

  // A temporary output of an export killed mid-write (its pid is gone), beside the target.
  const stale = join(dir, '.rootfs.tar.999999999-0123456789ab.tmp');
  writeFileSync(stale, 'half an export');
  const exported = await runEib(['export', 'rootfs.tar'], { cwd: dir });
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(existsSync(stale), false, 'the next export removed the stale temporary output');
});
