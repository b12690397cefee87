/** Errors of `eib boot`, beyond the shared UsageError and HostError. */
import { EibError, type ExitCode } from '../errors.js';

export type BootErrorCode =
  /** No kernel: the image has no /boot/vmlinuz-* and boot.kernel is not set. */
  | 'EBOOTKERNEL'
  /** The machine did not finish the test within boot.timeout. */
  | 'EBOOTTIMEOUT'
  /** The machine stopped before the test reported its exit code (kernel panic, no init, no shell). */
  | 'EBOOTSTOPPED'
  /** qemu could not be started or failed. */
  | 'EQEMU';

export class BootError extends EibError<BootErrorCode> {
  constructor(code: BootErrorCode, message: string, options: { cause?: unknown; exitCode?: ExitCode } = {}) {
    super(code, message, options);
  }
}
