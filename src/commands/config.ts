import { BaseCommand } from '../cli/base-command.js';
import { loadConfig } from '../config/load.js';

export default class ConfigCommand extends BaseCommand {
  static override summary = 'Check the configuration file and print it as eib reads it.';
  static override description =
    'Validates eib.yaml (or --config PATH, or $EIB_CONFIG) against schemas/eib.schema.json, reports every problem as FILE:LINE:COL, ' +
    'and prints the normalized configuration: defaults filled in, paths absolute, key directories expanded, scripts resolved to files or inline shell.';

  static override examples = ['<%= config.bin %> config', '<%= config.bin %> config --json', '<%= config.bin %> config --config boards/rpi4.yaml'];

  async run(): Promise<void> {
    const { flags } = await this.parseWithOutput(ConfigCommand);
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd(), env: process.env });
    const { stringify } = await import('yaml');
    this.out.result(config, stringify(config));
  }
}
