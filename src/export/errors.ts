/** Errors of `eib export`, beyond the shared UsageError and HostError. */
import { EibError } from '../errors.js';

export type ExportErrorCode =
  /** The ext4 size asked for cannot hold the image. */
  | 'EEXT4SIZE'
  /** mke2fs or debugfs failed on an image eib prepared. */
  | 'EEXT4'
  /** The flattened rootfs could not be materialized as a tree. */
  | 'EMATERIALIZE'
  /** mksquashfs failed, or the tree holds what it cannot take. */
  | 'ESQUASHFS'
  /** mkfs.erofs failed, or the tree holds what erofs cannot get rootless (device nodes). */
  | 'EEROFS'
  /** A disk image could not be assembled (a tool failed, a partition's content does not fit). */
  | 'EDISK'
  /** A value of the image does not fit the cpio newc format, or the tar stream is inconsistent. */
  | 'ECPIO';

export class ExportError extends EibError<ExportErrorCode> {
  constructor(code: ExportErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
