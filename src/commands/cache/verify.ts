import { BaseCommand } from '../../cli/base-command.js';
import { loadConfig } from '../../config/load.js';

export default class CacheVerify extends BaseCommand {
  static override summary = 'Re-hash cached blobs and the image layout, compare snapshots with their layers, and drop what is damaged.';
  static override description = 'The next eib build redoes exactly the stages whose checkpoints were dropped and puts whole blobs back into the layout. Waits for running builds, exports and shells, like eib gc.';

  async run(): Promise<void> {
    const { flags } = await this.parseWithOutput(CacheVerify);
    const { verifyCache } = await import('../../pipeline/cache-verify.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const r = await verifyCache(config, { onWait: (m) => this.out.info(m) });
    for (const d of r.dropped) this.out.info(`dropped ${d.path}: ${d.reason}`);
    const summary = `checked ${r.blobsChecked} blobs and ${r.checkpointsChecked} checkpoints; ${r.dropped.length === 0 ? 'nothing is damaged' : `dropped ${r.dropped.length} damaged (run eib build to redo them)`}`;
    this.out.result(r, summary);
  }
}
