/**
 * An output file written under a temporary name beside its target and
 * renamed over it at the end, so the target is either the old file or the
 * whole new one. The temporary file is removed on failure, and also when
 * eib is interrupted (SIGINT, SIGTERM, SIGHUP) while it is being written.
 */
import { rmSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
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

  /** Reserve a temporary name beside `target` (its folder is created). */
  static async create(target: string): Promise<TempOutput> {
    const abs = resolve(target);
    await mkdir(dirname(abs), { recursive: true });
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
    throw e;
  }
}
