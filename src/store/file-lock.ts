/**
 * Advisory file locks (flock(2)) between eib processes. Node cannot call
 * flock itself, so a small `flock FILE cat` child (util-linux) holds the
 * lock for us: cat starts once the lock is granted and echoes the byte we
 * sent, and it exits when its stdin closes. The kernel drops the lock when
 * that child exits, so a lock is released when eib releases it, exits or is
 * SIGKILLed (its end of the pipe closes): there are no stale locks to guess
 * about, across pid namespaces too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
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
  await (await open(path, 'a')).close();
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
  await (await open(path, 'a')).close();
  return attempt(path, mode, false);
}

/** One flock child: the held lock, or undefined when `wait` is false and the lock is taken. */
function attempt(path: string, mode: 'shared' | 'exclusive', wait: boolean, signal?: AbortSignal): Promise<HeldLock | undefined> {
  signal?.throwIfAborted();
  const args = [mode === 'shared' ? '-s' : '-x', ...(wait ? [] : ['-n', '-E', String(CONFLICT)]), path, 'cat'];
  // Its own session: a Ctrl-C meant for eib must not release the lock before eib has cleaned up.
  const child = spawn('flock', args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  return new Promise((resolve, reject) => {
    let stderr = '';
    let granted = false;
    const onAbort = (): void => {
      child.kill('SIGKILL');
      reject(signal?.reason instanceof Error ? signal.reason : new EibError('EINTERRUPTED', 'interrupted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout!.once('data', () => {
      granted = true;
      signal?.removeEventListener('abort', onAbort);
      // A held lock must not keep eib alive: if eib exits without releasing it, the pipe closes and so does the lock.
      child.unref();
      for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
      resolve(holder(child));
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      reject(e.code === 'ENOENT' ? new HostError('flock (util-linux) is not installed; install util-linux', { cause: e }) : e);
    });
    child.once('exit', (code) => {
      if (granted) return;
      signal?.removeEventListener('abort', onAbort);
      if (code === CONFLICT) resolve(undefined);
      else reject(new EibError('ELOCK', `could not lock ${path}: flock exited with code ${String(code)}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.write('\n');
  });
}

function holder(child: ChildProcess): HeldLock {
  let released: Promise<void> | undefined;
  return {
    release: () => {
      released ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.ref();
        child.once('exit', () => resolve());
        child.stdin!.end();
      });
      return released;
    },
  };
}
