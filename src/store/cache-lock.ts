/**
 * Many eib processes share one cache. Every command that reads snapshots or
 * scratch space of the cache (build, export, shell) holds the cache's shared
 * lock; gc takes it exclusively, so it waits for them and they wait for it,
 * each with a message saying for what. A stage is built under a lock of its
 * own cache key: a second build of the same stage waits for the first and
 * reuses its checkpoint instead of building it again. The locks are flock(2)
 * locks (file-lock.ts): the kernel drops them when a process dies, so a
 * killed eib never leaves a lock behind.
 */
import { join } from 'node:path';
import { acquireLock, tryLock, type HeldLock } from './file-lock.js';

export type { HeldLock } from './file-lock.js';

export interface WaitOptions {
  /** Told once, when eib has to wait, what it waits for. */
  onWait?: (message: string) => void;
  signal?: AbortSignal;
}

/** Whether a process with this pid exists (EPERM: it does, but is not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const cacheLockPath = (cacheDir: string): string => join(cacheDir, 'locks', 'cache');

function waiting(options: WaitOptions, message: string): { onWait?: () => void; signal?: AbortSignal } {
  return { onWait: () => options.onWait?.(message), ...(options.signal ? { signal: options.signal } : {}) };
}

/** Shared use of the cache (build, export, shell): waits while eib gc runs. */
export function lockCacheShared(cacheDir: string, options: WaitOptions = {}): Promise<HeldLock> {
  return acquireLock(cacheLockPath(cacheDir), 'shared', waiting(options, `waiting for eib gc to finish with ${cacheDir}`));
}

/** Exclusive use of the cache (gc): waits until no other eib process uses it. */
export function lockCacheExclusive(cacheDir: string, options: WaitOptions = {}): Promise<HeldLock> {
  return acquireLock(cacheLockPath(cacheDir), 'exclusive', waiting(options, `waiting for the other eib processes using ${cacheDir} (builds, exports, shells) to finish`));
}

/** Exclusive use of the cache if no other eib process uses it right now; undefined otherwise. */
export function tryLockCacheExclusive(cacheDir: string): Promise<HeldLock | undefined> {
  return tryLock(cacheLockPath(cacheDir), 'exclusive');
}

/** The right to build the stage with cache key `key`; `stage` names it in the wait message. */
export function lockStage(cacheDir: string, key: string, stage: string, options: WaitOptions = {}): Promise<HeldLock> {
  return acquireLock(stageLockPath(cacheDir, key), 'exclusive', waiting(options, `stage ${stage}: another eib process is building it; waiting to reuse its checkpoint`));
}

/** Lock files of stages (removed by gc with their checkpoints, under the exclusive lock). */
export function stageLockPath(cacheDir: string, key: string): string {
  return join(cacheDir, 'locks', 'stages', key);
}
