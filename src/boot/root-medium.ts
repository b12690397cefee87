/**
 * The root filesystem the machine boots: the seam between what eib boots
 * and how it is attached. A RootMedium is qemu arguments plus the kernel
 * arguments that find it.
 *
 * Today's medium is the image as an initramfs (cpio newc, gzip), the
 * choice that boots the most images: a kernel unpacks it into RAM with
 * no driver at all, while booting from a disk needs the kernel's block
 * and filesystem drivers built in — Debian's arm64 kernel has virtio-blk
 * and ext4 as modules, so it cannot mount a disk without an initramfs of
 * its own modules. A disk medium (a partitioned image from `eib export`)
 * would be a RootMedium with `-drive file=…,if=virtio,format=raw` and
 * `root=/dev/vda2 rootwait`, for kernels that have those drivers (like
 * Alpine's linux-virt with its own initramfs); bootImage takes any
 * RootMedium from its `root` option.
 */
import type { Writable } from 'node:stream';
import { streamInitramfs, type InitramfsSource } from '../export/initramfs.js';
import type { TarScan } from '../export/cpio.js';
import { PassedFiles } from './passed-files.js';

export interface RootMedium {
  /** What it is, for messages and --json ("initramfs", "disk"). */
  kind: 'initramfs' | 'disk';
  /** qemu arguments that attach it. */
  qemuArgs: string[];
  /** Kernel arguments it needs (the init to run, the root device). */
  kernelArgs: string[];
}

export interface InitramfsMediumOptions {
  source: InitramfsSource;
  /** From scanImage over the same layers. */
  scan: TarScan;
  files: PassedFiles;
  /** Gzip cpio archives appended after the image's (test mode's init). */
  extra?: Buffer;
  /** PID 1 (rdinit=); the kernel's default is /init. */
  init?: string;
  /** Also copy this file of the image (a cpio name) to `sink` while writing: the image's own kernel. */
  tap?: { name: string; sink: Writable };
}

/** The image as an initramfs, in an anonymous file passed to qemu as -initrd. */
export async function initramfsMedium(o: InitramfsMediumOptions): Promise<RootMedium> {
  const { handle, path } = await o.files.create('initramfs');
  const out = PassedFiles.appender(handle);
  const tap = o.tap === undefined ? undefined : { name: o.tap.name, sink: (chunk: Buffer) => void o.tap!.sink.write(chunk) };
  await streamInitramfs(o.source, out, { scan: o.scan, gzip: true, ...(tap === undefined ? {} : { tap }) });
  if (o.extra !== undefined) await handle.write(o.extra, 0, o.extra.length, null);
  return { kind: 'initramfs', qemuArgs: ['-initrd', path], kernelArgs: o.init === undefined ? [] : [`rdinit=${o.init}`] };
}
