import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { ALPINE_ARCHES, type AlpineArch } from '../config/types.js';

export default class Init extends BaseCommand {
  static override summary = 'Write a commented starter project: eib.yaml, an overlay, a script, a .gitignore.';
  static override description =
    'Writes into DIR (default: the current folder) an eib.yaml on an official Alpine release with base, configure and prune stages, ' +
    'an example overlay and chroot script, and a .gitignore for the outputs. Never overwrites: when any of these files exists, nothing is written. ' +
    '--name and --arch are written into eib.yaml; edit it afterwards.';
  static override examples = ['<%= config.bin %> init', '<%= config.bin %> init sensor-gw --arch armv7', '<%= config.bin %> init . --name gateway'];
  static override args = {
    dir: Args.string({ description: 'Project folder (created when absent).', default: '.' }),
  };
  static override flags = {
    name: Flags.string({ summary: 'Image name (default: from the folder name).' }),
    arch: Flags.string({ summary: 'Target arch (default aarch64).', options: [...ALPINE_ARCHES] }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parseWithOutput(Init);
    const { initProject } = await import('../project/init.js');
    const result = await initProject({
      dir: args.dir,
      ...(flags.name === undefined ? {} : { name: flags.name }),
      ...(flags.arch === undefined ? {} : { arch: flags.arch as AlpineArch }),
    });
    const next = args.dir === '.' ? '' : `cd ${args.dir} && `;
    this.out.result(result, [`wrote the ${result.arch} project "${result.name}" in ${result.dir}:`, ...result.files.map((f) => `  ${f}`), `next: ${next}eib build`].join('\n'));
  }
}
