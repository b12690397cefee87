import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { loadConfig } from '../config/load.js';
import { ALPINE_ARCHES } from '../config/types.js';

const SIGNAL_EXIT = { SIGINT: 130, SIGHUP: 129, SIGTERM: 143 } as const;

export default class Boot extends BaseCommand {
  static override summary = 'Boot the built image in a virtual machine (qemu-system), as a regular user.';
  static override description =
    'With boot.test in eib.yaml, runs the test inside the booted system and exits with its exit code (boot.timeout bounds the run). ' +
    'Without it the boot is interactive: the terminal is the serial console; power off the guest, or press Ctrl-A X, to leave. ' +
    'The kernel is the image\'s /boot/vmlinuz-*, else boot.kernel; the root filesystem is the image as an initramfs.';
  static override examples = ['<%= config.bin %> boot', '<%= config.bin %> boot base', '<%= config.bin %> boot --json'];
  static override args = { stage: Args.string({ description: 'Boot the image as it stood after this stage (default: the last).', required: false }) };
  static override flags = {
    arch: Flags.string({ summary: 'Which arch, when eib.yaml builds several.', options: [...ALPINE_ARCHES] }),
    log: Flags.string({ summary: 'Console log file (default: boot-<arch>.log beside the OCI layout).' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parseWithOutput(Boot);
    const { bootImage } = await import('../boot/boot.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const result = await bootImage(config, {
      ...(args.stage === undefined ? {} : { stage: args.stage }),
      ...(flags.arch === undefined ? {} : { arch: flags.arch as (typeof ALPINE_ARCHES)[number] }),
      ...(flags.log === undefined ? {} : { log: flags.log }),
      onStart: (s) =>
        this.out.info(`booting the ${s.arch} image (stage ${s.stage}) with ${s.kernel} in ${s.qemu} (${s.accel})${s.mode === 'interactive' ? '; Ctrl-A X leaves' : ''}; console log: ${s.log}`),
      onTestOutput: (line) => this.out.info(line),
    });
    if (result.interrupted !== undefined) {
      this.out.error(`interrupted (${result.interrupted}): the machine was stopped`);
      this.exit(SIGNAL_EXIT[result.interrupted]);
    }
    const summary = result.mode === 'test' ? `test exited with ${result.exitCode} (booted in ${result.bootSeconds?.toFixed(1) ?? '?'} s); console log: ${result.log}` : `machine stopped; console log: ${result.log}`;
    this.out.result(result, summary);
    if (result.exitCode !== 0) this.exit(result.exitCode);
  }
}
