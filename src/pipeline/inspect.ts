/** Listing the checkpoint cache for `eib ls`. */
import type { Config } from '../config/types.js';
import { CheckpointStore } from '../store/checkpoints.js';
import { imageStageKeys } from '../store/built-image.js';

export interface CheckpointRow {
  stage: string;
  arch: string;
  key: string;
  size: number;
  created: string;
  /** Used by the image currently tagged in the project's layout. */
  inImage: boolean;
}

export async function listCheckpoints(config: Config): Promise<CheckpointRow[]> {
  const inImage = new Set(await imageStageKeys(config));
  const records = await new CheckpointStore(config.cache.dir).list();
  return records
    .map((cp) => ({ stage: cp.stage, arch: cp.arch, key: cp.key, size: cp.layer?.size ?? 0, created: cp.created, inImage: inImage.has(cp.key) }))
    .sort((a, b) => a.created.localeCompare(b.created));
}
