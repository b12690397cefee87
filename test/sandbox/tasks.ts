/**
 * Task functions the sandbox tests run inside the namespace through
 * runInNamespace (see driver.ts). Each does what a build stage would.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import type { AlpineArch } from '../../src/config/types.js';
import { EibError } from '../../src/errors.js';
import { runInChroot, runOnHost, type CommandResult } from '../../src/sandbox/chroot.js';
import { ensureEmulation, type EmulationMethod } from '../../src/sandbox/emulation.js';
import { mountStageRoot } from '../../src/sandbox/mounts.js';
import { detachTrees, mountAll } from '../../src/sandbox/mount-tool.js';
import type { TaskContext } from '../../src/sandbox/protocol.js';
import { namespaceTask } from '../../src/sandbox/task.js';
import { FileConflictError } from '../../src/apk/package-error.js';

/** Extract a rootfs tarball inside the namespace, so its owners map to namespace ids. */
async function extract(payload: { tarball: string; dir: string }): Promise<{ entries: number }> {
  await mkdir(payload.dir, { recursive: true });
  const r = spawnSync('tar', ['-xzf', payload.tarball, '-C', payload.dir, '--numeric-owner'], { encoding: 'utf8' });
  if (r.status !== 0) throw new EibError('ETAR', `tar failed: ${r.stderr}`);
  return { entries: (await readdir(payload.dir)).length };
}

export interface StagePayload {
  lowers: string[];
  upper: string;
  work: string;
  merged: string;
  arch: AlpineArch;
  network: boolean;
  /** Commands run one after another in the stage root; none: the stage does nothing. */
  commands: string[][];
  /** Working directory inside the root for the commands. */
  cwd?: string;
  /** Paths (inside the root) to lstat after the commands, before release. */
  stat?: string[];
}

export interface StageOutcome {
  method?: EmulationMethod;
  idMap: string;
  results: { code: number; stdout: string; stderr: string }[];
  stats: { path: string; uid: number; gid: number; mode: number }[];
}

/** Mount a stage root, run commands in it, release it. */
async function stage(payload: StagePayload, ctx: TaskContext): Promise<StageOutcome> {
  const root = await mountStageRoot(payload);
  try {
    const method = payload.commands.length > 0 ? (await ensureEmulation(payload.arch)).method : undefined;
    const results = [];
    for (const argv of payload.commands) {
      const r = await runInChroot(root.root, argv, { stdio: 'pipe', ...(payload.cwd === undefined ? {} : { cwd: payload.cwd }) });
      results.push({ code: r.code, stdout: r.stdout ?? '', stderr: r.stderr ?? '' });
    }
    const stats = [];
    for (const path of payload.stat ?? []) {
      const st = await lstat(`${root.root}${path}`);
      stats.push({ path, uid: st.uid, gid: st.gid, mode: st.mode });
    }
    return { ...(method === undefined ? {} : { method }), idMap: ctx.idMap, results, stats };
  } finally {
    await root.release();
  }
}

/** lstat paths inside the namespace (owners as the namespace sees them). */
async function statPaths(payload: { paths: string[] }): Promise<{ path: string; uid: number; gid: number }[]> {
  const out = [];
  for (const path of payload.paths) {
    const st = await lstat(path);
    out.push({ path, uid: st.uid, gid: st.gid });
  }
  return out;
}

/** Fails the way a stage step fails. */
async function fail(payload: { code: string; exitCode: 1 | 2 }): Promise<never> {
  throw new EibError(payload.code, `task failed on purpose with ${payload.code}`, { exitCode: payload.exitCode });
}

/** A host-run script: runOnHost inside the namespace. */
async function hostRun(payload: { argv: string[]; env: Record<string, string>; cwd: string }): Promise<CommandResult> {
  return runOnHost(payload.argv, { env: payload.env, cwd: payload.cwd, stdio: 'pipe' });
}

/**
 * Two mounts in one batch, the second of a filesystem type that does not
 * exist: what mountAll reports, and whether the first stayed mounted.
 */
async function mountBatch(payload: { dir: string }): Promise<{ message: string; firstMounted: boolean }> {
  const first = join(payload.dir, 'first');
  const second = join(payload.dir, 'second');
  await mkdir(first);
  await mkdir(second);
  let message = '';
  try {
    await mountAll([
      { args: ['-t', 'tmpfs', 'tmpfs', first], what: 'the first tmpfs' },
      { args: ['-t', 'eib-no-such-fs', 'none', second], what: 'the second mount' },
    ]);
  } catch (e) {
    message = (e as Error).message;
  }
  const firstMounted = (await lstat(first)).dev !== (await lstat(payload.dir)).dev;
  await detachTrees([first]);
  return { message, firstMounted };
}

export const mountBatchTask = namespaceTask(import.meta.url, 'mountBatchTask', mountBatch);
export const extractTask = namespaceTask(import.meta.url, 'extractTask', extract);
export const stageTask = namespaceTask(import.meta.url, 'stageTask', stage);
export const statPathsTask = namespaceTask(import.meta.url, 'statPathsTask', statPaths);
export const failTask = namespaceTask(import.meta.url, 'failTask', fail);
export const hostRunTask = namespaceTask(import.meta.url, 'hostRunTask', hostRun);

/** Throws a typed error with data fields, which the task lists so it crosses as its class. */
async function conflict(payload: { path: string }): Promise<never> {
  throw new FileConflictError('busybox-1.36.1-r29', payload.path, ['coreutils-9.5-r1']);
}
export const conflictTask = namespaceTask(import.meta.url, 'conflictTask', conflict, { errors: [FileConflictError] });
/** The same, unlisted: it crosses as a plain EibError with the name, code and fields. */
export const unlistedConflictTask = namespaceTask(import.meta.url, 'unlistedConflictTask', conflict);
