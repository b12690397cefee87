import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { loadConfig } from '../config/load.js';

export default class Push extends BaseCommand {
  static override summary = 'Push the built image (outputs.oci, tag outputs.tag) to a registry.';
  static override description =
    'REF is host[:port]/repository[:tag]; without it, registry.ref from eib.yaml. Blobs the registry already has are not sent again. ' +
    'Credentials come from docker login / podman login (~/.docker/config.json, REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json).';

  static override examples = ['<%= config.bin %> push', '<%= config.bin %> push registry.example.com/team/rootfs:v1', '<%= config.bin %> push localhost:5000/demo --json'];
  static override args = { ref: Args.string({ description: 'Where to push: host[:port]/repository[:tag].', required: false }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parseWithOutput(Push);
    const { describeProgress, pushConfiguredImage } = await import('../remote/push-config.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const interrupt = this.interruptSignal();
    const result = await pushConfiguredImage(config, {
      ref: args.ref,
      signal: interrupt.signal,
      onProgress: (event) => {
        const line = describeProgress(event);
        if (line !== undefined) this.out.info(line);
      },
    }).finally(() => interrupt.dispose());
    const referrers = result.referrers.length === 0 ? '' : ` with ${result.referrers.length} referrer${result.referrers.length === 1 ? '' : 's'} (SBOM)`;
    this.out.result(result, `pushed ${result.ref}@${result.digest}${referrers}`);
  }
}
