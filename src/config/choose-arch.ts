/**
 * Which arch a command that acts on one image (export, shell, sbom) works
 * on: the one asked for, which the config must build, or the config's only
 * arch. A multi-arch config without a choice is refused, never guessed.
 */
import { UsageError } from '../errors.js';
import type { AlpineArch, Config } from './types.js';

export function chooseArch(config: Config, wanted: string | undefined): AlpineArch {
  if (wanted !== undefined) {
    const arch = config.arch.find((a) => a === wanted);
    if (arch === undefined) throw new UsageError(`--arch ${wanted}: ${config.file} does not build for it; choose one of: ${config.arch.join(', ')}`);
    return arch;
  }
  if (config.arch.length === 1) return config.arch[0]!;
  throw new UsageError(`${config.file} builds ${config.arch.join(', ')}: choose one with --arch`);
}
