/**
 * One stage, run inside the namespace (see sandbox/runInNamespace): mount
 * the stage root over the earlier snapshots, run the steps in their fixed
 * order (packages, files, host-run, run, remove), unmount, turn the
 * upperdir into a layer, and keep the upperdir as this stage's snapshot.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AlpineArch, Script, Stage } from '../config/types.js';
import { EibError } from '../errors.js';
import type { PackageInfo } from '../apk/types.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { BlobStore } from '../store/blob-store.js';
import { publishSnapshot } from '../store/snapshot-publish.js';
import { writeLayer } from '../layer/write.js';
import { installPackages } from '../apk/install.js';
import { loadKeys } from '../apk/keys.js';
import { mountStageRoot } from '../sandbox/mounts.js';
import { ensureEmulation } from '../sandbox/emulation.js';
import { runInChroot, runOnHost } from '../sandbox/chroot.js';
import type { TaskContext } from '../sandbox/protocol.js';
import { copyFiles } from './steps/files.js';
import { removePaths } from './steps/remove.js';
import { namespaceTask } from '../sandbox/task.js';
import { ApkPackageError, FileConflictError } from '../apk/package-error.js';
import { GzipError } from '../apk/gzip-members.js';
import { SignatureError } from '../apk/signature.js';

export interface StageTaskPayload {
  cacheDir: string;
  /** The config's folder: host-run scripts start there. */
  configDir: string;
  /** Where the finished upperdir goes (the snapshot of this stage; one already there is retired, never replaced in place). */
  snapshot: string;
  /** Scratch folder for upper, work and merged dirs (same filesystem as snapshot). */
  scratch: string;
  arch: AlpineArch;
  /** Snapshots of the earlier stages, top (latest) first. */
  lowers: string[];
  stage: Stage;
  /** Packages to install, in order, with the path of each verified-size cached .apk. */
  packages: { info: PackageInfo; path: string }[];
  /** Names of installed packages to remove first (replaced by what this stage installs). */
  remove?: string[];
  /** Repository tags of the packages pinned to a tagged repository, by name. */
  tags?: Record<string, string>;
  world: string[];
  /** What /etc/apk/repositories lists in the image (alpine.image-repositories). */
  repositories: string[];
  keys: string[];
  allowUntrusted: boolean;
  scriptsFatal: boolean;
  epoch?: number;
}

/** What a running stage reports to eib outside the namespace. */
export type StageProgress =
  | { type: 'step'; step: 'packages' | 'files' | 'host-run' | 'run' | 'remove' | 'layer' }
  | { type: 'package'; name: string; index: number; total: number };

export interface StageTaskResult {
  layer: Descriptor | null;
  diffId: Digest | null;
  steps: string[];
  warnings: string[];
}

const STEP_ENV_BASE = { LANG: 'C.UTF-8' };

async function scriptText(script: Script): Promise<string> {
  return 'inline' in script ? script.inline : readFile(script.file, 'utf8');
}

function scriptLabel(script: Script, index: number): string {
  return 'inline' in script ? `inline script ${index + 1}` : script.file;
}

