import { EibError } from '../errors.js';

export type LayerErrorCode = 'ELAYERPATH' | 'ELAYERFORMAT' | 'ELAYERLINK' | 'ELAYERREAD' | 'EXATTR';

/** A layer that cannot be written from a tree, or read back, safely. */
export class LayerError extends EibError<LayerErrorCode> {
  constructor(code: LayerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }

  /** The layer itself is malformed or tries to leave its root (not a local problem). */
  get malformed(): boolean {
    return this.code === 'ELAYERPATH' || this.code === 'ELAYERLINK' || this.code === 'ELAYERFORMAT';
  }
}

export type UnpackErrorCode = 'EDEVICE' | 'EIDMAP';

/**
 * A layer that is valid but cannot be made into a tree here: device nodes
 * need real root, owners need ids this user namespace maps. Building the
 * stage locally does not have the problem.
 */
export class UnpackError extends EibError<UnpackErrorCode> {
  constructor(code: UnpackErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/**
 * Run a chown inside eib's user namespace; EINVAL there means the owner is
 * outside the ids the namespace maps, which becomes the one message every
 * tree writer gives (`what` names the file for the user).
 */
export async function chownMapped(chown: () => void | Promise<void>, what: string, uid: number, gid: number): Promise<void> {
  try {
    await chown();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
    throw new UnpackError(
      'EIDMAP',
      `${what} is owned by ${uid}:${gid}, which eib's user namespace does not map; give your user subordinate ids (/etc/subuid and /etc/subgid) and run \`eib doctor\``,
      { cause: e },
    );
  }
}
