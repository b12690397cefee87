import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { ALPINE_ARCHES } from '../config/types.js';
import { loadConfig } from '../config/load.js';
import { formatBytes } from '../fs/byte-size.js';

export default class Export extends BaseCommand {
  static override summary = 'Write the built image as a rootfs tar (.tar, .tar.gz), an ext4 image (.ext4, .img), a squashfs (.squashfs, .sqfs) or erofs (.erofs) image, or an initramfs (.cpio.gz, .cpio).';
  static override description =
    'The format comes from PATH\'s extension. The image is that of the last `eib build`, with every stage or up to --stage. ' +
    'Filesystem images are made without root, owners and modes kept; with SOURCE_DATE_EPOCH (or epoch in eib.yaml) two exports of one image are byte-identical.';

  static override examples = ['<%= config.bin %> export rootfs.tar.gz', '<%= config.bin %> export rootfs.ext4 --size 256M --label rootfs', '<%= config.bin %> export base.tar --stage base', '<%= config.bin %> export rootfs.squashfs'];
  static override args = { path: Args.string({ description: 'File to write: .tar, .tar.gz, .tgz, .ext4, .img, .squashfs, .sqfs, .erofs, .cpio.gz or .cpio.', required: true }) };
  static override flags = {
    stage: Flags.string({ summary: 'Export the image as it stood after this stage.' }),
    arch: Flags.string({ summary: 'Which arch, when eib.yaml builds several.', options: [...ALPINE_ARCHES] }),
    size: Flags.string({ summary: 'ext4 image size, e.g. 512M or 2G (default: content plus room to spare).' }),
    label: Flags.string({ summary: 'ext4 filesystem label (up to 16 bytes).' }),
    uuid: Flags.string({ summary: 'ext4 filesystem UUID (default: derived from the image with an epoch, else random).' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parseWithOutput(Export);
    const { exportImage } = await import('../export/export.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const interrupt = this.interruptSignal();
    const result = await exportImage(config, {
      path: args.path,
      signal: interrupt.signal,
      ...(flags.stage === undefined ? {} : { stage: flags.stage }),
      ...(flags.arch === undefined ? {} : { arch: flags.arch as (typeof ALPINE_ARCHES)[number] }),
      ...(flags.size === undefined ? {} : { size: flags.size }),
      ...(flags.label === undefined ? {} : { label: flags.label }),
      ...(flags.uuid === undefined ? {} : { uuid: flags.uuid }),
      onWait: (m) => this.out.info(m),
      onProgress: (e) => (e.phase === 'start' ? this.out.info(`exporting ${e.arch} image up to stage ${e.stage} (${e.layers} layers) as ${e.format}`) : undefined),
    }).finally(() => interrupt.dispose());
    if (result.cpio !== undefined && result.cpio.droppedXattrs > 0) {
      this.out.warn(`${result.cpio.droppedXattrs} file(s) have extended attributes (file capabilities, user.*) that a cpio initramfs cannot hold; they are left out`);
    }
    this.out.result(result, `wrote ${result.path} (${result.format}, ${formatBytes(result.bytes)})`);
  }
}
