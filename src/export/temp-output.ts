/**
 * An output file written under a temporary name beside its target and
 * renamed over it at the end, so the target is either the old file or the
 * whole new one. The temporary file is removed on failure, and also when
 * eib is interrupted (SIGINT, SIGTERM, SIGHUP) while it is being written;
 * one a SIGKILL left behind is removed by the next write of the same target.
 */
import { rmSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EibError } from '../errors.js';
import { processAlive } from '../store/cache-lock.js';
import { publishFile, tempPathBeside } from '../fs/atomic-write.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class TempOutput {
  readonly target: string;
  readonly path: string;
  private readonly onSignal: (signal: NodeJS.Signals) => void;
  private done = false;

  private constructor(target: string) {
    this.target = target;
    this.path = tempPathBeside(target);
    this.onSignal = (signal) => {
      rmSync(this.path, { force: true });
      this.detach();
      // Die of the same signal, as if no handler had been installed.
      process.kill(process.pid, signal);
    };
    for (const s of SIGNALS) process.once(s, this.onSignal);
  }

  /** Reserve a temporary name beside `target` (its folder is created); temporary files of killed eib processes for it are removed. */
  static async create(target: string): Promise<TempOutput> {
    const abs = resolve(target);
    await mkdir(dirname(abs), { recursive: true });
    await removeStaleTemps(abs);
    return new TempOutput(abs);
  }

  /** fsync the temporary file and rename it over the target. */
  async commit(): Promise<void> {
    await publishFile(this.path, this.target);
    this.detach();
  }

  /** Remove the temporary file; harmless after commit. */
  async discard(): Promise<void> {
    if (!this.done) await rm(this.path, { force: true });
    this.detach();
  }

  private detach(): void {
    this.done = true;
    for (const s of SIGNALS) process.off(s, this.onSignal);
  }
}

/** Run `write` against a TempOutput for `target`, committing on success and discarding on failure. */
export async function writeAtomically<T>(target: string, write: (tmp: string) => Promise<T>): Promise<T> {
  const out = await TempOutput.create(target);
  try {
    const result = await write(out.path);
    await out.commit();
    return result;
  } catch (e) {
    await out.discard();
    if (isDiskFull(e)) throw new EibError('ENOSPC', `no space left on the device of ${dirname(out.target)} to write ${out.target}; the previous file there is unchanged: free space there and export again`, { cause: e });
    throw e;
  }
}

/** ENOSPC from node's own writes, or a tool (mke2fs, tar) that reported it on stderr. */
function isDiskFull(e: unknown): boolean {
  if (e instanceof EibError && e.code === 'ENOSPC') return false;
  const err = e as { code?: unknown; message?: unknown };
  return err.code === 'ENOSPC' || (typeof err.message === 'string' && /No space left on device/i.test(err.message));
}

/** Temporary files beside `target` (tempPathBeside names them .<name>.<pid>-<hex>.tmp) whose process is gone: a SIGKILL left them. */
async function removeStaleTemps(target: string): Promise<void> {
  const prefix = `.${basename(target)}.`;
  const names = await readdir(dirname(target)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)-[0-9a-f]+\.tmp$/.exec(name.slice(prefix.length));
    if (m && !processAlive(Number(m[1]))) await rm(join(dirname(target), name), { force: true });
  }
}
