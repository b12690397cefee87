/**
 * Host programs the sandbox calls (unshare, mount, chroot, …): finding them
 * on PATH, and running one to completion with its stderr kept for the error.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';

/** Absolute path of `name` on `searchPath` (default $PATH), or undefined. */
export function findTool(name: string, searchPath: string = process.env['PATH'] ?? ''): string | undefined {
  if (isAbsolute(name)) return isExecutable(name) ? name : undefined;
  for (const dir of searchPath.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a short host command with piped output; never throws on a non-zero exit. */
export function runTool(argv: readonly string[], options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ToolResult> {
  return new Promise((resolvePromise, reject) => {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new TypeError('runTool: empty argv');
    const child = spawn(cmd, args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(options.cwd === undefined ? {} : { cwd: options.cwd }), ...(options.env === undefined ? {} : { env: options.env }) });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code: code ?? exitCodeOfSignal(signal), stdout, stderr }));
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a command that does not read its input
      child.stdin.end(options.input);
    }
  });
}

/** Shell convention: a process killed by signal n exits with 128 + n. */
export function exitCodeOfSignal(signal: NodeJS.Signals | null): number {
  if (signal === null) return 1;
  return 128 + (osConstants.signals[signal] ?? 0);
}
