/**
 * `eib shell`: the rootfs as a stage of the last build left it, mounted
 * from the checkpoint snapshots with a throwaway upper layer.
 */
import { join } from 'node:path';
import type { AlpineArch, Config } from '../config/types.js';
import { EibError, UsageError } from '../errors.js';
import { openShell } from '../sandbox/shell.js';
import { CheckpointStore } from '../store/checkpoints.js';
import { readBuiltImage, type BuiltImage } from '../store/built-image.js';
import { lockCacheShared } from '../store/cache-lock.js';
import { chooseArch } from '../config/choose-arch.js';

export interface ShellOptions {
  stage?: string;
  arch?: AlpineArch;
  command: string[];
  keep: boolean;
  /** Told when the shell has to wait for eib gc to finish with the cache. */
  onWait?: (message: string) => void;
}

export async function openStageShell(config: Config, options: ShellOptions): Promise<{ code: number; kept?: string }> {
  const arch = chooseArch(config, options.arch);
  const stageName = options.stage ?? config.stages[config.stages.length - 1]!.name;
  const index = config.stages.findIndex((s) => s.name === stageName);
  if (index < 0) {
    throw new UsageError(`no stage named ${stageName}; stages: ${config.stages.map((s) => s.name).join(', ')}`);
  }
  const image = await readBuiltImage(config, arch);
  // The snapshots stay mounted while the shell runs: eib gc must wait for it.
  const lock = await lockCacheShared(config.cache.dir, options.onWait ? { onWait: options.onWait } : {});
  try {
    return await shellOver(config, image, index, arch, options);
  } finally {
    await lock.release();
  }
}

async function shellOver(config: Config, image: BuiltImage, index: number, arch: AlpineArch, options: ShellOptions): Promise<{ code: number; kept?: string }> {
  const checkpoints = new CheckpointStore(config.cache.dir);
  const lowers: string[] = [];
  for (const s of image.stages.slice(0, index + 1)) {
    const cp = await checkpoints.read(s.key);
    if (!cp) throw new EibError('ENOCHECKPOINT', `stage ${s.name}: its checkpoint is no longer cached; run eib build`);
    lowers.unshift(checkpoints.snapshotPath(s.key));
  }
  let keep: { upper: string; work: string } | undefined;
  let kept: string | undefined;
  if (options.keep) {
    const dir = await checkpoints.scratchDir();
    keep = { upper: join(dir, 'upper'), work: join(dir, 'work') };
    kept = keep.upper;
  }
  const code = await openShell({ lowers, arch, ...(options.command.length > 0 ? { command: options.command } : {}), ...(keep ? { keep } : {}) });
  return { code, ...(kept ? { kept } : {}) };
}
