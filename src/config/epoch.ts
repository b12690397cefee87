/**
 * The build time a reproducible build uses: the config's `epoch`, else
 * $SOURCE_DATE_EPOCH (reproducible-builds.org), else none.
 */
import type { Config } from './types.js';

export function effectiveEpoch(config: Config, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (config.epoch !== undefined) return config.epoch;
  const value = env['SOURCE_DATE_EPOCH'];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** The config with the effective epoch filled in, so every module sees one value. */
export function withEffectiveEpoch(config: Config, env: NodeJS.ProcessEnv = process.env): Config {
  const epoch = effectiveEpoch(config, env);
  return epoch === undefined || epoch === config.epoch ? config : { ...config, epoch };
}
