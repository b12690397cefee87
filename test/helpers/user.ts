/**
 * Rootless behaviour is tested as an unprivileged user. When the suite runs
 * as root (as CI does), this creates one idempotently, with subordinate id
 * ranges, and makes the checkout reachable by it. As a normal user the
 * suite uses that user itself.
 */
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEST_USER = 'eib-test';
/** Repository root (dist/test/helpers → three levels up). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SHARED_ALPINE = resolve(REPO_ROOT, '..', 'shared', 'alpine');

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** True when the suite itself runs as this user (not root). */
  self: boolean;
}

let cached: TestUser | undefined;

function hasRange(file: string, name: string): boolean {
  try {
    return readFileSync(file, 'utf8').split('\n').some((l) => l.startsWith(`${name}:`));
  } catch {
    return false;
  }
}

/** Make every ancestor of `path` traversable by others, so the test user can reach it. */
function openPath(path: string): void {
  let p = resolve(path);
  while (true) {
    const st = statSync(p);
    if ((st.mode & 0o001) === 0) chmodSync(p, st.mode | 0o005);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
}

export function testUser(): TestUser {
  if (cached) return cached;
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) {
    const name = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
    cached = { name, uid, gid: process.getgid?.() ?? uid, home: process.env['HOME'] ?? tmpdir(), self: true };
    return cached;
  }
  try {
    execFileSync('id', ['-u', TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', TEST_USER], { stdio: 'ignore' });
  }
  if (!hasRange('/etc/subuid', TEST_USER)) {
    execFileSync('usermod', ['--add-subuids', '300000-365535', TEST_USER], { stdio: 'ignore' });
  }
  if (!hasRange('/etc/subgid', TEST_USER)) {
    execFileSync('usermod', ['--add-subgids', '300000-365535', TEST_USER], { stdio: 'ignore' });
  }
  const id = (flag: string): number => Number(execFileSync('id', [flag, TEST_USER], { encoding: 'utf8' }).trim());
  const home = execFileSync('getent', ['passwd', TEST_USER], { encoding: 'utf8' }).trim().split(':')[5] ?? `/home/${TEST_USER}`;
  openPath(REPO_ROOT);
  try {
    openPath(SHARED_ALPINE);
  } catch {
    // shared/ may be absent on a developer machine; tests needing it skip.
  }
  cached = { name: TEST_USER, uid: id('-u'), gid: id('-g'), home, self: false };
  return cached;
}

/** A fresh temporary directory owned by the test user. */
export function userTempDir(prefix = 'eib-test-'): string {
  const user = testUser();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!user.self) chownSync(dir, user.uid, user.gid);
  return dir;
}

/** Argv prefix that runs a command as the test user (empty when we are it). */
export function asUser(): string[] {
  const user = testUser();
  return user.self ? [] : ['runuser', '-u', user.name, '--'];
}

/**
 * SIGKILL a process started with asUser() and everything under it, as a crash
 * or the OOM killer would: with runuser in front, eib is runuser's child.
 * False when there was nothing left to kill (it exited just before).
 */
export function killAsUser(child: ChildProcess): boolean {
  if (child.exitCode !== null || child.signalCode !== null) return false;
  if (asUser().length === 0) return child.kill('SIGKILL');
  const status = spawnSync('pkill', ['-KILL', '-P', String(child.pid)]).status;
  // pkill exits 1 when nothing matched: the process exited between the check above and the kill.
  if (status === 1) return false;
  if (status !== 0) throw new Error(`pkill -KILL -P ${child.pid} exited with ${status}`);
  return true;
}
