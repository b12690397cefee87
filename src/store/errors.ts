import { EibError } from '../errors.js';

export type StoreErrorCode = 'EBLOBMISSING' | 'ELAYOUT' | 'ETAGMISSING';

/** A blob store or OCI layout that lacks something or is malformed. */
export class StoreError extends EibError<StoreErrorCode> {
  constructor(code: StoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