async function runStageInside(payload: StageTaskPayload, ctx?: Pick<TaskContext, 'progress'>): Promise<StageTaskResult> {
  try {
    return await stageSteps(payload, (event) => ctx?.progress(event));
  } catch (e) {
    // A failed stage leaves no layer and no scratch; its files belong to
    // subordinate ids, so only the namespace can remove them.
    await rm(payload.scratch, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
}

async function stageSteps(payload: StageTaskPayload, report: (event: StageProgress) => void): Promise<StageTaskResult> {
  const { stage, arch } = payload;
  const upper = join(payload.scratch, 'upper');
  const work = join(payload.scratch, 'work');
  const merged = join(payload.scratch, 'merged');
  await Promise.all([upper, work, merged].map((d) => mkdir(d, { recursive: true })));
  const env: Record<string, string> = { ...STEP_ENV_BASE, ...stage.env };
  if (payload.epoch !== undefined) env['SOURCE_DATE_EPOCH'] = String(payload.epoch);
  const steps: string[] = [];
  const warnings: string[] = [];

  const mounted = await mountStageRoot({ lowers: payload.lowers, upper, work, merged, network: stage.network, arch });
  try {
    // Scripts run in `root` (with /proc, /sys, /dev); files are written
    // through `files`, so what packages ship below those mounts stays.
    const { root, files } = mounted;
    const remove = payload.remove ?? [];
    const needsChroot = payload.packages.length > 0 || remove.length > 0 || stage.run.length > 0;
    if (needsChroot) await ensureEmulation(arch);

    if (payload.packages.length > 0 || remove.length > 0) {
      steps.push('packages');
      report({ type: 'step', step: 'packages' });
      const byName = new Map(payload.packages.map((p) => [p.info, p.path]));
      const result = await installPackages({
        root: files,
        packages: payload.packages.map((p) => p.info),
        remove,
        ...(payload.tags ? { tags: payload.tags } : {}),
        openPackage: async (pkg) => byName.get(pkg) ?? payload.packages.find((p) => p.info.name === pkg.name)!.path,
        keys: loadKeys(payload.keys),
        world: payload.world,
        repositories: payload.repositories,
        arch,
        runScript: async (req) => {
          const r = await runInChroot(root, [req.script, ...req.args], { env: req.env, stdio: 'pipe' });
          return { code: r.code, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
        },
        scriptsFatal: payload.scriptsFatal,
        allowUntrusted: payload.allowUntrusted,
        ...(payload.epoch === undefined ? {} : { epoch: payload.epoch }),
        onProgress: (e) => {
          if (e.type === 'install') report({ type: 'package', name: e.package, index: e.index, total: e.total });
        },
      });
      warnings.push(...result.warnings);
    }

    if (stage.files.length > 0) {
      steps.push('files');
      report({ type: 'step', step: 'files' });
      await copyFiles(files, stage.files);
    }

    for (const [i, script] of stage.hostRun.entries()) {
      if (i === 0) {
        steps.push('host-run');
        report({ type: 'step', step: 'host-run' });
      }
      const argv = 'inline' in script ? ['/bin/sh', '-ec', script.inline] : ['/bin/sh', '-e', script.file];
      const r = await runOnHost(argv, { env: { ...env, ROOTFS: files }, cwd: payload.configDir });
      if (r.code !== 0) {
        throw new EibError('ESTEP', `host-run ${scriptLabel(script, i)} exited with code ${r.code}`);
      }
    }

    for (const [i, script] of stage.run.entries()) {
      if (i === 0) {
        steps.push('run');
        report({ type: 'step', step: 'run' });
      }
      const r = await runInChroot(root, ['/bin/sh', '-ec', await scriptText(script)], { env, stdio: 'inherit' });
      if (r.code !== 0) {
        throw new EibError('ESTEP', `run ${scriptLabel(script, i)} exited with code ${r.code} (in the ${arch} chroot)`);
      }
    }

    if (stage.remove.length > 0) {
      steps.push('remove');
      report({ type: 'step', step: 'remove' });
      await removePaths(files, stage.remove);
    }
  } finally {
    await mounted.release();
  }

  report({ type: 'step', step: 'layer' });
  const store = new BlobStore(payload.cacheDir);
  const layer = await writeLayer(store, {
    dir: upper,
    kind: 'upperdir',
    lowers: payload.lowers,
    ...(payload.epoch === undefined ? {} : { epoch: payload.epoch }),
  });
  await publishSnapshot(upper, payload.snapshot);
  await rm(payload.scratch, { recursive: true, force: true });
  const empty = layer.entries === 0;
  return { layer: empty ? null : layer.descriptor, diffId: empty ? null : layer.diffId, steps, warnings };
}

export const stageTask = namespaceTask(import.meta.url, 'stageTask', runStageInside, { errors: [ApkPackageError, FileConflictError, SignatureError, GzipError] });
