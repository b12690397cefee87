/**
 * Running host programs (mount, tar, setfattr, mke2fs, …): the one helper
 * that finds a tool, feeds its input, collects its output within a cap, and
 * turns a failure into a typed error. Programs that take over the terminal
 * or stream their output to the caller (the sandbox's unshare and chroot,
 * getfattr's tree listing) spawn their own process but share
 * `missingToolError` and `exitCodeOfSignal`.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import { Readable } from 'node:stream';
import { EibError, HostError, ToolError } from '../errors.js';

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

/** Shell convention: a process killed by signal n exits with 128 + n. */
export function exitCodeOfSignal(signal: NodeJS.Signals | null): number {
  if (signal === null) return 1;
  return 128 + (osConstants.signals[signal] ?? 0);
}

/** The error for a program that is not installed, naming the Debian package that has it. */
export function missingToolError(tool: string, debianPackage: string | undefined, cause?: unknown): HostError {
  const name = basename(tool);
  const fix = debianPackage === undefined ? 'install it' : `install the Debian package '${debianPackage}' (scripts/setup-host.sh)`;
  return new HostError(`${name} is not installed: ${fix}`, { cause });
}

export interface ToolOptions {
  cwd?: string;
  /** The whole environment (default: eib's own, with LC_ALL=C so messages are in English). */
  env?: NodeJS.ProcessEnv;
  /** Standard input: text, bytes, or chunks streamed in (large dumps never sit in one string). */
  input?: string | Buffer | Iterable<Buffer> | AsyncIterable<Buffer>;
  /** The Debian package named when the program is missing. */
  debianPackage?: string;
  /** Most bytes of standard output kept (default 64 MiB); a program printing more fails with ETOOL. */
  maxStdout?: number;
}

export interface ToolResult {
  /** Exit status, or 128 + n when killed by signal n. */
  code: number;
  stdout: string;
  /** The last STDERR_KEPT bytes of standard error: where programs put the reason they failed. */
  stderr: string;
}

const STDERR_KEPT = 64 * 1024;
const DEFAULT_MAX_STDOUT = 64 * 1024 * 1024;

/** Run a program to completion. A non-zero exit is a result, not an error; a missing program is a HostError. */
export function runTool(argv: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new TypeError('runTool: empty argv');
  const maxStdout = options.maxStdout ?? DEFAULT_MAX_STDOUT;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: options.env ?? { ...process.env, LC_ALL: 'C' },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let overflow = false;
    let stderr = Buffer.alloc(0);
    child.stdout!.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > maxStdout) {
        if (!overflow) child.kill('SIGKILL');
        overflow = true;
        return;
      }
      out.push(d);
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr = Buffer.concat([stderr, d]);
      if (stderr.length > STDERR_KEPT) stderr = stderr.subarray(stderr.length - STDERR_KEPT);
    });
    child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? missingToolError(cmd, options.debianPackage, e) : e));
    child.on('close', (code, signal) => {
      if (overflow) {
        reject(new ToolError(`${basename(cmd)} printed more than ${maxStdout} bytes; eib stopped it`));
        return;
      }
      resolve({ code: code ?? exitCodeOfSignal(signal), stdout: Buffer.concat(out).toString('utf8'), stderr: stderr.toString('utf8') });
    });
    if (child.stdin && options.input !== undefined) {
      child.stdin.on('error', () => undefined); // a program that stops reading reports through its exit status
      const input = options.input;
      if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
      else Readable.from(input).pipe(child.stdin);
    }
  });
}

export interface CheckedToolOptions extends ToolOptions {
  /** What the program was doing, for the message: "setting extended attributes of /x". */
  doing: string;
  /** The typed error to throw for a non-zero exit (default ToolError); `message` already names the tool and its stderr. */
  error?: (message: string, result: ToolResult) => EibError;
}

/** Run a program that must succeed; a non-zero exit becomes a typed error ending with the program's stderr. */
export async function runToolChecked(argv: readonly string[], options: CheckedToolOptions): Promise<ToolResult> {
  const result = await runTool(argv, options);
  if (result.code === 0) return result;
  const name = basename(argv[0] ?? '');
  const said = tailLines(result.stderr, 5) || `${name} printed nothing`;
  const message = `${options.doing} failed (${name} exit ${result.code}): ${said}`;
  throw options.error ? options.error(message, result) : new ToolError(message);
}

/** The last `count` non-empty lines of a program's output. */
export function tailLines(text: string, count: number): string {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-count)
    .join('\n')
    .trim();
}
