/**
 * The one place eib starts namespaced processes. Node cannot unshare itself
 * (it is multithreaded), so a task runs in a fresh process:
 *
 *   setpriv --pdeathsig KILL unshare --user --map-auto --map-root-user
 *     --mount --pid --fork --kill-child node entry-main.js (entry-command.ts)
 *
 * The task goes in and its outcome comes back over fd 3; stdout/stderr of
 * the task (script output) are passed through to the user's stderr. If eib
 * dies, even by SIGKILL, unshare gets SIGKILL (pdeathsig), its child — pid 1
 * of the namespace — gets SIGKILL (--kill-child), and the pid namespace and
 * its mounts end with it.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { EibError, HostError, type ExitCode } from '../errors.js';
import { SandboxError } from './errors.js';
import { planIdMap, type IdMapKind } from './idmap.js';
import { CHANNEL_FD, type OutcomeMessage, type ProgressMessage, type SerializedError, type TaskMessage } from './protocol.js';
import { SHARED_ERROR_CLASSES, type EibErrorClass, type NamespaceTask } from './task.js';
import { findTool } from '../fs/tool.js';
import { namespaceEntryCommand } from './entry-command.js';

export type { TaskContext } from './protocol.js';

const STDERR_TAIL = 4096;

export interface NamespaceOptions {
  /** 'inherit' passes eib's stdin (and its TTY) to the task; default 'ignore'. */
  stdin?: 'inherit' | 'ignore';
  /** Where the task's stdout goes: eib's stderr (default, keeps stdout clean) or eib's stdout. */
  stdout?: 'stderr' | 'inherit';
  /** Aborting kills the namespace and everything in it; the promise rejects. */
  signal?: AbortSignal;
  /** Receives the task's output instead of the terminal. */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** Receives warnings about the sandbox (default: printed to stderr). */
  onWarning?: (message: string) => void;
  /** Receives the task's progress events (TaskContext.progress), in order. */
  onProgress?: (event: unknown) => void;
  /** false: a new, empty network namespace (only a loopback device); default: the host's network. */
  network?: boolean;
}

let warnedSingleMap = false;

/** The argv that enters a new namespace, for the given id mapping. */
export function namespaceArgv(kind: IdMapKind, network = true): string[] {
  const unshare = findTool('unshare');
  if (unshare === undefined) throw new HostError('unshare was not found on PATH; install util-linux (Debian/Ubuntu: apt install util-linux)');
  const userArgs = kind === 'host-root' ? [] : kind === 'subordinate' ? ['--user', '--map-auto', '--map-root-user'] : ['--user', '--map-root-user'];
  const argv = [unshare, ...userArgs, '--mount', '--pid', ...(network ? [] : ['--net']), '--fork', '--kill-child'];
  // setpriv makes unshare die with eib; without it the entry still exits
  // when fd 3 closes, so nothing outlives eib for long.
  const setpriv = findTool('setpriv');
  return setpriv === undefined ? argv : [setpriv, '--pdeathsig', 'KILL', ...argv];
}

/**
 * Run `task.run(payload, ctx)` inside a new user, mount and pid namespace,
 * and resolve with its JSON result. An error thrown by the task is rethrown
 * here with the same code, exit code and message, as the same class when
 * the task lists it (NamespaceTask.errors) or is one every task may throw.
 */
