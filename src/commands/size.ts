import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { ALPINE_ARCHES } from '../config/types.js';
import { loadConfig } from '../config/load.js';
import { formatBytes } from '../fs/byte-size.js';
import type { ImageSize, SizeEntry } from '../inspect/size.js';

function table(title: string, rows: readonly SizeEntry[]): string[] {
  if (rows.length === 0) return [];
  const width = Math.max(...rows.map((r) => formatBytes(r.bytes).length));
  return [title, ...rows.map((r) => `  ${formatBytes(r.bytes).padStart(width)}  ${r.name}${r.version ? ` ${r.version}` : ''}`)];
}

function sizeText(s: ImageSize): string {
  return [
    `${s.arch} rootfs up to stage ${s.stage}: ${formatBytes(s.total)} (${s.total} bytes) in ${s.files} files`,
    ...table('largest packages:', s.packages),
    ...table('largest paths:', s.paths),
  ].join('\n');
}

export default class Size extends BaseCommand {
  static override summary = 'List the largest packages and paths of the built image, from its layers.';
  static override description =
    'Sizes are the bytes of regular files in the flattened root filesystem (each hardlinked file once), read from the layers of the last `eib build`: a package counts its files as they are in the image (removed files do not count).';

  static override examples = ['<%= config.bin %> size', '<%= config.bin %> size base --top 20', '<%= config.bin %> size --json'];
  static override args = { stage: Args.string({ description: 'Measure the image as it stood after this stage (default: the last).', required: false }) };
  static override flags = {
    arch: Flags.string({ summary: 'Which arch, when eib.yaml builds several.', options: [...ALPINE_ARCHES] }),
    top: Flags.integer({ summary: 'How many packages and paths to list.', default: 10, min: 1 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parseWithOutput(Size);
    const { imageSize } = await import('../inspect/image-size.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const result = await imageSize(config, {
      top: flags.top,
      ...(args.stage === undefined ? {} : { stage: args.stage }),
      ...(flags.arch === undefined ? {} : { arch: flags.arch as (typeof ALPINE_ARCHES)[number] }),
    });
    this.out.result(result, sizeText(result));
  }
}
