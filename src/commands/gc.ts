import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { formatBytes } from '../fs/byte-size.js';
import { loadConfig } from '../config/load.js';

export default class Gc extends BaseCommand {
  static override summary = "Remove cached checkpoints, snapshots and blobs that the project's image does not use.";
  static override flags = {
    all: Flags.boolean({ summary: 'Remove every checkpoint, including those of the current image.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parseWithOutput(Gc);
    const { collectGarbage } = await import('../pipeline/gc.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const r = await collectGarbage(config, { all: flags.all, onWait: (m) => this.out.info(m) });
    this.out.result(
      r,
      `removed ${r.checkpointsRemoved} checkpoints, ${r.blobsRemoved} blobs (${formatBytes(r.bytesFreed)}), ${r.scratchRemoved} unfinished builds; kept ${r.checkpointsKept} checkpoints`,
    );
  }
}
