import { EibError } from '../errors.js';

export type LayerErrorCode = 'ELAYERPATH' | 'ELAYERFORMAT' | 'ELAYERLINK' | 'ELAYERREAD' | 'EXATTR';

/** A layer that cannot be written from a tree, or read back, safely. */
export class LayerError extends EibError<LayerErrorCode> {
  constructor(code: LayerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
