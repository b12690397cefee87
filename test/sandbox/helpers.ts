/** Running the sandbox test driver as the unprivileged test user. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, SHARED_ALPINE, testUser } from '../helpers/user.js';

export const DRIVER = join(REPO_ROOT, 'dist', 'test', 'sandbox', 'driver.js');
export const MINIROOTFS = (arch: 'aarch64' | 'x86_64'): string => join(SHARED_ALPINE, 'minirootfs', `alpine-minirootfs-3.20.3-${arch}.tar.gz`);

export interface DriverResult<T> {
  code: number | null;
  value?: T;
  error?: { name: string; code: string; message: string; exitCode: number; isEibError: boolean };
  stdout: string;
  stderr: string;
}

/** Argv running the driver as the test user; setpriv execs in place, so the pid is node's. */
export function driverArgv(fn: string, payload: unknown): string[] {
  const user = testUser();
  const prefix = user.self ? [] : ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--'];
  return [...prefix, process.execPath, DRIVER, fn, JSON.stringify(payload)];
}

export function startDriver(fn: string, payload: unknown, env: Record<string, string> = {}): ChildProcess {
  const argv = driverArgv(fn, payload);
  return spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: testUser().home, ...env } });
}

export function runDriver<T>(fn: string, payload: unknown, env: Record<string, string> = {}): Promise<DriverResult<T>> {
  return new Promise((resolvePromise, reject) => {
    const child = startDriver(fn, payload, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let parsed: { value?: T; error?: DriverResult<T>['error'] } = {};
      try {
        parsed = JSON.parse(last) as typeof parsed;
      } catch {
        // reported through stdout/stderr below
      }
      resolvePromise({
        code,
        ...(parsed.value === undefined ? {} : { value: parsed.value }),
        ...(parsed.error === undefined ? {} : { error: parsed.error }),
        stdout,
        stderr,
      });
    });
  });
}

/** Extract a minirootfs inside the namespace (owners map to subordinate ids). */
export async function extractRootfs(arch: 'aarch64' | 'x86_64', dir: string): Promise<void> {
  const r = await runDriver('extract', { tarball: MINIROOTFS(arch), dir });
  if (r.code !== 0) throw new Error(`extracting ${arch} minirootfs failed: ${r.stdout}${r.stderr}`);
}

/** Pids of every process whose parent chain leads to `pid` (not including it). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  for (const [p] of parent) {
    let q = parent.get(p);
    while (q !== undefined && q > 1) {
      if (q === pid) {
        out.push(p);
        break;
      }
      q = parent.get(q);
    }
  }
  return out;
}

/**
 * Live processes whose last argument is `marker` (e.g. `sleep 4242424`;
 * under qemu argv[0] becomes the emulator, so only the tail is stable).
 */
export function processesWithLastArg(marker: string): number[] {
  const want = `\0${marker}\0`;
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (cmdline.endsWith(want) && state !== 'Z') out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
