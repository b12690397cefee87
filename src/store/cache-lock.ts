/**
 * Builds and gc share one cache. A build holds a shared lock (a file named
 * after its pid in <cache>/locks); gc takes the exclusive one, which is only
 * granted while no live build holds a lock, and builds wait for no gc. Locks
 * of processes that died (SIGKILL, power loss) are stale and ignored.
 */
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EibError } from '../errors.js';

export class CacheBusyError extends EibError<'ECACHEBUSY'> {
  constructor(message: string) {
    super('ECACHEBUSY', message);
  }
}

export interface CacheLock {
  release(): Promise<void>;
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

/** Live holders of `kind` locks other than this process. */
async function holders(dir: string, kind: 'build' | 'gc'): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const name of names) {
    const m = /^(build|gc)-(\d+)$/.exec(name);
    if (!m || m[1] !== kind) continue;
    const pid = Number(m[2]);
    if (pid === process.pid) continue;
    if (processAlive(pid)) pids.push(pid);
    else await rm(join(dir, name), { force: true });
  }
  return pids;
}

async function take(dir: string, kind: 'build' | 'gc'): Promise<CacheLock> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${kind}-${process.pid}`);
  await (await open(path, 'w')).close();
  return { release: () => rm(path, { force: true }) };
}

/** Shared lock for a build; fails while a gc runs on the same cache. */
export async function lockForBuild(cacheDir: string): Promise<CacheLock> {
  const dir = join(cacheDir, 'locks');
  const lock = await take(dir, 'build');
  const gc = await holders(dir, 'gc');
  if (gc.length > 0) {
    await lock.release();
    throw new CacheBusyError(`eib gc (pid ${gc.join(', ')}) is cleaning ${cacheDir}; build again when it has finished`);
  }
  return lock;
}

/** Exclusive lock for gc; fails while a build uses the same cache. */
export async function lockForGc(cacheDir: string): Promise<CacheLock> {
  const dir = join(cacheDir, 'locks');
  const lock = await take(dir, 'gc');
  const builds = await holders(dir, 'build');
  const others = await holders(dir, 'gc');
  if (builds.length > 0 || others.length > 0) {
    await lock.release();
    const who = builds.length > 0 ? `a build (pid ${builds.join(', ')})` : `another gc (pid ${others.join(', ')})`;
    throw new CacheBusyError(`${who} is using ${cacheDir}; run eib gc when it has finished`);
  }
  return lock;
}
