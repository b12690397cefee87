import { EibError } from '../errors.js';

export type SbomErrorCode = 'ENOAPKDB' | 'ELAYERTYPE' | 'EIMAGEFILE' | 'ENOSBOM';

/** An SBOM that cannot be made or found for the built image. */
export class SbomError extends EibError<SbomErrorCode> {
  constructor(code: SbomErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