export function runInNamespace<Payload, Result>(task: NamespaceTask<Payload, Result>, payload: Payload, options: NamespaceOptions = {}): Promise<Result> {
  if (!task.module.startsWith('file://')) throw new TypeError(`runInNamespace: module must be a file URL, got ${task.module}`);
  const plan = planIdMap();
  if (plan.kind === 'single' && !warnedSingleMap) {
    warnedSingleMap = true;
    (options.onWarning ?? ((m: string) => process.stderr.write(`warning: ${m}\n`)))(plan.reason ?? 'no subordinate id ranges');
  }
  const argv = [...namespaceArgv(plan.kind, options.network ?? true), ...namespaceEntryCommand()];
  const message: TaskMessage = { module: task.module, name: task.name, payload, idMap: plan.kind };

  const interactive = options.stdin === 'inherit';
  const direct = interactive && options.onOutput === undefined;
  const stdoutFd = options.stdout === 'inherit' ? 1 : 2;
  const stdio: StdioOptions = direct ? ['inherit', stdoutFd, 2, 'pipe'] : [interactive ? 'inherit' : 'ignore', 'pipe', 'pipe', 'pipe'];

  return new Promise<Result>((resolvePromise, reject) => {
    if (options.signal?.aborted) {
      reject(abortError(options.signal));
      return;
    }
    const child = spawn(argv[0]!, argv.slice(1), { stdio, env: process.env });
    const channel = child.stdio[CHANNEL_FD] as (Readable & Writable) | null;
    if (channel === null) throw new Error('runInNamespace: no channel');
    let stderrTail = '';
    let received = '';
    let aborted: Error | undefined;

    const forward = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      if (stream === 'stderr') stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL);
      if (options.onOutput) options.onOutput(chunk, stream);
      else (stream === 'stdout' && options.stdout === 'inherit' ? process.stdout : process.stderr).write(chunk);
    };
    child.stdout?.on('data', forward('stdout'));
    child.stderr?.on('data', forward('stderr'));
    // Progress lines are handed on as they arrive; the outcome is the last line.
    let outcomeLine: string | undefined;
    channel.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      let newline: number;
      while ((newline = received.indexOf('\n')) >= 0) {
        const line = received.slice(0, newline);
        received = received.slice(newline + 1);
        if (line.startsWith('{"progress":')) {
          try {
            options.onProgress?.((JSON.parse(line) as ProgressMessage).progress);
          } catch {
            // a malformed progress line only loses that event
          }
        } else if (outcomeLine === undefined) outcomeLine = line;
      }
    });
    channel.on('error', () => undefined); // the child's death is reported by 'close'
    channel.write(`${JSON.stringify(message)}\n`);

    const onAbort = (): void => {
      aborted = abortError(options.signal!);
      // unshare blocks SIGTERM/SIGINT while it waits; SIGKILL takes the
      // namespace down through --kill-child.
      child.kill('SIGKILL');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (e) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(new SandboxError('ENAMESPACE', `could not start ${argv[0]}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      channel.destroy();
      if (aborted) return reject(aborted);
      const line = outcomeLine ?? '';
      let outcome: OutcomeMessage | undefined;
      try {
        outcome = line === '' ? undefined : (JSON.parse(line) as OutcomeMessage);
      } catch {
        outcome = undefined;
      }
      if (outcome === undefined) {
        const how = signal === null ? `exited with code ${code ?? '?'}` : `was killed by ${signal}`;
        const detail = stderrTail.trim().split('\n').slice(-5).join('\n');
        return reject(
          new SandboxError(
            'ENAMESPACE',
            `the sandbox process ${how} before reporting a result${detail ? `:\n${detail}` : ''}\n` +
              'Run `eib doctor` to check user namespaces, subordinate ids and util-linux.',
          ),
        );
      }
      if (outcome.ok) return resolvePromise(outcome.value as Result);
      return reject(deserializeError(outcome.error, task.errors));
    });
  });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new EibError('EABORT', 'the sandboxed task was aborted');
}

/**
 * Rebuild a task's error outside: same code, message, exit code and data
 * fields; of the same class when `classes` (or the shared ones) has one of
 * that name, else an EibError carrying the name.
 */
export function deserializeError(s: SerializedError, classes: readonly EibErrorClass[] = []): EibError {
  const exitCode: ExitCode = s.exitCode === 2 ? 2 : 1;
  const cls = [...classes, ...SHARED_ERROR_CLASSES].find((c) => c.name === s.name);
  // EibError's own constructor, with the class's prototype: a real Error of that class.
  const e = cls === undefined ? new EibError(s.code ?? 'EFAIL', s.message, { exitCode }) : (Reflect.construct(EibError, [s.code ?? 'EFAIL', s.message, { exitCode }], cls) as EibError);
  if (s.fields !== undefined) Object.assign(e, s.fields);
  e.name = s.name;
  if (s.stack !== undefined) e.stack = `${s.stack}\n    at (inside the sandbox namespace)`;
  return e;
}
