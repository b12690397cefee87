/**
 * Advisory file locks (flock(2)) between eib processes. Node cannot call
 * flock itself, so eib opens the lock file and hands that descriptor to a
 * short `flock N` child (util-linux), which locks it and exits: a flock
 * lock belongs to the open file, which eib's descriptor keeps open. So the
 * lock is held by eib itself and released when eib closes the descriptor,
 * exits or is SIGKILLed: there are no stale locks to guess about, across
 * pid namespaces too, and no process to keep for a held lock.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EibError, HostError } from '../errors.js';

export interface HeldLock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** Called once when the lock is taken by someone else and eib starts waiting. */
  onWait?: () => void;
  signal?: AbortSignal;
}

/** flock's exit code when -n finds the lock taken (chosen to differ from its own errors). */
const CONFLICT = 75;

/** Take a shared or exclusive lock on `path` (created when absent), waiting for it if needed. */
export async function acquireLock(path: string, mode: 'shared' | 'exclusive', options: LockOptions = {}): Promise<HeldLock> {
  await mkdir(dirname(path), { recursive: true });
  const now = await attempt(path, mode, false, options.signal);
  if (now !== undefined) return now;
  options.onWait?.();
  const later = await attempt(path, mode, true, options.signal);
  if (later === undefined) throw new EibError('ELOCK', `could not lock ${path}`);
  return later;
}

/** The lock if it is free now; undefined when another process holds it (nobody waits). */
export async function tryLock(path: string, mode: 'shared' | 'exclusive'): Promise<HeldLock | undefined> {
  await mkdir(dirname(path), { recursive: true });
  return attempt(path, mode, false);
}

/** One flock child on eib's descriptor of `path`: the held lock, or undefined when `wait` is false and the lock is taken. */
function attempt(path: string, mode: 'shared' | 'exclusive', wait: boolean, signal?: AbortSignal): Promise<HeldLock | undefined> {
  signal?.throwIfAborted();
  // A plain descriptor, not a FileHandle: one dropped by mistake would be closed (and the lock lost) by the garbage collector.
  const fd = openSync(path, 'a'); // created when absent
  const args = [mode === 'shared' ? '-s' : '-x', ...(wait ? [] : ['-n', '-E', String(CONFLICT)]), '3'];
  // Its own session: a Ctrl-C meant for eib must not stop a wait that eib ends itself.
  const child = spawn('flock', args, { stdio: ['ignore', 'ignore', 'pipe', fd], detached: true });
  return new Promise((resolve, reject) => {
    let stderr = '';
    let settled = false;
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      closeSync(fd);
      reject(e);
    };
    const onAbort = (): void => {
      child.kill('SIGKILL');
      fail(signal?.reason instanceof Error ? signal.reason : new EibError('EINTERRUPTED', 'interrupted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (e: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      fail(e.code === 'ENOENT' ? new HostError('flock (util-linux) is not installed; install util-linux', { cause: e }) : e);
    });
    child.once('close', (code) => {
      signal?.removeEventListener('abort', onAbort);
      if (settled) return;
      if (code === 0) {
        settled = true;
        return resolve(holder(fd));
      }
      if (code === CONFLICT) {
        settled = true;
        closeSync(fd);
        return resolve(undefined);
      }
      fail(new EibError('ELOCK', `could not lock ${path}: flock exited with code ${String(code)}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

function holder(fd: number): HeldLock {
  let released = false;
  return {
    release: () => {
      if (!released) {
        released = true;
        closeSync(fd);
      }
      return Promise.resolve();
    },
  };
}
