import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { loadConfig } from '../config/load.js';
import { lockPackages } from '../pipeline/lock-command.js';

export default class Lock extends BaseCommand {
  static override summary = 'Resolve the packages of every stage and arch and write eib.lock.json.';
  static override description = 'Builds install exactly what the lock pins. Without --update, pins that still resolve are kept.';
  static override flags = {
    update: Flags.boolean({ summary: 'Resolve everything again from the repositories.', default: false }),
    offline: Flags.boolean({ summary: 'Use only cached repository indexes.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parseWithOutput(Lock);
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const result = await lockPackages(config, { update: flags.update, offline: flags.offline, warn: (m) => this.out.warn(m) });
    const counts = Object.entries(result.lock.arches).map(([arch, stages]) => `${arch}: ${Object.values(stages).reduce((n, s) => n + s.length, 0)} packages`);
    this.out.result(result.lock, `wrote ${result.path} (${counts.join(', ')})`);
  }
}
