import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { ALPINE_ARCHES } from '../config/types.js';
import { loadConfig } from '../config/load.js';

export default class Diff extends BaseCommand {
  static override summary = 'Show what changed between two images: packages, then files per stage.';
  static override description =
    'A and B are tags of the project\'s OCI layout (like latest or latest.previous), oci:DIR[:TAG], or registry references host[:port]/repository[:tag]. ' +
    'Without B, B is the last build; without either, A is the build before it. Files of packages that changed are summed up in the package lines.';

  static override examples = ['<%= config.bin %> diff', '<%= config.bin %> diff latest.previous latest', '<%= config.bin %> diff registry.example.com/team/rootfs:v1.2 --json'];
  static override args = {
    a: Args.string({ description: 'The older image (default: the build before the last).', required: false }),
    b: Args.string({ description: 'The newer image (default: the last build).', required: false }),
  };

  static override flags = {
    arch: Flags.string({ summary: 'Which arch, when eib.yaml builds several.', options: [...ALPINE_ARCHES] }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parseWithOutput(Diff);
    const { chooseArch } = await import('../config/choose-arch.js');
    const { diffCommand, diffText } = await import('../inspect/diff.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const arch = chooseArch(config, flags.arch);
    const result = await diffCommand(config, { arch, ...(args.a === undefined ? {} : { a: args.a }), ...(args.b === undefined ? {} : { b: args.b }) });
    this.out.result(result, diffText(result));
  }
}
