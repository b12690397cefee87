import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { loadConfig } from '../config/load.js';

export default class Sbom extends BaseCommand {
  static override summary = 'Print the SPDX 2.3 SBOM of the last build (JSON on stdout).';
  static override description =
    'The SBOM lists every apk package installed in the image, with its license, supplier, origin, checksum and dependencies. ' +
    'It is kept in the OCI layout as a referrer of the image manifest (artifactType application/spdx+json); when the build has none yet, it is made and attached first.';

  static override examples = ['<%= config.bin %> sbom > demo.spdx.json', '<%= config.bin %> sbom --arch x86_64'];
  static override flags = { arch: Flags.string({ summary: 'Which arch of a multi-arch build (an Alpine arch name).' }) };

  async run(): Promise<void> {
    const { flags } = await this.parseWithOutput(Sbom);
    const { configuredSbom } = await import('../sbom/attach.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const attached = await configuredSbom(config, {
      ...(flags.arch === undefined ? {} : { arch: flags.arch }),
      onWarning: (message) => this.out.warn(message),
    });
    this.out.info(`SBOM of ${attached.subject.digest} (${attached.arch}): referrer ${attached.descriptor.digest}`);
    process.stdout.write(attached.bytes);
  }
}
