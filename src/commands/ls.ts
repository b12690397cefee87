import { BaseCommand } from '../cli/base-command.js';
import { formatBytes } from '../fs/byte-size.js';
import { loadConfig } from '../config/load.js';

export default class Ls extends BaseCommand {
  static override summary = 'List cached checkpoints: stage, arch, cache key, layer size, age.';

  async run(): Promise<void> {
    const { flags } = await this.parseWithOutput(Ls);
    const { listCheckpoints } = await import('../pipeline/inspect.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const rows = await listCheckpoints(config);
    const now = Date.now();
    const lines = rows.map((r) => {
      const age = Math.max(0, Math.round((now - Date.parse(r.created)) / 60000));
      const mark = r.inImage ? '*' : ' ';
      return `${mark} ${r.stage.padEnd(16)} ${r.arch.padEnd(8)} ${r.key.slice(0, 12)}  ${formatBytes(r.size).padStart(9)}  ${age < 60 ? `${age}m` : `${Math.round(age / 60)}h`} ago`;
    });
    this.out.result(rows, rows.length === 0 ? 'no checkpoints cached' : `  ${'STAGE'.padEnd(16)} ${'ARCH'.padEnd(8)} KEY           ${'SIZE'.padStart(9)}  AGE\n${lines.join('\n')}\n(* = used by the image tagged ${config.outputs.tag})`);
  }
}
