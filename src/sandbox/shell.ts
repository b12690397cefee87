/**
 * An interactive shell (or one command) in a stage root: for `eib shell`.
 * The root is the given lowers under a throwaway upperdir — or the given
 * one, to keep the changes — with emulation for foreign arches, and the
 * terminal passed through.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlpineArch } from '../config/types.js';
import { runInChroot } from './chroot.js';
import { ensureEmulation } from './emulation.js';
import { mountStageRoot } from './mounts.js';
import { runInNamespace } from './namespace.js';
import { namespaceTask } from './task.js';

export interface ShellOptions {
  /** Lower layers, top first. */
  lowers: string[];
  arch: AlpineArch;
  /** Run this instead of an interactive /bin/sh. */
  command?: string[];
  /** Keep the changes in this upperdir (and its work dir); default: thrown away. */
  keep?: { upper: string; work: string };
  /** Bind the host's resolv.conf (default true: a shell is for poking around). */
  network?: boolean;
}

/** Run the shell; resolves with its exit code. */
export async function openShell(options: ShellOptions): Promise<number> {
  // The terminal's Ctrl-C belongs to the shell and its commands, not to eib.
  const ignore = (): void => undefined;
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT', 'SIGTSTP'];
  for (const sig of signals) process.on(sig, ignore);
  try {
    return await runInNamespace(shellTask, options, { stdin: 'inherit', stdout: 'inherit' });
  } finally {
    for (const sig of signals) process.off(sig, ignore);
  }
}

/** The namespace side of openShell. */
async function shellInside(options: ShellOptions): Promise<number> {
  const scratch = await mkdtemp(join(tmpdir(), 'eib-shell-'));
  try {
    const upper = options.keep?.upper ?? join(scratch, 'upper');
    const work = options.keep?.work ?? join(scratch, 'work');
    const stage = await mountStageRoot({ lowers: options.lowers, upper, work, merged: join(scratch, 'merged'), network: options.network ?? true, arch: options.arch });
    try {
      await ensureEmulation(options.arch);
      const argv = options.command && options.command.length > 0 ? options.command : ['/bin/sh', '-l'];
      const r = await runInChroot(stage.root, argv, { interactive: true, stdio: 'inherit', env: { PS1: `eib(${options.arch}):\\w\\$ ` } });
      return r.code;
    } finally {
      await stage.release();
    }
  } finally {
    // Files the shell created may belong to any id of the namespace: we are root here.
    await rm(scratch, { recursive: true, force: true });
  }
}

export const shellTask = namespaceTask(import.meta.url, 'shellTask', shellInside);
