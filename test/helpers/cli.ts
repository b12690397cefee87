/** Runs the built eib CLI as the unprivileged test user and captures the result. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, asUser, testUser } from './user.js';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

export const EIB_BIN = join(REPO_ROOT, 'bin', 'run.js');

export function runEib(args: string[], options: RunOptions): Promise<RunResult> {
  const user = testUser();
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    NO_COLOR: '1',
    XDG_CACHE_HOME: join(options.cwd, '.cache'),
    ...options.env,
  };
  const argv = [...asUser(), 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, EIB_BIN, ...args];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
