/** Errors of the sandbox: entering the namespace, mounting, running commands. */
import { EibError } from '../errors.js';

export type SandboxErrorCode =
  /** The namespace could not be entered, or its entry process died without an answer. */
  | 'ENAMESPACE'
  /** A mount or unmount inside the namespace failed. */
  | 'EMOUNT'
  /** A command could not be started (missing binary, bad rootfs). */
  | 'EEXEC';

export class SandboxError extends EibError<SandboxErrorCode> {
  constructor(code: SandboxErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
