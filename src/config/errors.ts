/** Errors of finding and reading the configuration file itself. */
import { EibError } from '../errors.js';

/** No configuration file where one was expected, or it cannot be read. Exit code 2. */
export class ConfigFileError extends EibError<'ENOCONFIG' | 'ECONFIGREAD'> {
  /** The path as the user gave it (or the default eib.yaml). */
  readonly path: string;

  constructor(code: 'ENOCONFIG' | 'ECONFIGREAD', path: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { ...options, exitCode: 2 });
    this.path = path;
  }
}
