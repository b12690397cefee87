import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { loadConfig } from '../config/load.js';
import { ALPINE_ARCHES } from '../config/types.js';

export default class Shell extends BaseCommand {
  static override summary = 'Open a shell (or run a command) in the rootfs as a stage left it.';
  static override description = 'Runs in the build namespace, emulated when the arch is foreign. Changes are thrown away unless --keep is given.';
  static override examples = ['<%= config.bin %> shell', '<%= config.bin %> shell configure', '<%= config.bin %> shell base -- apk info'];
  static override strict = false;
  static override args = {
    stage: Args.string({ description: 'Stage name (default: the last stage).', required: false }),
  };
  static override flags = {
    arch: Flags.string({ summary: 'Arch of a multi-arch build.', options: [...ALPINE_ARCHES] }),
    keep: Flags.boolean({ summary: 'Keep the changes made in the shell in a folder and print its path.', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parseWithOutput(Shell);
    const { openStageShell } = await import('../pipeline/shell.js');
    const dashes = this.argv.indexOf('--');
    const command = dashes >= 0 ? this.argv.slice(dashes + 1) : [];
    const stage = dashes >= 0 && this.argv.indexOf(args.stage ?? '') > dashes ? undefined : args.stage;
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const result = await openStageShell(config, {
      ...(stage ? { stage } : {}),
      ...(flags.arch ? { arch: flags.arch as (typeof ALPINE_ARCHES)[number] } : {}),
      command,
      keep: flags.keep,
      onWait: (m) => this.out.info(m),
    });
    if (result.kept) this.out.info(`changes kept in ${result.kept}`);
    this.exit(result.code);
  }
}
