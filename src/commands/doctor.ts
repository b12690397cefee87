import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { loadConfig } from '../config/load.js';
import { ALPINE_ARCHES, type AlpineArch } from '../config/types.js';
import { isEibError } from '../errors.js';

export default class Doctor extends BaseCommand {
  static override summary = 'Check that this host can build images without root.';
  static override description =
    'Checks the kernel, user namespaces, subordinate ids, overlayfs, binfmt_misc, qemu for each arch (of --arch, else of eib.yaml, else aarch64), mke2fs, qemu-system for eib boot, and the tools of squashfs, erofs and disk image outputs. Exits 1 when a build would fail.';
  static override flags = {
    arch: Flags.string({ summary: 'Arch to check emulation for (repeatable).', multiple: true, options: [...ALPINE_ARCHES] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parseWithOutput(Doctor);
    const arches = (flags.arch as AlpineArch[] | undefined) ?? (await this.configArches(flags.config));
    const { bootChecks } = await import('../boot/doctor.js');
    const { imageToolChecks } = await import('../export/image-tools.js');
    const { formatDoctorReport, runDoctor } = await import('../sandbox/doctor.js');
    const report = await runDoctor({ arches, extra: [...bootChecks(arches), ...imageToolChecks()] });
    this.out.result(report, formatDoctorReport(report));
    if (!report.ok) this.exit(1);
  }

  /** The arches of eib.yaml when there is one; aarch64 otherwise. */
  private async configArches(flag: string | undefined): Promise<AlpineArch[]> {
    const path = this.configPath(flag);
    try {
      return [...(await loadConfig({ path, cwd: process.cwd() })).arch];
    } catch (e) {
      if (path !== undefined) throw e;
      if (!(isEibError(e) && e.code === 'ENOCONFIG')) this.out.warn(`${(e as Error).message.split('\n')[0] ?? ''}; checking aarch64`);
      return ['aarch64'];
    }
  }
}
