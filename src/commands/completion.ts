import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { COMPLETION_SHELLS, completionScript, type CompletionCommand, type CompletionShell } from '../cli/completion.js';
import { loadConfig } from '../config/load.js';

export default class Completion extends BaseCommand {
  static override summary = 'Print the shell completion script for bash or zsh.';
  static override description =
    'Completes commands, flags, arches and other fixed values, and stage names from ./eib.yaml (or $EIB_CONFIG). ' +
    'Load it with `source <(eib completion bash)` in ~/.bashrc, or `source <(eib completion zsh)` in ~/.zshrc after compinit.';
  static override examples = ['source <(<%= config.bin %> completion bash)', '<%= config.bin %> completion zsh > ~/.zsh/eib-completion.zsh'];
  static override args = {
    shell: Args.string({ description: 'The shell: bash or zsh.', options: [...COMPLETION_SHELLS] }),
  };
  static override flags = {
    stages: Flags.boolean({ summary: 'Print the stage names of the configuration, one a line (used by the completion script).', hidden: true, default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parseWithOutput(Completion);
    if (flags.stages) {
      const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd(), env: process.env });
      this.out.result(config.stages.map((s) => s.name), config.stages.map((s) => s.name).join('\n'));
      return;
    }
    if (args.shell === undefined) this.error('expected a shell: eib completion bash, or eib completion zsh', { exit: 2 });
    const commands: CompletionCommand[] = this.config.commands
      .filter((c) => !c.hidden)
      .map((c) => ({
        id: c.id,
        flags: Object.values(c.flags)
          .filter((f) => !f.hidden)
          .map((f) => ({ name: f.name, char: f.char, takesValue: f.type === 'option', options: f.type === 'option' ? f.options : undefined })),
        args: Object.values(c.args).map((a) => ({ name: a.name, options: a.options })),
      }));
    this.out.result({ shell: args.shell, script: completionScript(args.shell as CompletionShell, commands) }, completionScript(args.shell as CompletionShell, commands));
  }
}
